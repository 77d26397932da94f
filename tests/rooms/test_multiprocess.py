"""Two daphne processes on PostgreSQL and Redis share a Space: a change made through one
process reaches people connected to the other, and the real ASGI stack checks the Origin and
the guest cookie. Runs in the services pass of `make test` (REDIS_URL and DATABASE_URL set)."""

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from typing import IO

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client
from websockets.asyncio.client import connect

from rooms import services
from rooms.live import GUEST_COOKIE, guest_cookie_value
from tests.factories import ParticipantFactory, RoomFactory
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL")
        or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs the PostgreSQL and Redis that `make test` starts",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    # The ORM calls of an async test run in a worker thread with its own connection; close it
    # so the test database can be dropped at the end.
    await sync_to_async(connections.close_all)()


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: IO[bytes]

    def stop(self, within: float = 10) -> None:
        """SIGTERM, as a deploy or restart does: the process must exit promptly."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.log.seek(0)
            raise AssertionError(
                f"daphne on port {self.port} did not stop within {within} s\n"
                + self.log.read().decode()[-4000:]
            ) from None


@pytest.fixture
def two_servers(transactional_db, tmp_path):
    """Two daphne processes on the test database and the same Redis."""
    env = process_env(tmp_path)
    servers = []
    for _ in range(2):
        port = free_port()
        log = open(tmp_path / f"daphne-{port}.log", "w+b")  # noqa: SIM115
        servers.append(Server(port, start_daphne(port, env, log), log))
    try:
        for server in servers:
            wait_until_listening(server.process, server.port)
        yield servers
    finally:
        try:
            for server in servers:
                server.stop()
        finally:
            for server in servers:
                if os.environ.get("SHOW_SERVER_LOG"):
                    server.log.seek(0)
                    print(server.log.read().decode())
                server.log.close()


class Peer:
    """A `websockets` client on the room socket that remembers what it was sent."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.events: list[dict] = []

    async def send(self, **message) -> None:
        await self.connection.send(json.dumps(message))

    async def wait_for(self, event_type: str, timeout: float = 10, **match) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                event = json.loads(await self.connection.recv())
                self.events.append(event)
                if event["type"] == event_type and all(event.get(k) == v for k, v in match.items()):
                    return event

    async def wait_closed(self, timeout: float = 10) -> int:
        async with asyncio.timeout(timeout):
            try:
                while True:
                    self.events.append(json.loads(await self.connection.recv()))
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_peer(port: int, room, cookie: str | None = None, origin: str | None = None):
    connection = await connect(
        f"ws://127.0.0.1:{port}/ws/rooms/{room.slug}/",
        origin=origin or f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": cookie} if cookie else None,
        open_timeout=10,
    )
    return Peer(connection)


async def join_peer(port: int, room, user=None, guest_id: str | None = None):
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
    else:
        cookie = f"{GUEST_COOKIE}={guest_cookie_value(guest_id)}" if guest_id else None
    peer = await open_peer(port, room, cookie)
    return peer, await peer.wait_for("snapshot")


def make_space():
    room = RoomFactory(title="Across processes")
    return (
        room,
        room.host,
        ParticipantFactory(room=room).user,
        ParticipantFactory(room=room).user,
    )


