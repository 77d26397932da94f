"""Recordings written the way a live Space writes them, and what a player decodes from them."""

import io

import av
import numpy as np
import pytest
from django.utils import timezone

from rooms.media.hls import HlsSegmenter
from rooms.models import Recording
from rooms.recordings import RecordingWriter, recordings_storage
from tests.factories import RoomFactory
from tests.media.audio_peers import dominant_frequency, tone_share

RATE = 48_000
WALL = 1_800_000_000.0  # when the first synthetic stream starts


def tones(frequencies: list[float], seconds_each: float = 1.0) -> np.ndarray:
    """One tone per `seconds_each` seconds, so the frequency tells where in time audio is."""
    parts = []
    for frequency in frequencies:
        n = np.arange(int(seconds_each * RATE))
        parts.append(8000 * np.sin(2 * np.pi * frequency * n / RATE))
    return np.concatenate(parts).astype(np.int16)


def write_stream(recording, audio: np.ndarray, wall: float = WALL, *, close: bool = True):
    """A stream of the recording, cut and written through the recordings storage exactly as
    the router's recording tap does."""
    stream = f"{int(wall * 1000):x}"
    writer = RecordingWriter(recording.prefix, stream)
    segmenter = HlsSegmenter(
        stream=stream, write=writer.write, segment_seconds=2.0, window=3, keep=True
    )
    for i, block in enumerate(audio.reshape(-1, 960)):
        segmenter.feed(block, wall + i * 0.02)
    if close:
        segmenter.close()
    return segmenter


def ended_recording(**room_fields) -> Recording:
    room = RoomFactory(record=True, state="ended", ended_at=timezone.now(), **room_fields)
    return Recording.objects.create(room=room, prefix=f"recordings/{room.pk}-test/")


def files_of(recording) -> set[str]:
    storage = recordings_storage()

    def walk(folder):
        try:
            folders, files = storage.listdir(folder)
        except FileNotFoundError:
            return set()
        found = {folder + name for name in files}
        for sub in folders:
            found |= walk(f"{folder}{sub}/")
        return found

    return walk(recording.prefix)


def decode_file(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), "r") as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return (np.concatenate(frames) * 32767).astype(np.int16)


def audio_at(data: bytes, at: float, seconds: float = 0.25) -> np.ndarray:
    """What a player plays after seeking the file to `at` seconds."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        container.seek(int(at / stream.time_base), stream=stream)
        kept = []
        for frame in container.decode(stream):
            start = float(frame.pts * stream.time_base)
            samples = (frame.to_ndarray().reshape(-1) * 32767).astype(np.int16)
            if start + frame.samples / RATE <= at:
                continue
            skip = max(0, int((at - start) * RATE))
            kept.append(samples[skip:])
            if sum(part.size for part in kept) >= seconds * RATE:
                break
    return np.concatenate(kept)[: int(seconds * RATE)]


def assert_tone(samples: np.ndarray, frequency: float) -> None:
    assert samples.size > 2000
    assert dominant_frequency(samples) == pytest.approx(frequency, abs=15)


def assert_absent(samples: np.ndarray, frequency: float) -> None:
    assert tone_share(samples, frequency) < 0.01
