"""The room socket answers in the language of the page that opened it: the language cookie,
then a signed-in person's last language, then the browser's Accept-Language."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.models import Profile
from rooms.live import GUEST_COOKIE, guest_cookie_value
from rooms.models import Room
from tests.factories import InviteFactory

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


async def test_a_french_host_is_told_in_french_that_the_speaker_seats_are_full(
    live_space, settings
):
    settings.SPACES_MAX_SPEAKERS = 1  # the speaker already holds the only seat
    host = await connect(live_space.room, user=live_space.host, cookies={"django_language": "fr"})
    refused = await error_for(host, type="hand_accept", user=live_space.hand.pk)
    assert refused == "Les 1 places d’intervenant sont toutes prises."
    await host.close()
    english = await connect(live_space.room, user=live_space.cohost)
    refused = await error_for(english, type="hand_accept", user=live_space.hand.pk)
    assert refused == "All 1 speaker seats are taken."
    await english.close()


async def test_a_french_listener_is_told_in_french_that_the_invite_expired(live_space):
    past = timezone.now() - timedelta(minutes=30)
    invite = await sync_to_async(InviteFactory)(
        room=live_space.room, invitee=live_space.listener, created_at=past
    )
    listener = await connect(
        live_space.room, user=live_space.listener, accept_language="fr-FR,fr;q=0.9"
    )
    refused = await error_for(listener, type="invite_accept", invite=invite.pk)
    assert refused == "Cette invitation a expiré."
    await listener.close()


async def test_a_french_guest_turned_away_is_told_why_in_french(live_space):
    await Room.objects.filter(pk=live_space.room.pk).aupdate(guests_may_listen=False)
    cookies = {GUEST_COOKIE: guest_cookie_value("guest-fr"), "django_language": "fr"}
    headers = [(b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode())]
    communicator = WebsocketCommunicator(APP, f"/ws/rooms/{live_space.room.slug}/", headers=headers)
    communicator.scope["user"] = AnonymousUser()
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    socket = Socket(communicator)
    closing = await socket.wait_for("closing")
    assert closing["code"] == "guests_off"
    assert closing["message"] == "Connectez-vous pour écouter ce Space."
    assert await socket.wait_closed() == 4403


async def test_a_close_sent_from_elsewhere_is_said_in_the_sockets_language(live_space):
    """Deactivation is decided in someone else's request; the socket says it in its own words."""
    socket = await connect(
        live_space.room, user=live_space.speaker, cookies={"django_language": "fr"}
    )

    def deactivate():
        user = type(live_space.speaker).objects.get(pk=live_space.speaker.pk)
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()
    closing = await socket.wait_for("closing")
    assert (closing["code"], closing["message"]) == ("inactive", "Ce compte a été désactivé.")
    assert await socket.wait_closed() == 4403
