"""Redis stops for a while under two daphne processes on PostgreSQL: what people post meanwhile is
committed, its senders are told it is delayed, and when Redis is back every connected socket
gets a fresh snapshot with all of it: nothing committed is lost for people who stayed connected.
"""

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from websockets.asyncio.client import connect

from rooms.models import Room
from tests.rooms.test_multiprocess import Server, join_peer, make_space
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs the PostgreSQL that `make test` starts",
    ),
    pytest.mark.django_db(transaction=True),
]

POSTS_DURING = int(os.environ.get("SPACES_OUTAGE_POSTS", "5"))  # more for docs/reliability.md
GUESTS = int(os.environ.get("SPACES_OUTAGE_GUESTS", "0"))  # extra guests on each process


class Redis:
    """A Redis of this test's own, so the test may stop it and start it again on its port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    # The async test's ORM calls ran in a worker thread with its own connection.
    await sync_to_async(connections.close_all)()


@pytest.fixture
def redis_and_two_servers(transactional_db, tmp_path):
    redis = Redis(tmp_path)
    redis.start()
    env = process_env(tmp_path, REDIS_URL=redis.url)
    servers = []
    try:
        for _ in range(2):
            port = free_port()
            log = open(tmp_path / f"daphne-{port}.log", "w+b")  # noqa: SIM115
            servers.append(Server(port, start_daphne(port, env, log), log))
        for server in servers:
            wait_until_listening(server.process, server.port)
        yield redis, servers
    finally:
        for server in servers:
            server.stop()
            if os.environ.get("SHOW_SERVER_LOG"):
                server.log.seek(0)
                print(server.log.read().decode())
            server.log.close()
        redis.stop()
        connections.close_all()


async def wait_for_snapshot_with(peer, texts: set[str], timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            snapshot = await peer.wait_for("snapshot", timeout=timeout)
            if texts <= {post["text"] for post in snapshot["posts"]}:
                return snapshot


def seen_texts(peer) -> set[str]:
    """Every post text a socket saw, as an event or in a snapshot."""
    texts = set()
    for event in peer.events:
        if event["type"] == "post_created":
            texts.add(event["post"]["text"])
        elif event["type"] == "snapshot":
            texts |= {post["text"] for post in event["posts"]}
    return texts


async def test_posts_committed_while_redis_is_down_reach_everyone_connected(
    redis_and_two_servers,
):
    redis, (a, b) = redis_and_two_servers
    room, host_user, listener_user, _ = await sync_to_async(make_space)()
    host, _ = await join_peer(a.port, room, host_user)
    listener, _ = await join_peer(b.port, room, listener_user)
    guest, _ = await join_peer(b.port, room, guest_id="guest-on-b")
    crowd = [
        (await join_peer(server.port, room, guest_id=f"crowd-{server.port}-{n}"))[0]
        for server in (a, b)
        for n in range(GUESTS)
    ]
    await host.send(type="post", text="before")
    first = await listener.wait_for("post_created")
    assert first["seq"] >= 1

    redis.stop()
    during = [f"during {n}" for n in range(POSTS_DURING)]
    for text in during:
        await host.send(type="post", text=text)
        delayed = await host.wait_for("error", ref="post")
        assert delayed["code"] == "delayed"
        await asyncio.sleep(0.15)  # within the socket's rate limit
    # People still get in meanwhile: the public page and a new socket answer.
    latecomer, hello = await join_peer(a.port, room, guest_id="latecomer")
    assert set(during) <= {post["text"] for post in hello["posts"]}
    await asyncio.sleep(1.5)

    started = time.monotonic()
    redis.start()
    for peer in (listener, guest, host, *crowd):
        snapshot = await wait_for_snapshot_with(peer, set(during))
        assert (
            snapshot["seq"] == await sync_to_async(lambda: Room.objects.get(pk=room.pk).event_seq)()
        )

    print(f"{2 + len(crowd)} sockets resynced {time.monotonic() - started:.1f} s after Redis")
    # Delivery works again, to sockets old and new.
    await asyncio.sleep(1.5)
    await host.send(type="post", text="after")
    for peer in (listener, guest, latecomer):
        await peer.wait_for("post_created", timeout=10)
    connected = {"listener": listener, "guest": guest}
    connected |= {f"crowd {n}": peer for n, peer in enumerate(crowd)}
    lost = {name: set(during) - seen_texts(peer) for name, peer in connected.items()}
    print(f"posts lost for connected sockets: {sum(map(len, lost.values()))} of {POSTS_DURING}")
    assert lost == {name: set() for name in connected}
    for peer in (host, listener, guest, latecomer, *crowd):
        await peer.connection.close()


async def test_a_new_socket_during_the_outage_is_not_an_http_error(redis_and_two_servers):
    redis, (a, _) = redis_and_two_servers
    room, *_ = await sync_to_async(make_space)()
    redis.stop()
    async with connect(
        f"ws://127.0.0.1:{a.port}/ws/rooms/{room.slug}/",
        origin=f"http://127.0.0.1:{a.port}",
        open_timeout=10,
    ) as socket:
        # No guest cookie: refused the normal way, not with an HTTP 500.
        assert '"no_guest_cookie"' in await asyncio.wait_for(socket.recv(), 10)
