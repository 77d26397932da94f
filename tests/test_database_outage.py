"""PostgreSQL restarts and stops under a running daphne: the first pages after a restart work
(pooled connections are checked), pages during an outage get a quick, friendly 503, and the
room socket still answers pings at once."""

import asyncio
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from tests.factories import RoomFactory
from tests.rooms.test_multiprocess import join_peer
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs the PostgreSQL that `make test` starts",
    ),
    pytest.mark.django_db(transaction=True),
]

PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


DATA_DIRECTORY: list[str] = []


def pg_ctl(*args: str, check: bool = True) -> int:
    """Run pg_ctl on the test's PostgreSQL (its output, the server's log included, discarded).
    Start it again with `restart`, which keeps the options it was started with."""
    connections.close_all()
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", PG_CTL, "-D", DATA_DIRECTORY[0], "-w", *args],
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode


def get(url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), time.monotonic() - started


@pytest.fixture
def daphne(transactional_db, tmp_path):
    port = free_port()
    log = open(tmp_path / "daphne.log", "w+b")  # noqa: SIM115
    process = start_daphne(port, process_env(tmp_path), log)
    wait_until_listening(process, port)
    yield port
    process.terminate()
    process.wait(timeout=10)
    if os.environ.get("SHOW_SERVER_LOG"):
        log.seek(0)
        print(log.read().decode())
    log.close()


@pytest.fixture
def data_directory(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        DATA_DIRECTORY[:] = [cursor.fetchone()[0]]
    yield DATA_DIRECTORY[0]
    # Whatever the test did, PostgreSQL is running again for the next one.
    if pg_ctl("status", check=False) != 0:
        pg_ctl("restart")


def test_pages_work_after_a_restart_and_fail_fast_and_friendly_during_an_outage(
    daphne, data_directory
):
    room = RoomFactory(title="Through a restart")
    url = f"http://127.0.0.1:{daphne}/s/{room.slug}/"
    for _ in range(4):  # the pool holds connections
        assert get(url)[0] == 200

    pg_ctl("restart", "-m", "fast")
    after_restart = [get(url)[0] for _ in range(10)]
    assert after_restart == [200] * 10

    pg_ctl("stop", "-m", "fast")
    try:
        status, body, seconds = get(url)
        assert status == 503, body[:500]
        assert "Back in a moment" in body
        assert seconds < 8
    finally:
        pg_ctl("restart")
    assert get(url)[0] == 200


async def test_the_socket_answers_pings_at_once_while_the_database_is_down(daphne, data_directory):
    # The worker thread's connection may be from before an earlier test restarted PostgreSQL.
    await sync_to_async(connections.close_all)()
    room = await sync_to_async(RoomFactory)(title="Pings")
    peer, _ = await join_peer(daphne, room, guest_id="pinging")
    await sync_to_async(pg_ctl)("stop", "-m", "fast")
    try:
        for _ in range(2):
            started = time.monotonic()
            await peer.send(type="ping")
            await peer.wait_for("pong", timeout=5)
            assert time.monotonic() - started < 1.0
            await asyncio.sleep(0.2)
    finally:
        await sync_to_async(pg_ctl)("restart")
        await peer.connection.close()
