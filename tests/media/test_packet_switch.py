"""Listener packets follow the crowd: 20 ms for a small Space, 60 ms for a large one, unheard."""

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from rooms.media import MediaConfig, Router

from .audio_peers import eventually, rms, tone_share

pytestmark = pytest.mark.media


async def packet_sizes(client, count=5):
    """The lengths (in samples) of `count` packets the client decodes from 200 ms on."""
    await asyncio.sleep(0.2)  # what was in flight and in its jitter buffer
    seen = len(client.recording.blocks)
    assert await eventually(lambda: len(client.recording.blocks) >= seen + count + 1, 3.0)
    return {block.size for _, block in client.recording.blocks[seen + 1 : seen + 1 + count]}


def timeline(client):
    """What the client decoded, laid out by each packet's RTP timestamp: (samples, gaps)."""
    pts, blocks = client.recording.pts, [block for _, block in client.recording.blocks]
    gaps = [b - (a + blocks[i].size) for i, (a, b) in enumerate(zip(pts, pts[1:], strict=False))]
    return np.concatenate(blocks), gaps


async def test_a_listener_hears_the_tone_without_a_gap_across_both_switches(make_client):
    config = replace(
        MediaConfig.loopback(),
        listener_packet_ms=None,
        listener_packet_up_at=2,
        listener_packet_down_at=1,
    )
    router = Router("switching", config)
    try:
        speaker = make_client(tone=440, direction="sendrecv")
        await speaker.join(router, "host", role="speaker")
        listener = make_client()
        await listener.join(router, "listener")
        await asyncio.sleep(0.5)
        assert await packet_sizes(listener) == {960}  # one listener: 20 ms

        crowd = make_client()
        await crowd.join(router, "second")  # two listeners: up to 60 ms
        assert await eventually(lambda: router.stats()["listener_packet_ms"] == 60)
        assert await packet_sizes(listener) == {2880}
        await asyncio.sleep(0.5)

        await router.disconnect("second")  # back to one: down to 20 ms
        assert await eventually(lambda: router.stats()["listener_packet_ms"] == 20)
        assert await packet_sizes(listener) == {960}
        await asyncio.sleep(0.3)
    finally:
        await router.close()
    assert router.stats()["packet_switches"] == 2

    samples, gaps = timeline(listener)
    # the stream's timeline has no hole at all, so nothing needed concealing
    assert max(gaps) <= 0 and min(gaps) >= 0, gaps
    # from the first audio on, every 20 ms of it carries the tone at full strength ...
    start = int(np.argmax(np.abs(samples) > 1000)) + 4800  # past the decoder's fade-in
    heard = samples[start:]
    assert heard.size >= 2.0 * 48_000
    windows = heard[: heard.size // 960 * 960].reshape(-1, 960)
    quiet = [i for i, window in enumerate(windows) if rms(window) < 2000]
    assert not quiet, f"gaps at {[i * 20 for i in quiet]} ms"
    # ... and nothing else: a click at a switch would spread energy over the spectrum
    clean = [tone_share(heard[i : i + 4800], 440) for i in range(0, heard.size - 4800, 2400)]
    assert min(clean) > 0.95, [round(x, 3) for x in clean]
