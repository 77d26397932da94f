"""HLS from the listener mix: AAC-LC in fragmented MP4 (CMAF) segments and a live playlist.

The router hands the same 20 ms mix it sends its WebRTC listeners to a `HlsPublisher`, which
encodes and cuts it on a thread of its own, so nothing here runs on the event loop. Segments
and the playlist go to a `write(name, data)` callback and old segments to `delete(name)`: the
caller decides where they live (Django's storage API in `rooms.hls`). No Django here.

Why fMP4 and not MPEG-TS (measured with this encoder, 64 kbps mono, 1 s segments): TS wraps
every 21 ms AAC frame in its own PES packet padded to 188-byte packets, 169 kbps on the wire
for a 64 kbps stream; fMP4 carries it in 68 kbps (one 292-byte `moof` per segment). Both cost
~1% of a core to encode. Chromium's MSE plays AAC in fMP4 directly, Safari natively.

Names: `<stream>-init.mp4` (the `EXT-X-MAP`), `<stream>-<sequence>.m4s` and `live.m3u8`, where
`<stream>` is new for every publisher, so a restarted Space never reuses a name that a cache
may hold. A segment leaves the playlist after `window` newer ones and is deleted (unless
`keep`) once it has been out of it for as long as the playlist lasts, as RFC 8216 6.2.2 asks.
"""

from __future__ import annotations

import asyncio
import datetime
import fractions
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame

from .mixer import SAMPLE_RATE

logger = logging.getLogger(__name__)

PLAYLIST = "live.m3u8"
AAC_FRAME = 1024  # samples per AAC-LC frame
Writer = Callable[[str, bytes], None]
Deleter = Callable[[str], None]


@dataclass(frozen=True)
class Part:
    """A partial segment (LL-HLS): a fragment of the segment in progress, playable at once."""

    name: str
    duration: float


@dataclass(frozen=True)
class Segment:
    sequence: int
    name: str
    duration: float  # seconds
    program_time: float  # wall-clock time (Unix seconds) of its first sample
    parts: tuple[Part, ...] = ()


class _Sink:
    """A write-only file for the muxer: collects what it writes until it is taken."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._position = 0

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass


def _boxes(data: bytearray) -> tuple[list[tuple[bytes, bytes]], int]:
    """The complete top-level MP4 boxes at the start of `data`, and how many bytes they take."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        if size < 8 or at + size > len(data):
            break
        boxes.append((bytes(data[at + 4 : at + 8]), bytes(data[at : at + size])))
        at += size
    return boxes, at


