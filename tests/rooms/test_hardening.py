"""What an attacker on the room socket cannot do: keep powers after a suspension, a sign-out, a
password change or a deactivation (even when the close races the handshake); act as staff
without being staff; flood the socket or the Space past the limits per socket and per person;
open sockets from another origin; read deleted posts through the report page."""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from moderation import services as moderation_services
from moderation.models import Suspension
from rooms import live, posts, services
from rooms.exceptions import ActionRefused
from rooms.models import Participant, Post, Room
from rooms.permissions import Action, can, is_staff_moderator
from rooms.routing import websocket_urlpatterns
from spaces_project.asgi import SocketSessionMiddleware
from tests.factories import ModeratorFactory, PostFactory, RoomFactory, UserFactory

from .conftest import grant_moderation
from .live_helpers import (
    Socket,
    eventually,
    join,
    open_socket,
    settled_ticks,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]

# The project's own session stack (spaces_project/asgi.py), without the origin check.
SESSION_APP = SocketSessionMiddleware(URLRouter(websocket_urlpatterns))


def suspend(user) -> None:
    moderator = ModeratorFactory()
    moderation_services.suspension_create(
        user=user,
        until=timezone.now() + timedelta(days=1),
        reason="Abuse in Spaces",
        actor=type(moderator).objects.get(pk=moderator.pk),
    )


async def closing_of(socket: Socket) -> tuple[int, str | None]:
    code = await socket.wait_closed()
    closing = [e for e in socket.events if e["type"] == "closing"]
    return code, closing[-1]["code"] if closing else None


# -- 1. suspension on every path ----------------------------------------------------------------


async def test_a_suspension_landing_between_admission_and_subscribing_still_closes_the_socket(
    live_space, monkeypatch
):
    """Staff suspend the host while their socket is being admitted (after every check passed,
    before the socket could hear of it): the socket is closed anyway, and cannot act."""
    admit = live.viewer_connect

    def admit_then_suspended(**kwargs):
        admitted = admit(**kwargs)
        suspend(live_space.host)  # the window: checked, not yet subscribed (before the fix)
        return admitted

    monkeypatch.setattr(live, "viewer_connect", admit_then_suspended)
    socket = await open_socket(live_space.room, live_space.host)
    await socket.send(type="remove", user=live_space.listener.pk)
    assert await closing_of(socket) == (4403, "suspended")
    row = await Participant.objects.aget(room=live_space.room, user=live_space.listener)
    assert row.removed_at is None


async def test_a_socket_that_missed_its_close_still_cannot_act(live_space):
    """A suspended host's socket that somehow stayed open is closed at its next action, and the
    action does not happen."""
    socket, _ = await join(live_space.room, live_space.host)
    # The suspension written without its broadcast (as if the close were lost).
    await sync_to_async(Suspension.objects.create)(
        user=live_space.host,
        until=timezone.now() + timedelta(days=1),
        reason="Abuse",
        created_by=live_space.cohost,
    )
    await socket.send(type="mute", user=live_space.speaker.pk, muted=True)
    assert await closing_of(socket) == (4403, "suspended")
    assert (
        await Participant.objects.aget(room=live_space.room, user=live_space.speaker)
    ).is_muted is False


def test_a_suspended_or_deactivated_host_has_no_powers_and_is_not_seated_again(live_space):
    room, host = live_space.room, live_space.host
    suspend(host)
    assert not can(host, Action.END, room)
    assert not can(host, Action.REMOVE, room, live_space.listener)
    with pytest.raises(ActionRefused, match="suspended"):
        services.participant_join(room=room, user=host)
    assert not Participant.objects.filter(room=room, user=host, left_at=None).exists()

    cohost = live_space.cohost
    type(cohost).objects.filter(pk=cohost.pk).update(is_active=False)
    assert not can(cohost, Action.MUTE, room, live_space.speaker)


def test_the_moderation_permission_without_staff_status_gives_no_power(live_space):
    outsider = grant_moderation(UserFactory(is_staff=False))
    assert not is_staff_moderator(outsider)
    assert not can(outsider, Action.REMOVE, live_space.room, live_space.listener)
    staff = grant_moderation(UserFactory(is_staff=True))
    assert can(staff, Action.REMOVE, live_space.room, live_space.listener)


