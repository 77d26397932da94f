"""A guest's join makes no query of its own: the Space's gate and snapshot are shared by the
process's guest joins, and guests' presence rows are written by the process once per tick
(rooms/presence.py). Counts are right after a tick; a process that dies leaves no phantom
listeners once the sweep has run; a live process's rows survive it."""

import asyncio
import contextlib
import os
import signal
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db.backends import utils as db_utils
from websockets.asyncio.client import connect

from rooms import live, realtime
from rooms.models import Presence
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

from .live_helpers import eventually, join, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]


@contextlib.contextmanager
def every_query():
    """Every SQL statement run in this process while open, from any thread (the socket path
    runs its queries in database_sync_to_async's worker thread)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = db_utils.CursorWrapper._execute_with_wrappers

    def counted(self, sql, params, many, executor):
        with lock:
            seen.append(sql)
        return real(self, sql, params, many, executor)

    db_utils.CursorWrapper._execute_with_wrappers = counted
    try:
        yield seen
    finally:
        db_utils.CursorWrapper._execute_with_wrappers = real


async def counted(room, n: int) -> bool:
    return await sync_to_async(live.listener_count)(room.pk) == n


@pytest.mark.usefixtures("settled_ticks")
async def test_a_guest_join_makes_no_query_of_its_own(live_space):
    room = live_space.room
    host, _ = await join(room, live_space.host)
    first, _ = await join(room, None, guest_id="first")  # reads the gate and the snapshot
    # The first guest's row is written and counted, and the count ticks are over.
    while (await host.wait_for("listeners"))["audience"].get("guests") != 1:
        pass

    def ticks_idle() -> bool:
        task = live.counts._task
        return (task is None or task.done()) and not realtime.hub().presence.pending

    await eventually(ticks_idle)

    with every_query() as queries:
        guest, hello = await join(room, None, guest_id="second")
    assert queries == [], "\n".join(queries)
    assert hello["type"] == "snapshot" and hello["room"]["id"] == room.pk
    assert hello["you"]["role"] == "guest"

    # The count sees other threads' queries: a signed-in person's join writes its rows.
    with every_query() as queries:
        listener, _ = await join(room, live_space.listener)
    assert any("INSERT" in sql for sql in queries)

    # The second guest is counted with the next tick, and its audio too.
    await guest.send(type="hls_listening", listening=True)
    await eventually(lambda: counted(room, 1))
    for socket in (first, guest, listener, host):
        await socket.close()
    assert not await Presence.objects.filter(room=room).aexists()


@pytest.mark.usefixtures("settled_ticks")
async def test_guest_counts_are_right_after_a_batch_tick(live_space):
    room = live_space.room
    host, _ = await join(room, live_space.host)
    guests = [(await join(room, None, guest_id=f"g{n}"))[0] for n in range(4)]
    for guest in guests[:3]:
        await guest.send(type="hls_listening", listening=True)
    # One tick later: three listening, four with the page open, in the rows every page reads.
    while True:
        update = await host.wait_for("listeners")
        if update["count"] == 3 and update["audience"].get("guests") == 4:
            break
    assert await sync_to_async(live.listener_count)(room.pk) == 3
    assert (await sync_to_async(live.audience)(room.pk))["guests"] == 4

    await guests[0].send(type="hls_listening", listening=False)  # stopped the stream
    await guests[1].close()
    while (await host.wait_for("listeners"))["count"] != 1:
        pass
    assert await sync_to_async(live.listener_count)(room.pk) == 1
    assert await Presence.objects.filter(room=room, user=None).acount() == 3
    for socket in (guests[0], *guests[2:], host):
        await socket.close()


async def guests_listening(port: int, room, names: list[str]):
    """Guest sockets on the daphne at `port`, each with its audio on."""
    opened = []
    for name in names:
        socket = await connect(
            f"ws://127.0.0.1:{port}/ws/rooms/{room.slug}/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"{live.GUEST_COOKIE}={live.guest_cookie_value(name)}"},
        )
        assert '"type":"snapshot"' in await asyncio.wait_for(socket.recv(), 10)
        await socket.send('{"type":"hls_listening","listening":true}')
        opened.append(socket)
    return opened


@pytest.fixture
def two_processes(live_space, tmp_path):
    """Two daphne processes on the test database, whose presence goes stale after 3 s (so each
    touches its guests' rows every second)."""
    started = []
    for n in range(2):
        port = free_port()
        log = open(tmp_path / f"daphne-{n}.log", "w+b")  # noqa: SIM115
        env = process_env(tmp_path, SPACES_PRESENCE_STALE_SECONDS="3")
        process = start_daphne(port, env, log)
        started.append((port, process, log))
    for port, process, _ in started:
        wait_until_listening(process, port)
    yield started
    for _, process, log in started:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        log.close()


async def test_a_process_that_dies_leaves_no_phantom_listeners_after_the_sweep(
    live_space, two_processes, settings
):
    room = live_space.room
    (port_a, process_a, _), (port_b, _, _) = two_processes
    doomed = await guests_listening(port_a, room, ["a1", "a2", "a3"])
    staying = await guests_listening(port_b, room, ["b1", "b2"])
    await eventually(lambda: counted(room, 5), timeout=10)

    os.kill(process_a.pid, signal.SIGKILL)  # no disconnect, no last batch
    process_a.wait(10)
    assert await counted(room, 5)  # its rows are still there: phantoms until the sweep

    settings.SPACES_PRESENCE_STALE_SECONDS = 3
    await asyncio.sleep(3.5)  # past the stale age: process B touched its rows meanwhile
    swept = await sync_to_async(live.presence_sweep)()
    assert swept == [room.pk]
    assert await counted(room, 2)
    assert set(await sync_to_async(list)(Presence.objects.values_list("guest_id", flat=True))) == {
        "b1",
        "b2",
    }
    for socket in doomed + staying:
        with contextlib.suppress(Exception):
            await socket.close()
