"""The embedded channel layer sweeps expired messages at most once a second, and still does."""

import asyncio

from channels.layers import get_channel_layer

from spaces_project.layers import SweepingInMemoryChannelLayer


def test_the_embedded_layer_is_the_sweeping_one(settings):
    if not settings.REDIS_URL:
        assert isinstance(get_channel_layer(), SweepingInMemoryChannelLayer)


def test_expired_messages_are_still_dropped_and_sweeps_are_rare(monkeypatch):
    import time

    import channels.layers

    layer = SweepingInMemoryChannelLayer(expiry=60, sweep_interval=0.05)
    sweeps = []
    parent = channels.layers.InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(
        channels.layers.InMemoryChannelLayer,
        "_clean_expired",
        lambda self: (sweeps.append(1), parent(self)),
    )

    async def exchange(name):
        await layer.send(name, {"type": "x"})
        await layer.receive(name)

    async def scenario():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "old"})
        for _ in range(200):  # a storm of receives within one interval: one sweep
            await exchange("other.x")
        first_sweeps = len(sweeps)
        later = time.time() + 120  # the old message is now past its expiry
        monkeypatch.setattr(channels.layers.time, "time", lambda: later)
        await asyncio.sleep(0.06)
        await exchange("other.y")  # the next sweep drops the expired message
        queue = layer.channels.get(channel)
        return first_sweeps, 0 if queue is None else queue.qsize()

    first_sweeps, left = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert first_sweeps == 1
    assert left == 0