def test_a_host_who_missed_the_end_cannot_delete_posts_in_the_ended_space(live_space):
    post = PostFactory(room=live_space.room, author=live_space.listener)
    services.room_end(room=live_space.room, actor=live_space.host)
    with pytest.raises(ActionRefused, match="live"):
        posts.post_delete(room=live_space.room, post_id=post.pk, actor=live_space.host)
    assert Post.objects.get(pk=post.pk).deleted_at is None


# -- 6. sign-out, password change, deactivation -------------------------------------------------


async def signed_in_socket(room, user) -> tuple[Socket, Client]:
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = client.cookies["sessionid"].value
    communicator = WebsocketCommunicator(
        SESSION_APP,
        f"/ws/rooms/{room.slug}/",
        headers=[(b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    socket = Socket(communicator)
    await socket.wait_for("snapshot")
    return socket, client


async def test_signing_out_closes_the_sessions_sockets(live_space):
    socket, client = await signed_in_socket(live_space.room, live_space.host)
    await sync_to_async(client.post)(reverse("account_logout"))
    assert await closing_of(socket) == (4401, "signed_out")


async def test_a_password_change_closes_the_persons_sockets(live_space):
    socket, _ = await signed_in_socket(live_space.room, live_space.cohost)

    def change_password():
        user = type(live_space.cohost).objects.get(pk=live_space.cohost.pk)
        user.set_password("another-long-password")
        user.save()

    await sync_to_async(change_password)()
    assert await closing_of(socket) == (4401, "signed_out")


async def test_deactivating_an_account_closes_its_sockets(live_space):
    socket, _ = await join(live_space.room, live_space.speaker)

    def deactivate():
        user = type(live_space.speaker).objects.get(pk=live_space.speaker.pk)
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()
    assert await closing_of(socket) == (4403, "inactive")


async def test_a_session_ended_without_a_broadcast_cannot_act(live_space):
    """The session row is gone (signed out elsewhere, expired, cleared by staff) and no close
    reached the socket: its next action closes it instead of acting."""
    socket, _ = await signed_in_socket(live_space.room, live_space.host)
    await sync_to_async(Session.objects.all().delete)()
    await socket.send(type="remove", user=live_space.listener.pk)
    assert await closing_of(socket) == (4401, "signed_out")
    row = await Participant.objects.aget(room=live_space.room, user=live_space.listener)
    assert row.removed_at is None


# -- 5. limits per socket and per person -------------------------------------------------------


async def test_a_flood_is_cut_off_even_when_each_action_is_slow(live_space, monkeypatch):
    """Frames are counted as they arrive: a client pipelining actions that take long to run is
    closed for flooding, not served for as long as it likes."""
    act = live.act

    def slow_act(**kwargs):
        time.sleep(0.15)  # a loaded server: slower than the refill of one token
        return act(**kwargs)

    monkeypatch.setattr(live, "act", slow_act)
    socket, _ = await join(live_space.room, live_space.listener)
    started = time.monotonic()
    for _ in range(150):
        await socket.send(type="hand_lower")
    assert await socket.wait_closed(timeout=10) == 4429
    assert time.monotonic() - started < 10


async def test_posts_are_limited_per_person_across_all_their_sockets(live_space, settings):
    settings.SPACES_PERSON_POSTS = 8
    sockets = [(await join(live_space.room, live_space.listener))[0] for _ in range(3)]
    try:
        for n in range(5):
            for index, socket in enumerate(sockets):
                await socket.send(type="post", text=f"spam {index} {n}")
        refused = 0
        for socket in sockets:
            got = await socket.roundtrip()
            refused += sum(1 for e in got if e.get("code") == "rate_limited")
        assert await Post.objects.filter(author=live_space.listener).acount() == 8
        assert refused == 15 - 8
    finally:
        for socket in sockets:
            await socket.close()


async def test_one_person_may_open_only_so_many_sockets_in_a_space(live_space, settings):
    settings.SPACES_SOCKETS_PER_PERSON = 3
    sockets = [(await join(live_space.room, live_space.listener))[0] for _ in range(3)]
    try:
        extra = await open_socket(live_space.room, live_space.listener)
        assert await closing_of(extra) == (4429, "too_many_sockets")
        # Someone else is not affected.
        other, snapshot = await join(live_space.room, live_space.hand)
        assert snapshot["type"] == "snapshot"
        await other.close()
    finally:
        for socket in sockets:
            await socket.close()


# -- 7. origins ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.0.0.1:8001", False),  # another port on the same host
        ("https://127.0.0.1:8000", False),  # another scheme
        ("http://evil.example", False),
        ("null", False),
        (None, False),
    ],
)
async def test_sockets_open_only_from_the_sites_own_origin(live_space, origin, allowed):
    from spaces_project.asgi import application

    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/rooms/{live_space.room.slug}/", headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected is allowed
    await communicator.disconnect()


async def test_configured_origins_are_matched_in_full(live_space, settings):
    from spaces_project.asgi import application

    settings.SPACES_WEBSOCKET_ORIGINS = ["https://spaces.example.org"]
    for origin, allowed in (
        ("https://spaces.example.org", True),
        ("https://spaces.example.org:443", True),
        ("https://spaces.example.org:8443", False),
        ("http://spaces.example.org", False),
        ("https://evil.spaces.example.org", False),
    ):
        communicator = WebsocketCommunicator(
            application,
            f"/ws/rooms/{live_space.room.slug}/",
            headers=[(b"host", b"spaces.example.org"), (b"origin", origin.encode())],
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected is allowed, origin
        await communicator.disconnect()


# -- 8. report page ------------------------------------------------------------------------------


def test_deleted_posts_cannot_be_read_through_the_report_page(live_space):
    post = PostFactory(room=live_space.room, author=live_space.listener, text="Secret words")
    url = reverse("space_report", args=[live_space.room.slug]) + f"?post={post.pk}"
    assert "Secret words" in Client().get(url).content.decode()
    posts.post_delete(room=live_space.room, post_id=post.pk, actor=live_space.host)
    page = Client().get(url)
    assert page.status_code == 404 and "Secret words" not in page.content.decode()


def test_guests_cannot_read_posts_through_the_report_page_when_guests_are_off(live_space):
    post = PostFactory(room=live_space.room, author=live_space.listener, text="Members only")
    Room.objects.filter(pk=live_space.room.pk).update(guests_may_listen=False)
    url = reverse("space_report", args=[live_space.room.slug]) + f"?post={post.pk}"
    page = Client().get(url)
    assert page.status_code == 404 and "Members only" not in page.content.decode()
    member = Client()
    member.force_login(live_space.hand)
    assert "Members only" in member.get(url).content.decode()


# -- 10. smaller ----------------------------------------------------------------------------------


def test_sqlite_takes_the_write_lock_up_front_and_writes_ahead():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


async def test_a_task_failing_after_its_socket_closed_leaves_no_unretrieved_exception(live_space):
    """A role refresh that finds its socket closed ends quietly (no "Task exception was never
    retrieved" in the log)."""
    from rooms.consumers import RoomConsumer

    loop = asyncio.get_running_loop()
    unhandled: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        consumer = RoomConsumer()

        async def fails():
            raise RuntimeError("socket closed")

        consumer.spawn(fails())
        await asyncio.sleep(0.05)
        import gc

        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert not unhandled
    assert not consumer.tasks


@pytest.mark.django_db(transaction=True)
def test_sqlite_writers_queue_instead_of_failing_when_they_overlap():
    """Transactions that read, then write (every service locks a row, then saves), from many
    threads at once: with deferred transactions SQLite fails some with "database is locked";
    with BEGIN IMMEDIATE and the busy timeout they wait their turn."""
    import threading

    from django.db import connections, transaction

    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings")
    room = RoomFactory()
    failures: list[Exception] = []

    def churn() -> None:
        try:
            for _ in range(15):
                with transaction.atomic():
                    title = Room.objects.get(pk=room.pk).title
                    time.sleep(0.002)
                    Room.objects.filter(pk=room.pk).update(title=title[:100])
        except Exception as error:  # noqa: BLE001 (what the test looks for)
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=churn) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:2]


async def test_guest_sockets_from_one_address_are_capped_per_space(live_space, settings):
    from spaces_project.ratelimit import client_key, shared_cache

    settings.SPACES_GUEST_SOCKETS_PER_ADDRESS = 2
    cache, key = shared_cache(), client_key(None)  # test sockets have no client address
    first, _ = await join(live_space.room, guest_id="guest-a")
    second, _ = await join(live_space.room, guest_id="guest-b")
    third = await open_socket(live_space.room, guest_id="guest-c")
    assert await closing_of(third) == (4429, "too_many_sockets")
    await first.close()
    # A socket that closed gives its place back (its cleanup finishes after the close).
    await eventually(lambda: cache.get(f"rl:guest_sockets:{live_space.room.pk}:{key}") == 1)
    again, snapshot = await join(live_space.room, guest_id="guest-c")
    assert snapshot["type"] == "snapshot"
    await again.close()
    await second.close()
