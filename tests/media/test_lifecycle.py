"""Rooms that people keep joining and leaving do not leak connections, sockets or tasks."""

import asyncio
import gc
import os
import threading

import pytest
from aiortc import RTCPeerConnection

from rooms.media import Router, RouterRegistry

from .audio_peers import AudioClient, eventually

pytestmark = pytest.mark.media

CYCLES = 200
WARM_UP = 200
CONCURRENT = 8


def live(kind):
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def footprint():
    await asyncio.sleep(0.2)  # let closing transports finish their callbacks
    gc.collect()
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "peer_connections": live(RTCPeerConnection),
        "objects": len(gc.get_objects()),
        "rss": rss_bytes(),
    }


async def join_and_leave(room, config, n):
    client = AudioClient(config)
    peer_id = f"listener-{n}"
    await client.join(room, peer_id)
    if n % 2:
        await room.disconnect(peer_id)  # the room lets them go (kicked, left the page)
        await client.close()
    else:
        await client.close()  # the browser went away; the room notices on its own
        assert await eventually(lambda: room.stats()["listeners"] == 0)


async def churn(room, config, cycles, start=0):
    for first in range(start, start + cycles, CONCURRENT):
        await asyncio.gather(
            *(join_and_leave(room, config, n) for n in range(first, first + CONCURRENT))
        )


async def test_many_joins_and_leaves_leave_nothing_behind(media_config):
    room = Router("busy-room", media_config)
    speaker = AudioClient(media_config, tone=440, direction="sendonly")  # records nothing
    try:
        await speaker.join(room, "host", role="speaker")
        # warm up: lazy imports, thread pools and the allocator's per-thread arenas
        await churn(room, media_config, WARM_UP)
        before = await footprint()
        await asyncio.wait_for(churn(room, media_config, CYCLES, start=WARM_UP), timeout=120)
        after = await footprint()
        assert room.stats()["listeners"] == 0 and room.stats()["speakers"] == 1
    finally:
        await speaker.close()
        await room.close()
    assert after["fds"] <= before["fds"] + 2, (before, after)
    assert after["tasks"] <= before["tasks"] + 2, (before, after)
    assert after["threads"] <= before["threads"] + 1, (before, after)
    assert after["peer_connections"] <= before["peer_connections"], (before, after)
    assert after["objects"] < before["objects"] + 2_000, (
        before,
        after,
    )  # 200 leaked joins: ~100,000
    # RSS moves with the allocator and the rest of the test run; a leak of one peer connection
    # per cycle (hundreds of KB) would still show many times over.
    assert after["rss"] - before["rss"] < 16 * 2**20, (before, after)


async def test_closing_a_room_closes_every_connection(media_config):
    registry = RouterRegistry(media_config)
    room = registry.get("ending")
    assert registry.get("ending") is room and "ending" in registry
    clients = [AudioClient(media_config, tone=440, direction="sendrecv")] + [
        AudioClient(media_config) for _ in range(5)
    ]
    await clients[0].join(room, "host", role="speaker")
    await asyncio.gather(*(c.join(room, f"listener-{i}") for i, c in enumerate(clients[1:])))
    before_close = await footprint()
    await registry.close("ending")
    assert await eventually(lambda: all(c.pc.connectionState == "closed" for c in clients))
    assert "ending" not in registry and len(registry) == 0
    assert registry.get("ending") is not room  # a new Space in the same room starts afresh
    await registry.close_all()
    await asyncio.gather(*(c.close() for c in clients))
    clients.clear()
    after = await footprint()
    assert after["peer_connections"] == 0
    assert after["fds"] < before_close["fds"]
