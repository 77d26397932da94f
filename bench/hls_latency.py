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
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np
from av.audio.frame import AudioFrame

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "docs" / "benchmarks"
sys.path.insert(0, str(ROOT))

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


# -- glass-to-ear for WebRTC and HLS listeners in one run ------------------------------------------


async def hls_players(targets: list[tuple[str, int]], slug: str, per_target: int, until: float):
    """Players that fetch as hls.js does on a live playlist (reload every target duration, each
    new segment once); what each got and when is left to the analysis."""

    async def one(label: str, port: int, join_at: float) -> dict:
        await asyncio.sleep(max(0.0, join_at - time.time()))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        log = {"path": label, "joined": time.time(), "first": None, "fetched": {}}
        seen: set[str] = set()

        async def get(path: str) -> tuple[int, bytes]:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            return int(head[9:12]), await reader.readexactly(length)

        try:
            if label.startswith("ll-"):
                await low_latency(get, log, seen, until)
                return log
            while time.time() < until:
                reloaded = time.time()
                status, body = await get(f"/s/{slug}/hls/live.m3u8")
                if status == 200:
                    text = body.decode()
                    if log["first"] is None:
                        log["first"] = [time.time(), text]
                    names = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
                    names += re.findall(r"^([0-9a-f]+-\d+\.m4s)$", text, re.M)
                    for name in names:
                        if name not in seen:
                            seen.add(name)
                            status, _ = await get(f"/s/{slug}/hls/{name}")
                            if status == 200:
                                log["fetched"][name] = time.time()
                await asyncio.sleep(max(0.0, 1.0 - (time.time() - reloaded)))
        except (OSError, asyncio.IncompleteReadError, AttributeError) as error:
            log["error"] = f"{error!r} at {time.time() - until:+.1f} s from the end"
        finally:
            writer.close()
        return log

    async def low_latency(get, log, seen, until) -> None:
        """LL-HLS as hls.js plays it: ask for the next part with a blocking reload, fetch the
        parts it lists that are new (the init segment first)."""
        wanted = None
        while time.time() < until:
            query = "" if wanted is None else f"?_HLS_msn={wanted[0]}&_HLS_part={wanted[1]}"
            status, body = await get(f"/s/{slug}/hls/live.m3u8{query}")
            if status != 200:
                wanted = None
                await asyncio.sleep(0.1)
                continue
            text = body.decode()
            if log["first"] is None:
                log["first"] = [time.time(), text]
            names = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
            names += re.findall(r'#EXT-X-PART:.*URI="([^"]+)"', text)
            for name in names:
                if name not in seen:
                    seen.add(name)
                    status, _ = await get(f"/s/{slug}/hls/{name}")
                    if status == 200:
                        log["fetched"][name] = time.time()
            if "#EXT-X-ENDLIST" in text:
                return
            hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="[^"]*-(\d+)\.(\d+)\.m4s"', text)
            wanted = (int(hint.group(1)), int(hint.group(2)))  # the part after the newest

    start = time.time()
    span = max(1.0, (until - start) * 0.4)  # players join over the first 40% of the run
    rng = random.Random(7)
    tasks = [
        one(label, port, start + rng.uniform(0, span))
        for label, port in targets
        for _ in range(per_target)
    ]
    return await asyncio.gather(*tasks)


def parse_parts(playlist: str) -> dict[str, tuple[float, float]]:
    """LL-HLS parts: name -> (program date-time of its first sample, duration)."""
    parts, at = {}, None
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            at = datetime.datetime.fromisoformat(line.split(":", 1)[1]).timestamp()
        elif line.startswith("#EXT-X-PART:") and at is not None:
            duration = float(re.search(r"DURATION=([0-9.]+)", line).group(1))
            parts[re.search(r'URI="([^"]+)"', line).group(1)] = (at, duration)
            at += duration
    return parts


def play_hls(log: dict, segments: dict, sync_count: int, target: float, hold_back=None):
    """When this player plays each stream time: hls.js starts `sync_count` target durations
    (LL-HLS: `hold_back` seconds, its PART-HOLD-BACK, over parts) behind the live edge of its
    first playlist, plays in real time from when that unit arrived, and stalls when a unit
    arrives after it was due. Returns (start stream time, [(unit start, wall offset)]) or None."""
    if log["first"] is None:
        return None
    if hold_back is not None:
        listed_parts = parse_parts(log["first"][1])
        edge = max(at + duration for at, duration in listed_parts.values())
        start = edge - hold_back
    else:
        listed = parse(log["first"][1])
        edge = listed[-1][1] + listed[-1][2]
        start = edge - sync_count * target
    order = sorted(
        (pdt, name) for name, (pdt, dur) in segments.items() if pdt + dur > start and pdt < 1e12
    )
    offsets, offset = [], None
    for pdt, name in order:
        fetched = log["fetched"].get(name)
        if fetched is None:
            break
        if offset is None:
            offset = fetched - max(start, pdt)  # playback starts once the first one is in
        elif fetched > pdt + offset:
            offset = fetched - pdt  # a stall: the player waits for the segment
        offsets.append((pdt, offset))
    return start, offsets


