"""The embedded channel layer (no REDIS_URL): channels' in-memory layer, swept once a second.

Channels' layer walks every channel for expired messages on every `receive` and `group_send`,
so a join storm of N sockets costs O(N²): 55% of daphne's CPU at 10,000 sockets in the
signaling benchmark (docs/benchmarks.md). Expired messages are still dropped, at most a
second later than they would have been.
"""

import time

from channels.layers import InMemoryChannelLayer


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
