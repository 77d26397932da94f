"""Test peers for the audio router: aiortc clients on loopback that play tones and record."""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass, field

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av.audio.frame import AudioFrame

from rooms.media import MediaConfig, Router
from rooms.media.aiortc_compat import close_peer_connection, gather_on
from rooms.media.mixer import FRAME_SAMPLES, SAMPLE_RATE

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE


class ToneTrack(MediaStreamTrack):
    """A microphone that plays a steady sine tone, paced in real time like a real one."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: int = 8000) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        wait = self._start + self._index * FRAME_SECONDS - now
        if wait > 0:
            await asyncio.sleep(wait)
        n = np.arange(self._index * FRAME_SAMPLES, (self._index + 1) * FRAME_SAMPLES)
        wave = self.amplitude * np.sin(2 * np.pi * self.frequency * n / SAMPLE_RATE)
        frame = AudioFrame.from_ndarray(
            wave.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._index * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        self._index += 1
        return frame


@dataclass
class Recording:
    """Everything a peer heard: (arrival time, mono block) pairs."""

    blocks: list[tuple[float, np.ndarray]] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)  # each block's place in the stream, in samples

    def between(self, start: float, end: float) -> np.ndarray:
        parts = [block for at, block in self.blocks if start <= at < end]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def first_at(self) -> float | None:
        return self.blocks[0][0] if self.blocks else None


class AudioClient:
    """A browser stand-in: one aiortc peer connection on loopback, optionally playing a tone."""

    def __init__(
        self,
        config: MediaConfig,
        *,
        tone: float | None = None,
        direction: str = "recvonly",
    ) -> None:
        self.config = config
        self.pc = RTCPeerConnection(config.rtc_configuration())
        self.recording = Recording()
        self._reader: asyncio.Task[None] | None = None
        self.tone = ToneTrack(tone) if tone is not None else None
        self.pc.addTransceiver(self.tone or "audio", direction=direction)

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._reader = asyncio.get_running_loop().create_task(self._record(track))

    async def _record(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
                self.recording.blocks.append((time.monotonic(), pcm.astype(np.int16)))
                self.recording.pts.append(frame.pts)
        except MediaStreamError:
            pass

    async def offer(self) -> str:
        offer = await self.pc.createOffer()
        with gather_on(self.config.bind_addresses):
            await self.pc.setLocalDescription(offer)
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def join(self, router: Router, peer_id: str, role: str = "listener") -> str:
        offer = await self.offer()
        if role == "speaker":
            answer = await router.connect_speaker(peer_id, offer)
        else:
            answer = await router.connect_listener(peer_id, offer)
        await self.accept(answer)
        await self.connected()
        return answer

    async def connected(self, within: float = 5.0) -> None:
        async def wait() -> None:
            while self.pc.connectionState != "connected":
                if self.pc.connectionState in ("failed", "closed"):
                    raise ConnectionError(self.pc.connectionState)
                await asyncio.sleep(0.01)

        await asyncio.wait_for(wait(), within)

    async def close(self) -> None:
        await close_peer_connection(self.pc)
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass


def rms(samples: np.ndarray) -> float:
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def spectrum(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = samples.astype(np.float64) * np.hanning(samples.size)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)
    return freqs, power


def dominant_frequency(samples: np.ndarray) -> float:
    freqs, power = spectrum(samples)
    power[freqs < 50] = 0
    return float(freqs[int(np.argmax(power))])


def tone_share(samples: np.ndarray, frequency: float, width: float = 20.0) -> float:
    """Fraction of the signal's power within `width` Hz of `frequency` (0 for silence)."""
    freqs, power = spectrum(samples)
    total = power[freqs >= 50].sum()
    if total == 0:
        return 0.0
    return float(power[np.abs(freqs - frequency) <= width].sum() / total)


async def eventually(condition, within: float = 2.0) -> bool:
    """Poll `condition` until it holds or `within` seconds pass; returns its last value."""
    for _ in range(int(within / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())
