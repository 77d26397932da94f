"""The recording mix: live listeners hear every speaker; the recording only those recorded."""

import asyncio
import time

import numpy as np
import pytest

from rooms.media.mixer import recording_mix

from .audio_peers import eventually, tone_share

pytestmark = pytest.mark.media


class Tap:
    """A recording tap that keeps what it is fed."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.closed = False

    def feed(self, block, wall_time) -> None:
        self.blocks.append(block.copy())

    async def close(self) -> None:
        self.closed = True

    def since(self, count: int) -> np.ndarray:
        return np.concatenate(self.blocks[count:])


def test_the_recording_mix_adds_only_the_rows_asked_and_clips():
    loud = np.full((3, 960), 20_000, dtype=np.int16)
    assert (recording_mix(loud, [0, 2]) == 32_767).all()  # clipped, not wrapped
    blocks = np.stack([np.full(960, v, dtype=np.int16) for v in (1, 10, 100)])
    assert (recording_mix(blocks, [1, 2]) == 110).all()
    assert (recording_mix(blocks, []) == 0).all()


async def test_a_speaker_who_declined_is_heard_live_and_left_out_of_the_recording(
    router, make_client
):
    tap = Tap()
    router.add_recording_tap(tap)
    host = make_client(tone=440, direction="sendrecv")
    declined = make_client(tone=880, direction="sendrecv")
    listener = make_client()
    await host.join(router, "host", "speaker")
    answer = await router.connect_speaker("declined", await declined.offer(), recorded=False)
    await declined.accept(answer)
    await declined.connected()
    await listener.join(router, "listener")
    assert await eventually(lambda: router.stats()["second_mixes"] > 25, within=5)

    start, count = time.monotonic(), len(tap.blocks)
    await asyncio.sleep(1.0)
    heard = listener.recording.between(start, time.monotonic())
    recorded = tap.since(count)
    assert tone_share(heard, 440) > 0.2 and tone_share(heard, 880) > 0.2
    assert tone_share(recorded, 440) > 0.9 and tone_share(recorded, 880) < 0.01
    assert router.recorded("declined") is False and router.recorded("nobody") is None

    # they say yes: recorded from then on, and with nobody left out there is no second mix
    assert await router.set_recorded("declined", True)
    await asyncio.sleep(0.1)
    mixes, count = router.stats()["second_mixes"], len(tap.blocks)
    await asyncio.sleep(1.0)
    assert tone_share(tap.since(count), 880) > 0.2
    assert router.stats()["second_mixes"] == mixes

    await router.close()
    assert tap.closed


async def test_nobody_declined_means_the_recording_is_the_listener_mix(router, make_client):
    tap = Tap()
    router.add_recording_tap(tap)
    speaker = make_client(tone=440, direction="sendrecv")
    await speaker.join(router, "speaker", "speaker")
    assert await eventually(lambda: len(tap.blocks) > 60, within=5)
    assert tone_share(tap.since(len(tap.blocks) - 25), 440) > 0.9
    assert router.stats()["second_mixes"] == 0
