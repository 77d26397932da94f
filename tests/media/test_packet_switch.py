"""Listener packets follow the crowd: 20 ms for a small Space, 60 ms for a large one, unheard."""

import asyncio
from dataclasses import replace

import av
import numpy as np
import pytest

from rooms.media import MediaConfig, Router
from rooms.media.aiortc_compat import RtpFormat
from rooms.media.mixer import FRAME_SAMPLES, SAMPLE_RATE
from rooms.media.router import _Peer

from .audio_peers import eventually, rms, tone_share

pytestmark = pytest.mark.media

SWITCHING = replace(
    MediaConfig.loopback(),
    listener_packet_ms=None,
    listener_packet_up_at=2,
    listener_packet_down_at=1,
)


class CapturedStream:
    """A listener's outbound stream that keeps what the router sends: (RTP timestamp, Opus)."""

    format = RtpFormat(payload_type=111, mid=None, mid_id=None, audio_level_id=None)

    def __init__(self) -> None:
        self.packets: list[tuple[int, bytes]] = []

    def write(self, template: bytes, *, payload_size: int, timestamp: int, ntp_time: int) -> bool:
        self.packets.append((timestamp, template[-payload_size:]))
        return True


def decode(packets):
    """Decode Opus packets in order: (samples, gaps between them, where the length changed)."""
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = SAMPLE_RATE, "mono"
    blocks, gaps, switches, expected, offset, last = [], [], [], None, 0, None
    for timestamp, payload in packets:
        pcm = np.concatenate(
            [f.to_ndarray().reshape(-1) for f in decoder.decode(av.Packet(payload))]
        )
        if expected is not None:
            gaps.append(timestamp - expected)
        if last is not None and pcm.size != last:
            switches.append(offset)
        expected, last, offset = timestamp + pcm.size, pcm.size, offset + pcm.size
        blocks.append(pcm)
    return np.concatenate(blocks), gaps, switches


async def test_the_listener_stream_switches_packet_length_seamlessly():
    """The router's own output, tick by tick: the exact stream, with no network or load."""
    router = Router("offline", SWITCHING)
    speaker = _Peer("host", pc=None, role="speaker", muted=False, mic=object())
    heard = CapturedStream()
    router._peers = {"host": speaker, "listener": _Peer("listener", None, "listener", False, heard)}
    n = np.arange(5 * SAMPLE_RATE)
    tone = (8000 * np.sin(2 * np.pi * 440 * n / SAMPLE_RATE)).astype(np.int16)
    ticks = iter(tone.reshape(-1, FRAME_SAMPLES))

    async def play(seconds):
        for _ in range(int(seconds * 50)):
            speaker.fifo.push(next(ticks))
            await router._tick()

    speaker.fifo.push(next(ticks))
    await play(1.0)
    router._peers["second"] = _Peer("second", None, "listener", False, CapturedStream())
    router._stage_cache = None
    await play(0.9)
    assert router.stats()["listener_packet_ms"] == 20  # not yet: a join may be a blip
    await play(1.0)
    assert router.stats()["listener_packet_ms"] == 60
    del router._peers["second"]
    router._stage_cache = None
    await play(2.0)
    assert router.stats()["listener_packet_ms"] == 20

    samples, gaps, switches = decode(heard.packets)
    assert set(gaps) == {0} and len(switches) == 2
    steady = samples[9600:]  # past the decoder's first 200 ms
    windows = steady[: steady.size // 960 * 960].reshape(-1, 960)
    levels = [rms(window) for window in windows]
    assert min(levels) > 0.9 * 5657, levels  # the tone's RMS in every 20 ms: no gap, no dip
    shares = [tone_share(steady[i : i + 4800], 440) for i in range(0, steady.size - 4800, 960)]
    assert min(shares) > 0.99, min(shares)  # and nothing else: no click


async def packet_sizes(client, count=5):
    """The lengths (in samples) of `count` packets the client decodes from 200 ms on."""
    await asyncio.sleep(0.2)  # what was in flight and in its jitter buffer
    seen = len(client.recording.blocks)
    assert await eventually(lambda: len(client.recording.blocks) >= seen + count + 1, 3.0)
    return {block.size for _, block in client.recording.blocks[seen + 1 : seen + 1 + count]}


def timeline(client):
    """What the client decoded, in stream order: (samples, gaps between packets, switches).

    gaps: each packet's RTP timestamp minus where the one before it ended (0: contiguous);
    switches: the sample offsets where the packet length changed.
    """
    pts, blocks = client.recording.pts, [block for _, block in client.recording.blocks]
    gaps = [b - (a + blocks[i].size) for i, (a, b) in enumerate(zip(pts, pts[1:], strict=False))]
    offsets = np.cumsum([0] + [block.size for block in blocks])
    switches = [
        int(offsets[i]) for i in range(1, len(blocks)) if blocks[i].size != blocks[i - 1].size
    ]
    return np.concatenate(blocks), gaps, switches


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

    samples, gaps, switches = timeline(listener)
    # not one packet went missing over the network: the stream's timeline has no hole
    assert set(gaps) == {0}, gaps
    assert len(switches) == 2
    # and around each switch the listener hears the tone (window by window, exactly, in the
    # offline test above: here the speaker, router and clients share one loaded event loop)
    for at in switches:
        around = samples[at - 14_400 : at + 14_400]  # 300 ms either side
        assert rms(around) > 3000 and tone_share(around, 440) > 0.9