def heard_at(start: float, offsets: list, at: float) -> float | None:
    if at < start:
        return None
    current = None
    for pdt, offset in offsets:
        if pdt <= at:
            current = offset
        else:
            break
    return None if current is None else at + current


def webrtc_onsets(client, clock_offset: float) -> list[float]:
    """Wall times at which a WebRTC listener's decoded audio had each beep's onset."""
    onsets = []
    for at, block in client.recording.blocks:
        loud = np.abs(block.astype(np.int32)) > 8000
        if loud.any():
            when = at + clock_offset + int(np.argmax(loud)) / RATE
            if not onsets or when - onsets[-1] > BEEP_EVERY / 2:
                onsets.append(when)
    return onsets


def log_size(path) -> int:
    return os.path.getsize(path)


def requests_since(path, mark: int) -> int:
    """HLS requests daphne logged after `mark` (a reader of its own: daphne's offset stays)."""
    with open(path, "rb") as file:
        file.seek(mark)
        return file.read().count(b'"GET /s/')


async def glass_to_ear(
    site,
    seconds: float,
    players: int,
    webrtc: int,
    segment_seconds: float,
    part_seconds=None,
    paths=("nginx", "daphne", "ll-nginx"),
    origin=None,
):
    from rooms.hls import StorageWriter

    config = MediaConfig.loopback()
    router = Router(str(site.room.pk), config)
    writer = StorageWriter(site.room.pk)
    writer.clear()
    store = Store()

    def write(name: str, data: bytes) -> None:
        writer.write(name, data)
        store.write(name, data)

    publisher = HlsPublisher(
        HlsSegmenter(
            stream=f"{time.time_ns():x}"[:12],
            write=write,
            delete=writer.delete,
            window=6,
            segment_seconds=segment_seconds,
            part_seconds=part_seconds,
        )
    )
    router.add_listener_tap(publisher)
    speaker = AudioClient(config, direction="sendrecv")
    track = BeepTrack()
    speaker.pc.getTransceivers()[0].sender.replaceTrack(track)
    await speaker.join(router, "speaker", role="speaker")
    listeners = [AudioClient(config) for _ in range(webrtc)]
    for index, listener in enumerate(listeners):
        await listener.join(router, f"listener-{index}")
    clock_offset = time.time() - time.monotonic()
    await asyncio.sleep(3)  # the first segments exist
    until = time.time() + seconds
    command = [sys.executable, __file__, "--hls-players"]
    ports = {"nginx": site.port, "daphne": site.daphne_port, "ll-nginx": site.port}
    targets = [[path, ports[path]] for path in paths if part_seconds or path != "ll-nginx"]
    command.append(json.dumps([targets, site.room.slug, players, until]))
    from bench.hls_cache import cpu_seconds

    mark, daphne_before = log_size(site.log), cpu_seconds(site.daphne.pid)
    encoder_before = publisher.busy_seconds
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    origin["encoder"] = publisher.busy_seconds - encoder_before
    origin["cpu"] = cpu_seconds(site.daphne.pid) - daphne_before
    origin["seconds"] = time.time() - (until - seconds)
    origin["requests"] = requests_since(site.log, mark)
    logs = json.loads(out)
    await asyncio.sleep(1)
    await router.close()
    await speaker.close()
    for listener in listeners:
        await listener.close()
    return store, track, listeners, logs, clock_offset


