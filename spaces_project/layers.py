"""The channel layers: channels' in-memory layer, swept once a second (no REDIS_URL), and
channels-redis' pub/sub layer, made tolerant of a Redis outage (with REDIS_URL).

The embedded layer:
Channels' layer walks every channel for expired messages on every `receive` and `group_send`,
so a join storm of N sockets costs O(N²): 55% of daphne's CPU at 10,000 sockets in the
signaling benchmark (docs/benchmarks.md). Expired messages are still dropped, at most a
second later than they would have been.
"""

import asyncio
import logging
import time
import uuid

from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

logger = logging.getLogger(__name__)


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, sweep_interval: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sweep_interval = sweep_interval
        self._swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.sweep_interval:
            return
        self._swept_at = now
        super()._clean_expired()


class OutageTolerantPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels-redis' pub/sub layer (the one used with REDIS_URL), tolerant of a Redis outage.

    channels-redis 4.3 stores a channel's queue (or a group's members) before it subscribes to
    Redis; with Redis down the subscribe raises and the queue is never removed: every socket
    refused during an outage leaked one, and no new socket could open (an HTTP 500). Here a
    subscription that fails is kept and retried every second until Redis is back, and it is
    dropped with its channel; so a socket opens during an outage (its snapshot comes from the
    database) and hears events once Redis returns.
    """

    retry_seconds = 1.0

    async def new_channel(self, prefix: str = "specific.") -> str:
        layer = self._get_layer()
        channel = f"{layer.prefix}{prefix}{uuid.uuid4().hex}"
        layer.channels[channel] = asyncio.Queue()
        await self._subscribe(layer, channel)
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        layer = self._get_layer()
        group_channel = layer._get_group_channel_name(group)
        layer.groups.setdefault(group_channel, set()).add(channel)
        await self._subscribe(layer, group_channel)

    async def group_discard(self, group: str, channel: str) -> None:
        # Leaving must not fail while Redis is down (a closing socket still cleans up the rest).
        try:
            await self._get_layer().group_discard(group, channel)
        except Exception as error:
            logger.warning("Could not unsubscribe from %s (%r)", group, error)

    async def _subscribe(self, layer, name: str) -> None:
        try:
            await layer._get_shard(name).subscribe(name)
        except Exception as error:
            logger.warning("Could not subscribe to %s (%r); retrying", name, error)
            pending = self._pending(layer)
            pending.add(name)
            retrying = getattr(layer, "_spaces_retrying", None)
            if retrying is None or retrying.done():
                layer._spaces_retrying = asyncio.ensure_future(self._retry(layer))

    @staticmethod
    def _pending(layer) -> set[str]:
        if not hasattr(layer, "_spaces_pending"):
            layer._spaces_pending = set()
        return layer._spaces_pending

    async def _retry(self, layer) -> None:
        pending = self._pending(layer)
        while pending:
            await asyncio.sleep(self.retry_seconds)
            for name in list(pending):
                if name not in layer.channels and not layer.groups.get(name):
                    pending.discard(name)  # its socket has gone meanwhile
                    continue
                try:
                    await layer._get_shard(name).subscribe(name)
                except Exception:
                    break  # still down: try again in a second
                pending.discard(name)
