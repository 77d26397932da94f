"""Open sockets share the process's cache client: with Redis, a crowd of listeners does not hold a
connection each (at 10,000 sockets that ran daphne out of file descriptors)."""

import asyncio
import os

import pytest
import redis
from asgiref.sync import sync_to_async

from spaces_project import ratelimit

from .live_helpers import join, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled_ticks"),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (services pass)"),
]


def redis_clients() -> int:
    return len(redis.Redis.from_url(os.environ["REDIS_URL"]).client_list())


async def test_a_crowd_of_sockets_does_not_hold_a_redis_connection_each(live_space):
    first, _ = await join(live_space.room, guest_id="first")  # the layer's own connections
    before = await sync_to_async(redis_clients)()
    joined = await asyncio.gather(*(join(live_space.room, guest_id=f"g{i}") for i in range(25)))
    try:
        grown = await sync_to_async(redis_clients)() - before
        assert grown < 5, f"{grown} more Redis connections for 25 more sockets"
    finally:
        for socket, _ in joined:
            await socket.close()
        await first.close()


def test_rate_limits_count_in_one_client_shared_by_threads(settings):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        clients = set(pool.map(lambda _: id(ratelimit.shared_cache()), range(8)))
    assert len(clients) == 1
    assert [ratelimit.count_hit("rl:test:shared", 60) for _ in range(3)] == [1, 2, 3]