def program_date_time(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HlsSegmenter:
    """Mono 48 kHz int16 blocks in, AAC-LC fMP4 segments and a live playlist out (synchronous).

        segmenter = HlsSegmenter(stream="19a2f3c", write=..., delete=...)
        segmenter.feed(block, wall_time)  # wall_time: when the block's first sample was mixed
        segmenter.close()  # the last segment and a playlist with EXT-X-ENDLIST

    The playlist is written after every new segment, the segment first, so a reader never sees
    a name before its data. Every segment line carries its EXT-X-PROGRAM-DATE-TIME.
    """

    def __init__(
        self,
        *,
        stream: str,
        write: Writer,
        delete: Deleter | None = None,
        segment_seconds: float = 1.0,
        window: int = 6,
        bitrate: int = 64_000,
        keep: bool = False,
        first_sequence: int = 0,
        part_seconds: float | None = None,
    ) -> None:
        if not 0.1 <= segment_seconds <= 10 or window < 3:
            raise ValueError("segments of 0.1-10 s, and at least 3 of them in the playlist")
        if part_seconds is not None and not 0.05 <= part_seconds <= segment_seconds:
            raise ValueError("parts of 0.05 s up to a segment's length")
        # LL-HLS: the muxer cuts a fragment per part; a segment is its parts' fragments joined
        self.part_seconds = part_seconds
        self._parts_per_segment = round(segment_seconds / part_seconds) if part_seconds else 1
        frames = math.ceil((part_seconds or segment_seconds) * SAMPLE_RATE / AAC_FRAME)
        self.part_target = frames * AAC_FRAME / SAMPLE_RATE  # the muxer's fragments are this long
        self._open: list[tuple[Part, bytes, float]] = []  # parts of the segment in progress
        self.stream = stream
        self._write = write
        self._delete = delete
        self.window = window
        self.keep = keep
        self._sink = _Sink()
        self._output = av.open(
            self._sink,
            "w",
            format="mp4",
            options={
                "movflags": "cmaf+frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": str(int((part_seconds or segment_seconds) * 1_000_000)),
            },
        )
        self._audio = self._output.add_stream("aac", rate=SAMPLE_RATE)
        self._audio.layout = "mono"
        self._audio.bit_rate = bitrate
        self._time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._fed = 0  # samples fed so far
        self._clock: deque[tuple[int, float]] = deque()  # (first sample, wall time) per block
        self._pending: list[tuple[int, int]] = []  # (pts, samples) of packets not yet cut out
        self._init_written = False
        self._sequence = first_sequence
        self.segments: deque[Segment] = deque()  # those in the playlist
        self._leaving: deque[Segment] = deque()  # out of the playlist, not yet deleted
        # a segment is at most one AAC frame longer than asked; EXTINF rounds to this or less
        self.target_duration = max(1, round(segment_seconds + AAC_FRAME / SAMPLE_RATE))
        self.closed = False

    @property
    def init_name(self) -> str:
        return f"{self.stream}-init.mp4"

    def feed(self, block: npt.NDArray[np.int16], wall_time: float) -> None:
        """Encode one block of the mix; writes whatever segments it completes."""
        samples = np.ascontiguousarray(block, dtype=np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._fed
        frame.time_base = self._time_base
        self._clock.append((self._fed, wall_time))
        self._fed += samples.shape[1]
        self._mux(self._audio.encode(frame))

    def close(self, *, playlist: bool = True) -> None:
        """Flush the encoder, write the last segment and a playlist that says the stream ended
        (not with `playlist=False`: a stream about to be removed need not rewrite it)."""
        if self.closed:
            return
        self.closed = True
        self._mux(self._audio.encode(None), final=True)
        self._output.close()  # writes the last fragment (and an index the stream does not need)
        self._cut(final=True)
        if playlist:
            self._write_playlist(ended=True)

    def remove_all(self) -> None:
        """Delete every file this stream still has (for a Space that is not kept)."""
        if self._delete is None:
            return
        for segment in [*self._leaving, *self.segments]:
            self._delete(segment.name)
            for part in segment.parts:
                self._delete(part.name)
        for part, _, _ in self._open:
            self._delete(part.name)
        self._open.clear()
        self._leaving.clear()
        self.segments.clear()
        if self._init_written:
            self._delete(self.init_name)

    # -- internals ----------------------------------------------------------------------------

    def _mux(self, packets: list[av.Packet], *, final: bool = False) -> None:
        for packet in packets:
            self._output.mux(packet)
            # the muxer writes a fragment out when the packet after its end arrives
            self._cut(final=final)
            self._pending.append((int(packet.pts), int(packet.duration or AAC_FRAME)))

    def _cut(self, *, final: bool) -> None:
        boxes, used = _boxes(self._sink.data)
        if not boxes:
            return
        kinds = [kind for kind, _ in boxes]
        if not self._init_written:
            if b"moov" not in kinds:
                return
            end = kinds.index(b"moov") + 1
            self._write(self.init_name, b"".join(box for _, box in boxes[:end]))
            self._init_written = True
            boxes, kinds = boxes[end:], kinds[end:]
        fragment: list[bytes] = []
        consumed = used
        for kind, box in boxes:
            if kind == b"moof":
                fragment = [box]
            elif kind == b"mdat" and fragment:
                fragment.append(box)
                self._publish(b"".join(fragment), final=final)
                fragment = []
        if fragment:  # a moof whose mdat has not arrived: keep it for the next time
            consumed -= len(fragment[0])
        del self._sink.data[:consumed]

    def _publish(self, data: bytes, *, final: bool) -> None:
        # every packet muxed before the one that made the muxer cut is in this fragment
        packets = self._pending
        if not packets:
            return
        first_pts = max(packets[0][0], 0)
        duration = sum(samples for _, samples in packets) / SAMPLE_RATE
        self._pending = []
        program_time = self._wall_time(first_pts)
        parts: tuple[Part, ...] = ()
        if self.part_seconds is not None:
            part = Part(f"{self.stream}-{self._sequence}.{len(self._open)}.m4s", duration)
            self._write(part.name, data)
            self._open.append((part, data, program_time))
            if len(self._open) < self._parts_per_segment and not final:
                self._write_playlist(ended=False)  # players blocked on this part get it now
                return
            parts = tuple(p for p, _, _ in self._open)
            data = b"".join(d for _, d, _ in self._open)
            program_time = self._open[0][2]
            duration = sum(p.duration for p in parts)
            self._open = []
        segment = Segment(
            sequence=self._sequence,
            name=f"{self.stream}-{self._sequence}.m4s",
            duration=duration,
            program_time=program_time,
            parts=parts,
        )
        self._sequence += 1
        self._write(segment.name, data)
        self.segments.append(segment)
        while len(self.segments) > self.window:
            self._leaving.append(self.segments.popleft())
        if not final:
            self._write_playlist(ended=False)
        # deleted once out of the playlist for as long as the playlist lasts (RFC 8216 6.2.2)
        while len(self._leaving) > self.window + 1:
            gone = self._leaving.popleft()
            if self._delete is not None:
                for part in gone.parts:  # parts go even when segments are kept
                    self._delete(part.name)
                if not self.keep:
                    self._delete(gone.name)

    def _wall_time(self, sample: int) -> float:
        while len(self._clock) > 1 and self._clock[1][0] <= sample:
            self._clock.popleft()
        start, wall = self._clock[0]
        return wall + (sample - start) / SAMPLE_RATE

    def playlist(self, *, ended: bool = False) -> str:
        """The live playlist over the current window."""
        first = self.segments[0].sequence if self.segments else self._sequence
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{9 if self.part_seconds else 7}",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
        ]
        low_latency = self.part_seconds is not None and not ended
        if low_latency:  # LL-HLS (RFC 8216bis): parts, blocking reloads, a preload hint
            lines.append(
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
                f"PART-HOLD-BACK={3 * self.part_target:.3f}"
            )
            lines.append(f"#EXT-X-PART-INF:PART-TARGET={self.part_target:.5f}")
        lines += [
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            f'#EXT-X-MAP:URI="{self.init_name}"',
        ]
        # parts are listed for the segments of the last three target durations, as asked
        nominal = self._parts_per_segment * self.part_target
        listed_from = len(self.segments) - math.ceil(3 * self.target_duration / nominal)
        for index, segment in enumerate(self.segments):
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.program_time)}")
            if low_latency and index >= listed_from:
                lines += [self._part_line(part) for part in segment.parts]
            lines.append(f"#EXTINF:{segment.duration:.5f},")
            lines.append(segment.name)
        if low_latency:
            if self._open:
                start = self._open[0][2]
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(start)}")
            lines += [self._part_line(part) for part, _, _ in self._open]
            lines.append(
                f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.stream}-{self._sequence}.'
                f'{len(self._open)}.m4s"'
            )
        if ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _part_line(part: Part) -> str:
        return f'#EXT-X-PART:DURATION={part.duration:.5f},URI="{part.name}",INDEPENDENT=YES'

    def _write_playlist(self, *, ended: bool) -> None:
        self._write(PLAYLIST, self.playlist(ended=ended).encode())


