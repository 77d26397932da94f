"""Opus encoding of the room's mixes and conversion of decoded speaker frames to mono blocks.

The router encodes with PyAV's libopus directly (mono, a chosen bitrate) instead of aiortc's
per-sender encoder, which is fixed at 96 kbps stereo and would run once per listener.
"""

from __future__ import annotations

import fractions

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame

from .mixer import FRAME_SAMPLES, SAMPLE_RATE, Int16Array, to_mono

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class OpusEncoder:
    """Turns blocks of mono 48 kHz int16 audio into Opus packets, one packet per block.

    A block is `frame_samples` long: 20 ms (one router tick) by default, or 40 or 60 ms.
    """

    def __init__(self, bitrate: int = 32_000, frame_samples: int = FRAME_SAMPLES) -> None:
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.bit_rate = bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = TIME_BASE
        duration_ms = 1000 * frame_samples // SAMPLE_RATE
        if frame_samples % FRAME_SAMPLES or duration_ms not in (20, 40, 60):
            raise ValueError("an Opus frame here is 20, 40 or 60 ms")
        codec.options = {"application": "voip", "frame_duration": str(duration_ms)}  # speech
        self._codec = codec
        self.frame_samples = frame_samples
        self._pts = 0

    def encode(self, block: npt.NDArray[np.int16]) -> bytes | None:
        """Encode one block; None if the encoder held it back (not seen with Opus)."""
        samples = np.ascontiguousarray(block, dtype=np.int16).reshape(1, self.frame_samples)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += self.frame_samples
        packets = self._codec.encode(frame)
        if not packets:
            return None
        return bytes(packets[-1])


class MonoConverter:
    """Decoded speaker frames (any rate, layout, format) to mono 48 kHz int16 samples."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def convert(self, frame: AudioFrame) -> Int16Array:
        """Fast path for aiortc's Opus output (s16, 48 kHz); resample anything else."""
        if frame.format.name == "s16" and frame.sample_rate == SAMPLE_RATE:
            channels = len(frame.layout.channels)
            return to_mono(frame.to_ndarray(), channels)
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(parts).astype(np.int16, copy=False)