async def test_a_change_through_one_process_reaches_people_on_the_other(two_servers):
    a, b = (server.port for server in two_servers)
    room, host_user, listener_user, other_user = await sync_to_async(make_space)()
    host, hello = await join_peer(a, room, host_user)
    listener, mine = await join_peer(b, room, listener_user)
    guest, _ = await join_peer(b, room, guest_id="guest-on-b")
    other, _ = await join_peer(b, room, other_user)
    assert (hello["you"]["role"], mine["you"]["role"]) == ("host", "listener")

    # A host action through process A reaches process B.
    await host.send(type="promote", user=listener_user.pk, role="speaker")
    for peer in (listener, guest):
        promoted = await peer.wait_for("speaker_promoted")
        assert promoted["user"]["id"] == listener_user.pk
    assert (await listener.wait_for("you"))["you"]["role"] == "speaker"

    # And back: the new speaker posts through B, the host on A reads it.
    await listener.send(type="post", text="Hello from B")
    assert (await host.wait_for("post_created"))["post"]["text"] == "Hello from B"

    # A change made in neither (the admin, a worker: here, this test process) reaches both.
    await sync_to_async(services.participant_move_to_audience)(
        room=room, user=listener_user, actor=host_user
    )
    await host.wait_for("moved_to_audience")
    await guest.wait_for("moved_to_audience")

    # Counts add up the people listening on both processes (their pages say they play the
    # stream; a guest's row is written by its process's next batch; a new socket on A makes A
    # count again).
    for peer in (listener, guest, other):
        await peer.send(type="hls_listening", listening=True)
    late, _ = await join_peer(a, room, guest_id="guest-on-a")
    while (await host.wait_for("listeners"))["count"] != 3:
        pass
    await late.connection.close()

    # Removal through A closes the person's socket on B, and B refuses them afterwards.
    await host.send(type="remove", user=other_user.pk)
    assert (await other.wait_for("closing"))["code"] == "removed"
    assert await other.wait_closed() == 4403
    again = await open_peer(a, room, await sync_to_async(session_cookie)(other_user))
    assert (await again.wait_for("closing"))["code"] == "removed"
    assert await again.wait_closed() == 4403

    # Ending through B closes everyone, on both processes.
    await host.connection.close()
    new_host, _ = await join_peer(b, room, host_user)
    await new_host.send(type="end")
    for peer in (listener, guest, new_host):
        await peer.wait_for("room_ended")
        assert await peer.wait_closed() == 4410
    for peer in (listener, guest, other, again, new_host):
        await peer.connection.close()


async def test_the_real_stack_checks_the_origin_and_the_guest_cookie(two_servers):
    port = two_servers[0].port
    room, host_user, *_ = await sync_to_async(make_space)()
    cookie = await sync_to_async(session_cookie)(host_user)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_peer(port, room, cookie, origin="http://evil.example")
    assert refused.value.response.status_code == 403

    guest = await open_peer(port, room)  # no guest cookie: the public page was never opened
    closing = await guest.wait_for("closing")
    assert closing["code"] == "no_guest_cookie"
    assert await guest.wait_closed() == 4401

    forged = await open_peer(port, room, f"{GUEST_COOKIE}=someone:forged")
    assert await forged.wait_closed() == 4401

    host, hello = await join_peer(port, room, host_user)
    assert hello["you"]["role"] == "host"
    await host.connection.close()


def shape(snapshot: dict) -> dict:
    return {key: snapshot[key] for key in ("room", "stage", "hands", "posts")}


async def test_after_a_restart_people_reconnect_to_the_same_state(two_servers):
    a, b = two_servers
    room, host_user, listener_user, other_user = await sync_to_async(make_space)()
    host, _ = await join_peer(a.port, room, host_user)
    listener, _ = await join_peer(a.port, room, listener_user)
    guest, _ = await join_peer(a.port, room, guest_id="guest")
    await listener.send(type="hand_raise")
    await host.send(type="post", text="Before the restart")
    await host.send(type="promote", user=other_user.pk, role="speaker")
    await guest.wait_for("speaker_promoted")
    await host.send(type="mute", user=host_user.pk, muted=False)
    await guest.wait_for("speaker_unmuted")
    witness, before = await join_peer(b.port, room, guest_id="witness")
    await witness.connection.close()
    assert before["hands"][0]["user"]["id"] == listener_user.pk
    assert [p["text"] for p in before["posts"]] == ["Before the restart"]

    a.stop()  # with people connected to it

    for peer in (host, listener, guest):
        await peer.wait_closed()
        assert not [e for e in peer.events if e["type"] == "closing"]  # so they reconnect
    people = [(host_user, None), (listener_user, None), (None, "guest")]
    again = [await join_peer(b.port, room, user, guest_id=g) for user, g in people]
    for _, hello in again:
        assert shape(hello) == shape(before)
    assert again[0][1]["you"]["role"] == "host" and not again[0][1]["you"]["muted"]
    assert "hand_lower" in again[1][1]["you"]["may"]
    for peer, _ in again:
        await peer.connection.close()