def live(args) -> None:
    from bench.hls_cache import serving

    origin: dict[str, float] = {}
    with serving(segment_seconds=args.segment_seconds, stream=False) as site:
        store, track, listeners, logs, clock_offset = asyncio.run(
            glass_to_ear(
                site,
                args.seconds,
                args.players,
                args.webrtc,
                args.segment_seconds,
                args.part_seconds,
                args.paths,
                origin,
            )
        )
    segments_list, seen = [], set()
    for _, text in store.playlists:
        for segment in parse(text):
            if segment[0] not in seen:
                seen.add(segment[0])
                segments_list.append(segment)
    segments = {name: (pdt, duration) for name, pdt, duration in segments_list}
    in_stream = beep_times(store, segments_list)
    emitted = track.beeps
    target = float(re.search(r"TARGETDURATION:(\d+)", store.playlists[-1][1]).group(1))

    results: dict[str, list[float]] = {}
    stalls: dict[str, int] = {}
    for listener in listeners:
        for at in webrtc_onsets(listener, clock_offset):
            near = [e for e in emitted if 0 <= at - e <= 1.0]
            if near:
                results.setdefault("WebRTC", []).append(at - near[-1])
    pairs = []
    for at in in_stream:
        near = [e for e in emitted if -0.05 <= at - e <= 1.0]
        if near:
            pairs.append((near[0], at))
    parts: dict[str, tuple[float, float]] = {}
    for _, text in store.playlists:
        parts.update(parse_parts(text))
    hold_back = None
    if parts:
        hold_back = float(re.search(r"PART-HOLD-BACK=([0-9.]+)", store.playlists[-2][1]).group(1))
    for sync_count in (2, 3, 0):
        for log in logs:
            low_latency = log["path"].startswith("ll-")
            if low_latency != (sync_count == 0):
                continue
            played = play_hls(
                log,
                parts if low_latency else segments,
                sync_count,
                target,
                hold_back if low_latency else None,
            )
            if played is None:
                continue
            start, offsets = played
            through = "through nginx" if log["path"].endswith("nginx") else "on daphne"
            if low_latency:
                label = f"LL-HLS {through}, PART-HOLD-BACK {hold_back:.2f} s behind"
            else:
                label = f"HLS {through}, {sync_count} x target behind"
            stalls[label] = stalls.get(label, 0) + sum(
                1 for a, b in zip(offsets, offsets[1:], strict=False) if b[1] > a[1] + 1e-6
            )
            for emitted_at, stream_at in pairs:
                heard = heard_at(start, offsets, stream_at)
                if heard is not None:
                    results.setdefault(label, []).append(heard - emitted_at)
    report = {}
    for label, values in results.items():
        values.sort()
        report[label] = {
            "p50": values[len(values) // 2],
            "p95": values[min(len(values) - 1, int(0.95 * len(values)))],
            "max": values[-1],
            "n": len(values),
            "stalls": stalls.get(label, 0),
            "values": values,
        }
        print(
            f"{label}: glass-to-ear p50 {report[label]['p50']:.2f} s, p95 "
            f"{report[label]['p95']:.2f} s, max {values[-1]:.2f} s over {len(values)} beeps heard,"
            f" stalls {stalls.get(label, 0)}"
        )
    errors = [log.get("error") for log in logs if log.get("error")]
    print(f"{len(logs)} HLS players, {len(errors)} errors; {len(pairs)} beeps in the stream")
    print(
        f"daphne while they played: {origin['cpu'] / origin['seconds'] * 100:.1f}% of a core,"
        f" {origin['requests'] / origin['seconds']:.1f} HLS requests a second; the AAC encoder"
        f" and segmenter thread {origin['encoder'] / origin['seconds'] * 100:.1f}% of a core"
    )
    for error in errors[:5]:
        print("  player error:", error)
    if not args.no_write:
        ASSETS.mkdir(parents=True, exist_ok=True)
        (ASSETS / "glass_to_ear.json").write_text(json.dumps(report, indent=1))
        plot(report, ASSETS / "glass_to_ear.png")


def plot(report: dict, path: Path) -> None:
    from bench.pilplot import Panel, chart

    series = []
    for label, data in report.items():
        values = data["values"]
        qs = [q / 100 for q in range(0, 101, 5)]
        series.append(
            (
                label,
                [q * 100 for q in qs],
                [values[min(len(values) - 1, int(q * len(values)))] for q in qs],
            )
        )
    chart(
        path,
        [
            Panel(
                "glass-to-ear by percentile of beeps heard (s)",
                "percentile",
                series,
                hlines=[("HLS target: 4 s p95", 4.0), ("LL-HLS target: 2 s p95", 2.0)],
            )
        ],
        panel_width=760,
        height=640,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--live", action="store_true", help="WebRTC and HLS players, one run")
    parser.add_argument("--webrtc", type=int, default=5, help="WebRTC listeners (--live)")
    parser.add_argument("--part-seconds", type=float, help="LL-HLS parts (--live)")
    parser.add_argument(
        "--paths", nargs="+", default=["nginx", "daphne", "ll-nginx"], help="(--live) players"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report", action="store_true", help="the plot from the last --live run")
    parser.add_argument("--hls-players", help=argparse.SUPPRESS)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--segment-seconds", type=float, default=1.0)
    parser.add_argument("--containers", action="store_true", help="compare MPEG-TS and fMP4")
    args = parser.parse_args()
    if args.report:
        report = json.loads((ASSETS / "glass_to_ear.json").read_text())
        plot({k.replace("×", "x"): v for k, v in report.items()}, ASSETS / "glass_to_ear.png")
        return
    if args.hls_players:
        targets, slug, count, until = json.loads(args.hls_players)
        print(json.dumps(asyncio.run(hls_players(targets, slug, count, until))))
        return
    if args.live:
        live(args)
        return
    if args.containers:
        compare_containers()
        return
    asyncio.run(run(args.seconds, args.players, args.segment_seconds))


if __name__ == "__main__":
    main()
