"""The room socket answers in the language of the page that opened it: the language cookie,
then a signed-in person's last language, then the browser's Accept-Language."""

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from accounts.models import Profile
from rooms.live import GUEST_COOKIE, guest_cookie_value

from .live_helpers import APP, Socket, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]


async def connect(room, *, user=None, cookies=None, accept_language=None) -> Socket:
    cookies = dict(cookies or {})
    if user is None:
        cookies[GUEST_COOKIE] = guest_cookie_value("guest-fr")
    headers = [(b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode())]
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    communicator = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/", headers=headers)
    communicator.scope["user"] = user if user is not None else AnonymousUser()
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    socket = Socket(communicator)
    await socket.wait_for("snapshot")
    return socket


async def error_for(socket: Socket, **message) -> str:
    await socket.send(**message)
    return (await socket.wait_for("error"))["message"]


async def test_a_french_guest_gets_french_errors_from_the_language_cookie(live_space):
    socket = await connect(live_space.room, cookies={"django_language": "fr"})
    assert await error_for(socket, type="nope") == "Type de message inconnu."
    assert await error_for(socket, type="hand_raise") == "Connectez-vous pour faire cela."
    await socket.close()


async def test_the_browser_language_counts_when_there_is_no_cookie(live_space):
    french = await connect(live_space.room, accept_language="fr-FR,fr;q=0.9,en;q=0.5")
    assert await error_for(french, type="hand_raise") == "Connectez-vous pour faire cela."
    await french.close()
    english = await connect(live_space.room, accept_language="en-GB,en;q=0.9")
    assert await error_for(english, type="hand_raise") == "Sign in to do that."
    assert await error_for(english, type="post", text="") == "A post needs some text."
    await english.close()


async def test_a_signed_in_person_gets_their_language_and_the_cookie_wins(live_space):
    await Profile.objects.filter(user=live_space.listener).aupdate(language="fr")
    socket = await connect(live_space.room, user=live_space.listener)
    refused = await error_for(socket, type="mute", user=live_space.speaker.pk, muted=True)
    assert refused == "Seuls l’hôte et les co-hôtes peuvent faire cela."
    await socket.close()
    switched = await connect(
        live_space.room, user=live_space.listener, cookies={"django_language": "en"}
    )
    refused = await error_for(switched, type="mute", user=live_space.speaker.pk, muted=True)
    assert refused == "Only the host and co-hosts can do that."
    await switched.close()
