"""A client that stops reading (and still sends pings) is dropped once what waits for it in daphne
passes SPACES_SOCKET_SEND_BUFFER_BYTES; a client that reads gets everything. Real daphne, Redis
and PostgreSQL (the services pass of `make test`)."""

import asyncio
import contextlib
import json
import os

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connections

from rooms import events
from tests.rooms.test_multiprocess import join_peer, make_space
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the Redis of `make test`"),
    pytest.mark.django_db(transaction=True),
]

LIMIT = int(os.environ.get("SPACES_SLOW_LIMIT", str(128 * 1024)))
EVENT_BYTES = 8 * 1024
# 3.2 MB: far more than the kernel's socket buffers and the limit together.
EVENTS = int(os.environ.get("SPACES_SLOW_EVENTS", "400"))
STALLED = int(os.environ.get("SPACES_SLOW_STALLED", "1"))  # more for docs/reliability.md


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def daphne(transactional_db, tmp_path):
    port = free_port()
    log = open(tmp_path / "daphne.log", "w+b")  # noqa: SIM115
    env = process_env(tmp_path, SPACES_SOCKET_SEND_BUFFER_BYTES=str(LIMIT))
    process = start_daphne(port, env, log)
    wait_until_listening(process, port)
    yield port, process.pid
    process.terminate()
    process.wait(timeout=10)
    log.close()


async def test_a_socket_that_stops_reading_is_dropped_and_a_reading_one_is_not(daphne):
    port, pid = daphne
    room, host_user, listener_user, _ = await sync_to_async(make_space)()
    reader, _ = await join_peer(port, room, host_user)
    stalled, _ = await join_peer(port, room, listener_user)
    more = [(await join_peer(port, room, guest_id=f"g{n}"))[0] for n in range(STALLED - 1)]
    rss_before = rss_kib(pid)
    # From here on `stalled` never reads: the websockets client stops taking bytes from the
    # kernel once a few messages wait, as a page whose tab froze would.
    received = 0
    # At most 16 events (128 KiB) in flight to the reader, however loaded the machine: a reader
    # that keeps up must never come near the limit.
    in_flight = asyncio.Semaphore(16)

    async def read_all() -> None:
        nonlocal received
        while received < EVENTS:
            event = json.loads(await reader.connection.recv())
            if event["type"] == "levels" and "pad" in event["levels"]:
                received += 1
                in_flight.release()

    async def keep_pinging() -> None:
        while True:
            for peer in (stalled, *more):
                with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
                    await peer.connection.send(json.dumps({"type": "ping"}))
            await asyncio.sleep(0.2)

    reading = asyncio.create_task(read_all())
    pinging = asyncio.create_task(keep_pinging())
    try:
        for _ in range(EVENTS):
            await in_flight.acquire()
            await events.abroadcast(room.pk, "levels", {"levels": {"pad": "x" * EVENT_BYTES}})
        await asyncio.wait_for(reading, 30)
    finally:
        pinging.cancel()
    await asyncio.sleep(1)
    grown = rss_kib(pid) - rss_before
    sent = EVENTS * EVENT_BYTES >> 10
    print(f"daphne grew {grown} KiB with {STALLED} stalled sockets ({sent} KiB sent to each)")
    assert received == EVENTS  # the reader kept up and was never dropped

    # The stalled client finds its connection gone when it reads again, short of the events.
    got, closed = 0, None
    try:
        while True:
            event = json.loads(await asyncio.wait_for(stalled.connection.recv(), 5))
            got += event["type"] == "levels"
    except websockets.ConnectionClosed as error:
        closed = error
    except TimeoutError:
        pass
    print(f"the stalled client got {got} of {EVENTS} events; closed: {closed}")
    assert closed is not None, "the stalled client was never dropped"
    assert got < EVENTS and closed.rcvd is None  # dropped, not closed with a code
    for peer in (reader, *more):
        with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
            await peer.connection.close()
