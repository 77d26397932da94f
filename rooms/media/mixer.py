"""The room's audio arithmetic on plain numpy arrays: mix, mix-minus, speaking levels.

Everything here works on 20 ms blocks of mono 48 kHz int16 samples (one row per speaker), is
vectorised over speakers, and has no I/O, so it is unit-tested without WebRTC.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz: one Opus frame, one router tick
INT16_MAX = 32_767
INT16_MIN = -32_768
FULL_SCALE = 32_768.0
SILENCE_DBFS = -127.0  # the floor RFC 6465 audio levels use; digital silence reports this
LEVEL_FLOOR_DBFS = -60.0  # levels map [-60 dBFS, 0 dBFS] onto [0, 1]: below -60 is "not speaking"

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Mix:
    """One tick's result: what listeners hear, what each speaker hears, and how loud each was."""

    listener: Int16Array  # (FRAME_SAMPLES,) everyone mixed
    minus: Int16Array  # (speakers, FRAME_SAMPLES) everyone but row i, for speaker i
    dbfs: FloatArray  # (speakers,) RMS of each speaker's own block, in dBFS
    levels: FloatArray  # (speakers,) the same on a 0..1 speaking-indicator scale


def rms_dbfs(blocks: npt.NDArray[np.integer]) -> FloatArray:
    """RMS level of each row in dBFS (0 = full-scale square wave, silence = SILENCE_DBFS)."""
    x = np.asarray(blocks, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.shape[1] == 0:
        return np.full(x.shape[0], SILENCE_DBFS)
    mean_square = np.einsum("ij,ij->i", x, x) / x.shape[1]
    rms = np.sqrt(mean_square) / FULL_SCALE
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(rms)
    return np.clip(db, SILENCE_DBFS, 0.0)


def levels_from_dbfs(dbfs: npt.ArrayLike) -> FloatArray:
    """Speaking-indicator scale: LEVEL_FLOOR_DBFS and below is 0, full scale is 1."""
    db = np.asarray(dbfs, dtype=np.float64)
    return np.clip((db - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS, 0.0, 1.0)


def audio_level_dbov(dbfs: float) -> int:
    """RFC 6465 `ssrc-audio-level` value: 0 (loudest) to 127 (silence), i.e. -dBov."""
    return int(round(min(127.0, max(0.0, -dbfs))))


def mix(blocks: npt.NDArray[np.int16]) -> Mix:
    """Mix speakers once and derive every mix-minus from the same sum, clipping to int16.

    blocks: (speakers, FRAME_SAMPLES) int16, one row per speaker whose audio is routed this tick.
    """
    blocks = np.asarray(blocks)
    if blocks.ndim != 2:
        raise ValueError(f"expected a (speakers, samples) array, got shape {blocks.shape}")
    speakers, samples = blocks.shape
    if speakers == 0:
        empty = np.zeros(0, dtype=np.float64)
        return Mix(
            listener=np.zeros(samples, dtype=np.int16),
            minus=np.zeros((0, samples), dtype=np.int16),
            dbfs=empty,
            levels=empty,
        )
    # int32 holds the sum of up to 65,536 int16 rows without overflow
    wide = blocks.astype(np.int32, copy=False)
    total = wide.sum(axis=0, dtype=np.int32)
    listener = np.clip(total, INT16_MIN, INT16_MAX).astype(np.int16)
    minus = np.clip(total[np.newaxis, :] - wide, INT16_MIN, INT16_MAX).astype(np.int16)
    dbfs = rms_dbfs(blocks)
    return Mix(listener=listener, minus=minus, dbfs=dbfs, levels=levels_from_dbfs(dbfs))


def recording_mix(blocks: npt.NDArray[np.int16], rows: list[int]) -> Int16Array:
    """The mix of only some speakers' rows (the recorded ones), clipped to int16 like `mix`."""
    if not rows:
        return np.zeros(blocks.shape[1], dtype=np.int16)
    total = blocks[rows].astype(np.int32).sum(axis=0, dtype=np.int32)
    return np.clip(total, INT16_MIN, INT16_MAX).astype(np.int16)


def to_mono(samples: npt.NDArray[np.int16], channels: int) -> Int16Array:
    """Interleaved int16 samples with `channels` channels to mono by averaging the channels."""
    flat = np.asarray(samples).reshape(-1)
    if channels == 1:
        return flat.astype(np.int16, copy=False)
    per_channel = flat.reshape(-1, channels).astype(np.int32)
    return (per_channel.sum(axis=1) // channels).astype(np.int16)


class SampleFifo:
    """A speaker's decoded audio waiting for the next ticks, with a small jitter cushion.

    Decoded frames arrive in bursts; the tick pulls exactly one block. Playback starts (and
    restarts after running dry) once `prime` blocks are queued, and the queue is trimmed back to
    `prime` blocks when it grows past `limit` blocks so a speaker's delay cannot creep up.
    """

    def __init__(self, block: int = FRAME_SAMPLES, prime: int = 2, limit: int = 6) -> None:
        if not 1 <= prime <= limit:
            raise ValueError("need 1 <= prime <= limit")
        self.block = block
        self.prime = prime
        self.limit = limit
        self._chunks: deque[Int16Array] = deque()
        self._size = 0
        self._offset = 0  # samples already consumed from the first chunk
        self._playing = False
        self.underruns = 0
        self.dropped_samples = 0

    def __len__(self) -> int:
        return self._size

    def push(self, samples: npt.NDArray[np.int16]) -> None:
        """Queue decoded mono samples."""
        chunk = np.asarray(samples, dtype=np.int16).reshape(-1)
        if chunk.size == 0:
            return
        self._chunks.append(chunk)
        self._size += chunk.size
        if self._size > self.limit * self.block:
            self._discard(self._size - self.prime * self.block)

    def pop(self) -> Int16Array | None:
        """One block for this tick, or None while priming or when the speaker sent nothing."""
        if not self._playing:
            if self._size < self.prime * self.block:
                return None
            self._playing = True
        if self._size < self.block:
            self._playing = False
            self.underruns += 1
            return None
        out = np.empty(self.block, dtype=np.int16)
        filled = 0
        while filled < self.block:
            head = self._chunks[0]
            take = min(self.block - filled, head.size - self._offset)
            out[filled : filled + take] = head[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset == head.size:
                self._chunks.popleft()
                self._offset = 0
        self._size -= self.block
        return out

    def clear(self) -> None:
        """Forget queued audio (mute, demotion): nothing said before it may be heard after."""
        self._chunks.clear()
        self._size = 0
        self._offset = 0
        self._playing = False

    def _discard(self, count: int) -> None:
        self.dropped_samples += count
        while count > 0:
            head = self._chunks[0]
            available = head.size - self._offset
            if available <= count:
                self._chunks.popleft()
                self._offset = 0
                count -= available
                self._size -= available
            else:
                self._offset += count
                self._size -= count
                count = 0