_STOP = object()


class HlsPublisher:
    """Runs a segmenter on its own thread: `feed` from the event loop costs a queue put.

    A listener tap of the router (`Router.add_listener_tap`). Anything the writer raises is
    logged, never raised into the router; if the thread falls more than `backlog` blocks behind
    (storage too slow), the oldest blocks are dropped and the next segment's program date-time
    says where the audio picks up again.
    """

    def __init__(
        self,
        segmenter: HlsSegmenter,
        *,
        backlog: int = 500,
        on_closed: Callable[[HlsSegmenter], None] | None = None,
        final_playlist: bool = True,
    ) -> None:
        self.segmenter = segmenter
        self._final_playlist = final_playlist
        self._queue: queue.Queue[object] = queue.Queue()
        self._backlog = backlog
        self._on_closed = on_closed
        self.dropped = 0
        self.busy_seconds = 0.0  # thread CPU spent encoding and writing
        self._thread = threading.Thread(
            target=self._run, name=f"hls-{segmenter.stream}", daemon=True
        )
        self._thread.start()

    def feed(self, block: npt.NDArray[np.int16], wall_time: float) -> None:
        if self._queue.qsize() >= self._backlog:
            self.dropped += 1
            return
        self._queue.put((block, wall_time))

    async def close(self) -> None:
        """Finish the stream (last segment, ended playlist) and stop the thread."""
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        segmenter = self.segmenter
        failed = False
        while True:
            item = self._queue.get()
            started = time.thread_time()
            try:
                if item is _STOP:
                    if not failed:
                        segmenter.close(playlist=self._final_playlist)
                    break
                if not failed:
                    block, wall_time = item  # type: ignore[misc]
                    segmenter.feed(block, wall_time)
            except Exception:
                failed = True  # a broken stream stays stopped; WebRTC listeners are unaffected
                logger.exception("HLS stream %s failed", segmenter.stream)
            finally:
                self.busy_seconds += time.thread_time() - started
        if self._on_closed is not None:
            try:
                self._on_closed(segmenter)
            except Exception:
                logger.exception("HLS stream %s: cleanup failed", segmenter.stream)
