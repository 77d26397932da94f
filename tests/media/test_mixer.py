"""The room's audio arithmetic on plain arrays: mixes, mix-minus, clipping and speaking levels."""

import numpy as np
import pytest

from rooms.media.mixer import (
    FRAME_SAMPLES,
    SILENCE_DBFS,
    SampleFifo,
    audio_level_dbov,
    levels_from_dbfs,
    mix,
    rms_dbfs,
    to_mono,
)


def tone(frequency, amplitude=8000, samples=FRAME_SAMPLES):
    n = np.arange(samples)
    return (amplitude * np.sin(2 * np.pi * frequency * n / 48_000)).astype(np.int16)


def test_listeners_hear_the_sum_and_each_speaker_hears_everyone_else():
    a, b, c = tone(440), tone(660), tone(880)
    result = mix(np.stack([a, b, c]))
    wide = [x.astype(np.int32) for x in (a, b, c)]
    assert np.array_equal(result.listener, (wide[0] + wide[1] + wide[2]).astype(np.int16))
    assert np.array_equal(result.minus[0], (wide[1] + wide[2]).astype(np.int16))
    assert np.array_equal(result.minus[1], (wide[0] + wide[2]).astype(np.int16))
    assert np.array_equal(result.minus[2], (wide[0] + wide[1]).astype(np.int16))


def test_a_lone_speaker_hears_silence():
    result = mix(tone(440)[np.newaxis, :])
    assert not result.minus[0].any()
    assert np.array_equal(result.listener, tone(440))


def test_loud_speakers_are_clipped_not_wrapped_around():
    loud = np.full((3, FRAME_SAMPLES), 20_000, dtype=np.int16)
    result = mix(loud)
    assert result.listener.dtype == np.int16 and result.minus.dtype == np.int16
    assert (result.listener == 32_767).all()
    assert (result.minus == 32_767).all()  # 40,000 clipped
    quiet = mix(-loud)
    assert (quiet.listener == -32_768).all()


def test_mix_minus_is_computed_from_the_unclipped_sum():
    # the listener mix clips, but a speaker who is half of it hears the other half intact
    blocks = np.stack([np.full(FRAME_SAMPLES, 30_000), np.full(FRAME_SAMPLES, 10_000)])
    result = mix(blocks.astype(np.int16))
    assert (result.listener == 32_767).all()
    assert (result.minus[0] == 10_000).all() and (result.minus[1] == 30_000).all()


def test_an_empty_room_mixes_to_silence():
    result = mix(np.zeros((0, FRAME_SAMPLES), dtype=np.int16))
    assert result.listener.shape == (FRAME_SAMPLES,) and not result.listener.any()
    assert result.minus.shape == (0, FRAME_SAMPLES) and result.levels.shape == (0,)
    with pytest.raises(ValueError):
        mix(np.zeros(FRAME_SAMPLES, dtype=np.int16))


def test_levels_are_computed_for_all_speakers_at_once():
    blocks = np.stack(
        [
            np.full(FRAME_SAMPLES, 32_767, dtype=np.int16),  # full scale
            tone(440, amplitude=16_384),  # sine at half scale: -9 dBFS RMS
            np.zeros(FRAME_SAMPLES, dtype=np.int16),
            tone(440, amplitude=46),  # about -60 dBFS RMS: the edge of "speaking"
        ]
    )
    dbfs = rms_dbfs(blocks)
    assert dbfs.shape == (4,)
    assert dbfs[0] == pytest.approx(0.0, abs=0.01)
    assert dbfs[1] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert dbfs[2] == SILENCE_DBFS
    assert dbfs[3] == pytest.approx(-60, abs=0.5)
    levels = mix(blocks).levels
    assert levels[0] == pytest.approx(1.0, abs=1e-3)
    assert levels[1] == pytest.approx(1 - 9.03 / 60, abs=0.01)
    assert levels[2] == 0.0 and levels[3] < 0.01
    assert np.array_equal(levels, levels_from_dbfs(dbfs))


def test_audio_level_header_value_follows_rfc_6465():
    assert audio_level_dbov(0.0) == 0
    assert audio_level_dbov(-30.4) == 30
    assert audio_level_dbov(SILENCE_DBFS) == 127
    assert audio_level_dbov(-500) == 127


def test_stereo_frames_are_averaged_to_mono():
    interleaved = np.array([100, 300, -200, -400, 32_767, 32_767], dtype=np.int16)
    assert to_mono(interleaved, 2).tolist() == [200, -300, 32_767]
    assert to_mono(interleaved, 1).tolist() == interleaved.tolist()


def test_fifo_waits_for_a_cushion_then_plays_in_order():
    fifo = SampleFifo(prime=2, limit=6)
    fifo.push(np.arange(960, dtype=np.int16))
    assert fifo.pop() is None  # priming: one block is not a cushion yet
    fifo.push(np.arange(960, 1440, dtype=np.int16))  # frames need not be 20 ms long
    fifo.push(np.arange(1440, 1920, dtype=np.int16))
    assert fifo.pop().tolist() == list(range(960))
    assert fifo.pop().tolist() == list(range(960, 1920))
    assert fifo.pop() is None and fifo.underruns == 1


def test_fifo_drops_old_audio_instead_of_falling_behind():
    fifo = SampleFifo(prime=2, limit=6)
    for block in range(7):  # one past the limit: keep only the newest cushion
        fifo.push(np.full(960, block, dtype=np.int16))
    assert len(fifo) == 2 * 960 and fifo.dropped_samples == 5 * 960
    assert [int(fifo.pop()[0]) for _ in range(2)] == [5, 6]


def test_fifo_forgets_everything_when_cleared():
    fifo = SampleFifo()
    for _ in range(3):
        fifo.push(tone(440))
    fifo.clear()
    assert len(fifo) == 0 and fifo.pop() is None
