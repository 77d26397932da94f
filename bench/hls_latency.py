"""HLS from the mixer: glass-to-ear with plain HLS, and the AAC encoder's CPU per Space.

    scripts/in-netns.sh .venv/bin/python bench/hls_latency.py --seconds 60 --players 1000 \
        [--segment-seconds 0.5]
    .venv/bin/python bench/hls_latency.py --containers   # MPEG-TS against fMP4, bytes and CPU

Glass-to-ear: a real aiortc speaker (WebRTC on loopback, as in the audio fan-out benchmark)
plays a quiet 440 Hz tone with a loud 1 kHz beep every 2 s into a `rooms.media.Router`, whose
`HlsPublisher` writes segments and the playlist (1 s segments, window 6) into memory, noting
when each file was written. The beeps' onsets are found by decoding the segments; each beep's
time in the stream is its segment's EXT-X-PROGRAM-DATE-TIME plus its offset. Players are then
modelled as hls.js plays a live playlist (its defaults): load the playlist at a random moment,
start `liveSyncDurationCount` = 3 target durations before the live edge, play in real time,
reload the playlist every target duration. Glass-to-ear of a beep for a player is the wall time
it plays the beep minus the time the speaker's track produced it; a player that would need a
segment before it was written (and its next reload) counts as a stall. Fetch and decode times
on the player are not modelled (on loopback they are milliseconds; over a network add one
round trip and the segment's download).

Encoder CPU: the `HlsPublisher` thread's CPU time (thread_time) over the run, per second of
audio, which is the extra cost of HLS per Space whatever the number of players.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import fractions
import io
import random
import re
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np
from av.audio.frame import AudioFrame

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rooms.media import HlsPublisher, HlsSegmenter, MediaConfig, Router  # noqa: E402
from rooms.media.hls import PLAYLIST  # noqa: E402
from tests.media.audio_peers import AudioClient, ToneTrack  # noqa: E402

RATE = 48_000
FRAME = 960
BEEP_EVERY = 2.0
BEEP_SECONDS = 0.1


class BeepTrack(ToneTrack):
    """The speaker: a quiet 440 Hz tone, a loud 1 kHz beep every 2 s; notes when each beep's
    first frame left the track (wall clock)."""

    def __init__(self) -> None:
        super().__init__(440, amplitude=1500)
        self.beeps: list[float] = []

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        index = self._index - 1
        t = index * FRAME / RATE
        phase = t % BEEP_EVERY
        if phase < BEEP_SECONDS:
            if phase < FRAME / RATE / 2:
                self.beeps.append(time.time())
            n = np.arange(index * FRAME, (index + 1) * FRAME)
            beep = 16000 * np.sin(2 * np.pi * 1000 * n / RATE)
            frame = AudioFrame.from_ndarray(
                beep.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = RATE
            frame.pts = index * FRAME
            frame.time_base = fractions.Fraction(1, RATE)
        return frame


class Store:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.written: dict[str, float] = {}
        self.playlists: list[tuple[float, str]] = []

    def write(self, name: str, data: bytes) -> None:
        now = time.time()
        self.files[name] = data
        self.written.setdefault(name, now)
        if name == PLAYLIST:
            self.playlists.append((now, data.decode()))

    def delete(self, name: str) -> None:
        pass  # keep everything for the analysis


def parse(playlist: str) -> list[tuple[str, float, float]]:
    """(name, program date-time as Unix seconds, duration) per segment."""
    segments, pdt, duration = [], None, None
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = datetime.datetime.fromisoformat(line.split(":", 1)[1]).timestamp()
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].rstrip(","))
        elif line and not line.startswith("#"):
            segments.append((line, pdt, duration))
    return segments


def beep_times(store: Store, segments: list[tuple[str, float, float]]) -> list[float]:
    """Stream times (program date-time) of each beep onset, from the decoded segments."""
    init = next(data for name, data in store.files.items() if name.endswith("init.mp4"))
    onsets = []
    for name, pdt, _ in segments:
        with av.open(io.BytesIO(init + store.files[name]), "r", format="mp4") as container:
            pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        loud = np.abs(pcm) > 0.25  # the beep is ~0.5 full scale, the tone under 0.05
        if loud.any():
            onsets.append(pdt + int(np.argmax(loud)) / RATE)
    # one onset per beep (a beep may straddle two segments)
    merged = []
    for onset in sorted(onsets):
        if not merged or onset - merged[-1] > BEEP_EVERY / 2:
            merged.append(onset)
    return merged


def model_players(store, heard, beeps, players, sync_count=3, seed=1):
    """hls.js-like players joining at random moments: glass-to-ear per beep heard, stalls."""
    rng = random.Random(seed)
    all_segments = {name: (pdt, duration) for name, pdt, duration in parse(store.playlists[-1][1])}
    for _, text in store.playlists:
        for name, pdt, duration in parse(text):
            all_segments.setdefault(name, (pdt, duration))
    first_time, last_time = store.playlists[3][0], store.playlists[-1][0] - 8
    results, stalls = [], 0
    target = float(re.search(r"TARGETDURATION:(\d+)", store.playlists[-1][1]).group(1))
    for _ in range(players):
        joined = rng.uniform(first_time, last_time)
        visible = [text for at, text in store.playlists if at <= joined][-1]
        listed = parse(visible)
        edge = listed[-1][1] + listed[-1][2]
        start = edge - sync_count * target  # stream time where playback starts
        # playlist reloads every target duration from the join on
        offset = joined - start  # wall time = stream time + offset, from then on
        for name, (pdt, _duration) in all_segments.items():
            if pdt < start:
                continue
            needed = pdt + offset
            written = store.written[name]
            reloads = joined + target * np.ceil(max(0.0, written - joined) / target)
            if reloads > needed:
                stalls += 1
        for emitted, at in zip(beeps, heard, strict=False):
            if at >= start:
                results.append(at + offset - emitted)
    return results, stalls


async def run(seconds: float, players: int, segment_seconds: float) -> None:
    config = MediaConfig.loopback()
    router = Router("hls-bench", config)
    store = Store()
    publisher = HlsPublisher(
        HlsSegmenter(
            stream="bench",
            write=store.write,
            delete=store.delete,
            window=6,
            segment_seconds=segment_seconds,
        )
    )
    router.add_listener_tap(publisher)
    speaker = AudioClient(config, direction="sendrecv")
    track = BeepTrack()
    speaker.pc.getTransceivers()[0].sender.replaceTrack(track)
    await speaker.join(router, "speaker", role="speaker")
    started_cpu = publisher.busy_seconds
    started = time.time()
    await asyncio.sleep(seconds)
    wall = time.time() - started
    busy = publisher.busy_seconds - started_cpu
    await router.close()
    await speaker.close()

    segments = []
    seen = set()
    for _, text in store.playlists:
        for segment in parse(text):
            if segment[0] not in seen:
                seen.add(segment[0])
                segments.append(segment)
    heard = beep_times(store, segments)
    emitted = [b for b in track.beeps if b < segments[-1][1]]
    # pair each beep onset in the stream with the emission nearest before it (within a second;
    # the stream's clock is the mixer's, so an onset a few ms "before" its beep still pairs)
    pairs = []
    for at in heard:
        near = [e for e in emitted if -0.05 <= at - e <= 1.0]
        if near:
            pairs.append((near[0], at))
    to_mixer = [at - e for e, at in pairs]
    availability = []
    for name, pdt, duration in segments:
        availability.append(store.written[name] - (pdt + duration))
    results, stalls = model_players(store, [at for _, at in pairs], [e for e, _ in pairs], players)
    results.sort()

    def pct(values, q):
        return values[min(len(values) - 1, int(q * len(values)))]

    ms = [1000 * statistics.median(to_mixer), 1000 * max(to_mixer)]
    late = [1000 * statistics.median(availability), 1000 * max(availability)]
    print(f"run {wall:.1f} s, {len(segments)} segments of {segment_seconds} s, {len(pairs)} beeps")
    print(f"AAC encoder + segmenter thread CPU: {busy / wall * 100:.2f}% of one core")
    print(f"speaker frame -> its place in the stream (PDT): p50 {ms[0]:.0f} ms, max {ms[1]:.0f} ms")
    print(
        f"segment written after its last sample was mixed: p50 {late[0]:.0f}, max {late[1]:.0f} ms"
    )
    for count in (3, 2, 1):
        found, stalled = model_players(
            store, [at for _, at in pairs], [e for e, _ in pairs], players, sync_count=count
        )
        found.sort()
        print(
            f"{players} players starting {count} target durations behind the live edge"
            f"{' (hls.js default)' if count == 3 else ''}: glass-to-ear"
            f" p50 {pct(found, 0.5):.2f} s, p95 {pct(found, 0.95):.2f} s,"
            f" max {found[-1]:.2f} s, stalls {stalled}"
        )


def compare_containers(seconds: float = 10.0) -> None:
    """The same AAC-LC stream (mono, 48 kHz, 64 kbps) muxed as MPEG-TS and as fMP4/CMAF."""
    n = np.arange(int(seconds * RATE))
    audio = (8000 * np.sin(2 * np.pi * 440 * n / RATE)).astype(np.int16)
    for fmt, options in [
        ("mpegts", {}),
        (
            "mp4",
            {
                "movflags": "cmaf+frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": "1000000",
            },
        ),
    ]:
        buffer = io.BytesIO()
        started = time.process_time()
        with av.open(buffer, "w", format=fmt, options=options) as output:
            stream = output.add_stream("aac", rate=RATE)
            stream.layout, stream.bit_rate = "mono", 64_000
            for index, block in enumerate(audio.reshape(-1, FRAME)):
                frame = AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate, frame.pts = RATE, index * FRAME
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        cpu = time.process_time() - started
        size = len(buffer.getvalue())
        print(
            f"{fmt}: {size:,} bytes for {seconds:.0f} s = {size * 8 / seconds / 1000:.1f} kbps"
            f" on the wire, encode + mux {cpu * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--segment-seconds", type=float, default=1.0)
    parser.add_argument("--containers", action="store_true", help="compare MPEG-TS and fMP4")
    args = parser.parse_args()
    if args.containers:
        compare_containers()
        return
    asyncio.run(run(args.seconds, args.players, args.segment_seconds))


if __name__ == "__main__":
    main()
