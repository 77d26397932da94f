"""Public, unlisted and private Spaces: who finds them, who gets in, on every path."""

import re

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Notification
from moderation.models import Block
from rooms import services
from rooms.models import Participant, Reminder, Room, SpaceAccess
from tests.factories import RoomFactory, ScheduledRoomFactory, UserFactory

from .live_helpers import join, open_socket, settled_ticks  # noqa: F401 (a fixture)

SECRET_TITLE = "Quarterly numbers nobody may hear"
SECRET_WORDS = "merger with the fox company"


def slug_routes() -> list[tuple[str, str]]:
    """(route name, path pattern) of every URL that takes a Space's slug, found in the URLconf
    itself, so a page added later is swept too."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and "slug" in pattern.pattern.converters:
                found.append((pattern.name, prefix + str(pattern.pattern)))

    walk(get_resolver().url_patterns)
    return found


def fill(pattern: str, slug: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?slug>", slug, pattern)


@pytest.fixture
def private(db):
    room = RoomFactory(
        title=SECRET_TITLE, description=f"About the {SECRET_WORDS}.", visibility="private"
    )
    invited = UserFactory(profile="Invited Iris")
    SpaceAccess.objects.create(room=room, user=invited, status="approved")
    return room, invited


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_sweep_finds_the_pages_of_a_space():
    names = {name for name, _ in slug_routes()}
    # A sanity floor, not the list: the sweep covers whatever the URLconf holds.
    assert {"space_public", "room_detail", "space_card", "space_calendar"} <= names


@pytest.mark.parametrize("who", ["guest", "stranger"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_slug_path_keeps_a_private_space_from_outsiders(private, who, method):
    room, _ = private
    user = UserFactory() if who == "stranger" else None
    client = client_for(user)
    before = (Participant.objects.count(), Reminder.objects.count(), room.state)
    for name, pattern in slug_routes():
        url = fill(pattern, room.slug)
        response = getattr(client, method)(url, {"action": "join", "remind": "on"})
        body = response.content.decode("utf-8", "replace")
        where = f"{method.upper()} {url} ({name}) as {who}"
        assert SECRET_TITLE not in body and SECRET_WORDS not in body, where
        if response.status_code == 302 and not response["Location"].startswith(
            reverse("account_login")
        ):
            # Asking to join leads back to the link, which must still be the private page.
            response = client.get(response["Location"])
            body = response.content.decode()
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("account_login")), where
        elif response.status_code == 403:
            assert 'data-testid="private-space"' in body, where
        else:
            assert response.status_code in (404, 405), f"{where}: {response.status_code}"
    # The oEmbed endpoint takes the link in a parameter.
    link = f"http://testserver/s/{room.slug}/"
    assert client.get(reverse("oembed"), {"url": link}).status_code == 404
    room.refresh_from_db()
    after = (Participant.objects.count(), Reminder.objects.count(), room.state)
    assert after == before


def test_a_signed_in_stranger_is_offered_to_ask_and_a_guest_to_sign_in(private):
    room, _ = private
    guest_page = client_for().get(reverse("space_public", args=[room.slug]))
    assert guest_page.status_code == 403
    assert b'data-action="sign-in"' in guest_page.content
    assert room.host.display_name.encode() in guest_page.content
    stranger_page = client_for(UserFactory()).get(reverse("room_detail", args=[room.slug]))
    assert stranger_page.status_code == 403
    assert b'data-action="ask"' in stranger_page.content
    assert b"og:image" not in stranger_page.content


def test_the_invited_person_and_the_host_get_every_page(private):
    room, invited = private
    for user in (invited, room.host):
        client = client_for(user)
        for name in ("space_public", "room_detail", "space_card", "space_calendar", "space_embed"):
            response = client.get(reverse(name, args=[room.slug]))
            assert response.status_code == 200, (name, user)
        assert client.get(reverse("space_report", args=[room.slug])).status_code == 200
        link = f"http://testserver/s/{room.slug}/"
        assert client.get(reverse("oembed"), {"url": link}).json()["title"] == SECRET_TITLE
    page = client_for(invited).get(reverse("room_detail", args=[room.slug]))
    assert SECRET_TITLE.encode() in page.content


def test_asking_to_join_tells_the_host_who_lets_them_in(private):
    room, _ = private
    asker = UserFactory(profile="Asking Ada")
    asking = client_for(asker)
    asking.post(reverse("space_ask", args=[room.slug]))
    waiting = asking.get(reverse("space_public", args=[room.slug]))
    assert b"has not answered yet" in waiting.content
    bell = Notification.objects.get(user=room.host)
    assert "Asking Ada" in bell.text and bell.url == f"/rooms/{room.slug}/"

    host = client_for(room.host)
    host_page = host.get(reverse("room_detail", args=[room.slug])).content.decode()
    assert 'data-testid="access-waiting"' in host_page and "Asking Ada" in host_page
    host.post(reverse("room_access", args=[room.slug]), {"user": asker.pk, "decision": "approve"})
    assert asking.get(reverse("room_detail", args=[room.slug])).status_code == 200
    assert Notification.objects.filter(user=asker, url=f"/rooms/{room.slug}/").exists()


def test_a_declined_request_stays_declined(private):
    room, _ = private
    asker = UserFactory()
    asking = client_for(asker)
    asking.post(reverse("space_ask", args=[room.slug]))
    client_for(room.host).post(
        reverse("room_access", args=[room.slug]), {"user": asker.pk, "decision": "decline"}
    )
    asking.post(reverse("space_ask", args=[room.slug]))
    page = asking.get(reverse("room_detail", args=[room.slug]))
    assert page.status_code == 403 and b"declined your request" in page.content
    assert SpaceAccess.objects.get(room=room, user=asker).status == "declined"


def test_the_host_lets_someone_in_by_handle_and_strangers_cannot(private):
    room, _ = private
    friend = UserFactory(username="friendly")
    stranger = UserFactory()
    url = reverse("room_access", args=[room.slug])
    client_for(stranger).post(url, {"handle": "@friendly"})
    assert not SpaceAccess.objects.filter(user=friend).exists()
    client_for(room.host).post(url, {"handle": "@Friendly"})
    assert client_for(friend).get(reverse("room_detail", args=[room.slug])).status_code == 200


def test_blocks_stop_asking_and_letting_in(private):
    room, _ = private
    blocked = UserFactory()
    Block.objects.create(blocker=room.host, blocked=blocked)
    with pytest.raises(services.ActionRefused):
        services.access_request(room=room, user=blocked)
    with pytest.raises(services.ActionRefused):
        services.access_decide(room=room, actor=room.host, user=blocked, approve=True)
    assert not SpaceAccess.objects.filter(user=blocked).exists()


def test_only_public_spaces_are_listed_and_an_unlisted_link_works_for_a_guest(db):
    public = RoomFactory(title="Out in the open")
    unlisted = RoomFactory(title="Only by the link", visibility="unlisted")
    secret = ScheduledRoomFactory(title="Behind the door", visibility="private")
    home = client_for().get(reverse("home")).content.decode()
    assert public.title in home
    assert unlisted.title not in home and secret.title not in home
    assert (
        client_for(UserFactory()).get(reverse("home")).content.decode().count("Behind the door")
        == 0
    )
    page = client_for().get(reverse("space_public", args=[unlisted.slug]))
    assert page.status_code == 200 and unlisted.title.encode() in page.content


def test_the_host_creates_a_private_space_and_makes_a_scheduled_one_private(db):
    host = UserFactory()
    client = client_for(host)
    client.post(
        reverse("room_create"),
        {"title": "Board talk", "start": "now", "visibility": "private", "timezone": "UTC"},
    )
    assert Room.objects.get(title="Board talk").visibility == "private"

    room = ScheduledRoomFactory(host=host)
    fan = UserFactory()
    services.reminder_set(room=room, user=fan)
    form = client.get(reverse("room_edit", args=[room.slug])).context["form"]
    data = {k: v for k, v in form.initial.items() if k not in ("topics", "scheduled_at")}
    data["scheduled_for"] = form.initial["scheduled_for"].strftime("%Y-%m-%dT%H:%M")
    data["visibility"] = "private"
    client.post(reverse("room_edit", args=[room.slug]), data)
    room.refresh_from_db()
    assert room.visibility == "private"
    # Someone not let in is no longer told when it starts.
    assert not Reminder.objects.filter(room=room, user=fan).exists()


def test_an_unknown_visibility_is_refused_and_changes_nothing(db):
    with pytest.raises(services.ActionRefused):
        services.room_create(host=UserFactory(), title="Odd", visibility="secret")
    assert not Room.objects.filter(title="Odd").exists()


# The room socket and audio offers.


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settled_ticks")
@pytest.mark.parametrize("who", ["guest", "stranger"])
async def test_the_socket_refuses_outsiders_of_a_private_space(who):
    room = await sync_to_async(RoomFactory)(visibility="private")
    user = await sync_to_async(UserFactory)() if who == "stranger" else None
    socket = await open_socket(room, user)
    closing = await socket.wait_for("closing")
    assert closing["code"] == "private"
    assert await socket.wait_closed() == 4403
    assert not await room.presences.aexists()
    assert not await Participant.objects.filter(room=room).exclude(user=room.host).aexists()
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settled_ticks")
async def test_someone_let_in_listens_and_once_turned_away_their_audio_offer_is_refused():
    room = await sync_to_async(RoomFactory)(visibility="private")
    invited = await sync_to_async(UserFactory)()
    await sync_to_async(services.access_decide)(
        room=room, actor=room.host, user=invited, approve=True
    )
    socket, snapshot = await join(room, invited)
    assert snapshot["you"]["role"] == "listener"
    await sync_to_async(services.access_decide)(
        room=room, actor=room.host, user=invited, approve=False
    )
    from tests.media.test_offer_shapes import offer  # an offer as a browser sends it

    await socket.send(type="rtc_offer", sdp=offer())
    error = await socket.wait_for("error", ref="rtc_offer")
    assert error["code"] == "private"
    await socket.close()
