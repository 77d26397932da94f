"""What recording costs: the second mix and the recording encoder per Space, assembling an
hour-long replay, and storage per hour.

    flock /tmp/spaces-bench.lock .venv/bin/python bench/recording_costs.py [--hours 1]

1. Second mix: `rooms.media.mixer.mix` (the listener mix every tick) against the recording mix
   without one speaker (`recording_mix`), per 20 ms tick, for 2, 4 and 8 speakers on stage.
2. Recording encoder: the tap's `HlsSegmenter` fed 60 s of speech-like audio (two gliding
   tones with pauses, a little noise) at 2 s and at 0.5 s segments, writing through the
   recordings storage (files on disk); CPU per second of audio, as a share of one core.
3. Live (`--live SECONDS`, run inside scripts/in-netns.sh): a real `Router` on loopback with
   two aiortc speakers (440 and 880 Hz) and a listener, with the recording tap a recorded Space
   gets (`RecordingTap` + `HlsPublisher`, files on disk): the router's mean tick and the
   process's CPU with both speakers recorded (no second mix) and with one declined (a second
   mix every tick), side by side in one run, and the recording thread's CPU.
4. Assembly: an hour of the recording mix cut into 2 s segments exactly as the router's tap
   writes them, then `rooms.recordings.assemble_files` (read every segment, VOD playlist,
   remux into one .m4a without re-encoding, write it back) on the filesystem storage; wall time
   and CPU; the bytes stored per hour of recording.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.test")

import django  # noqa: E402

django.setup()

from django.core.files.storage import storages  # noqa: E402

from rooms.hls import LiveFileStorage  # noqa: E402
from rooms.media import HlsPublisher, MediaConfig, Router  # noqa: E402
from rooms.media.hls import HlsSegmenter  # noqa: E402
from rooms.media.mixer import FRAME_SAMPLES, SAMPLE_RATE, mix, recording_mix  # noqa: E402
from rooms.recordings import RecordingTap, RecordingWriter, _streams, assemble_files  # noqa: E402
from tests.media.audio_peers import AudioClient  # noqa: E402


def speech_like(seconds: float) -> np.ndarray:
    """Two voices (tones with a vibrato) taking turns with pauses: not an easy signal for AAC."""
    n = np.arange(int(seconds * SAMPLE_RATE))
    t = n / SAMPLE_RATE
    voice = 6000 * np.sin(2 * np.pi * (180 + 40 * np.sin(2 * np.pi * 3 * t)) * t)
    voice += 3000 * np.sin(2 * np.pi * (900 + 200 * np.sin(2 * np.pi * 0.7 * t)) * t)
    talking = (np.sin(2 * np.pi * t / 7) > -0.6).astype(float)  # ~30% pauses
    noise = np.random.default_rng(1).normal(0, 300, n.size)
    return (voice * talking + noise).astype(np.int16)


def mix_costs() -> None:
    rng = np.random.default_rng(0)
    print("| speakers on stage | listener mix per tick | recording mix without one | share |")
    print("|---|---|---|---|")
    for speakers in (2, 4, 8):
        blocks = rng.integers(-8000, 8000, (speakers, FRAME_SAMPLES), dtype=np.int16)
        rows = list(range(1, speakers))
        times = {}
        for name, call in (
            ("mix", lambda b=blocks: mix(b)),
            ("rec", lambda b=blocks, r=rows: recording_mix(b, r)),
        ):
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(2000):
                    call()
                runs.append((time.perf_counter() - start) / 2000)
            times[name] = statistics.median(runs)
        share = times["rec"] / (FRAME_SAMPLES / SAMPLE_RATE)
        print(
            f"| {speakers} | {times['mix'] * 1e6:.1f} µs | {times['rec'] * 1e6:.1f} µs "
            f"| {share * 100:.3f}% |"
        )


def encoder_costs(folder: Path) -> None:
    """The segmenter as the recording tap's thread runs it, in a tight loop (process CPU; the
    live figure is a little higher: a block at a time through a queue and a thread wake-up)."""
    audio = speech_like(60.0)
    storage = LiveFileStorage(location=folder)
    print("\n| segments | encoder + writer CPU per s of audio | share of a core | files per hour |")
    print("|---|---|---|---|")
    for seconds in (2.0, 0.5):
        runs = []
        for run in range(3):
            writer = RecordingWriter(f"recordings/bench-{seconds}-{run}/", "5eed", storage)
            segmenter = HlsSegmenter(
                stream="5eed", write=writer.write, segment_seconds=seconds, window=3, keep=True
            )
            started = time.process_time()
            for i, block in enumerate(audio.reshape(-1, FRAME_SAMPLES)):
                segmenter.feed(block, 1.8e9 + i * 0.02)
            segmenter.close()
            runs.append((time.process_time() - started) / 60.0)
        per_second = statistics.median(runs)
        print(
            f"| {seconds:g} s | {per_second * 1000:.1f} ms | {per_second * 100:.2f}% "
            f"| {int(3600 / seconds)} |"
        )


async def live_phase(folder: Path, seconds: float, declined: bool) -> dict:
    config = MediaConfig.loopback()
    router = Router("bench", config)
    storage = LiveFileStorage(location=folder)
    writer = RecordingWriter(f"recordings/live-{declined}/", "5eed", storage)
    segmenter = HlsSegmenter(
        stream="5eed", write=writer.write, segment_seconds=2.0, window=3, keep=True
    )
    publisher = HlsPublisher(segmenter)
    router.add_recording_tap(RecordingTap(publisher, lambda wall_time: None))
    host = AudioClient(config, tone=440, direction="sendrecv")
    other = AudioClient(config, tone=880, direction="sendrecv")
    listener = AudioClient(config)
    try:
        await host.join(router, "host", "speaker")
        answer = await router.connect_speaker("other", await other.offer(), recorded=not declined)
        await other.accept(answer)
        await other.connected()
        await listener.join(router, "listener")
        await asyncio.sleep(2.0)  # joins settle
        before, cpu = router.stats(), time.process_time()
        busy = publisher.busy_seconds
        await asyncio.sleep(seconds)
        after, cpu = router.stats(), time.process_time() - cpu
        busy = publisher.busy_seconds - busy
    finally:
        for client in (host, other, listener):
            await client.close()
        await router.close()
    ticks = after["ticks"] - before["ticks"]
    return {
        "second mixes per tick": (after["second_mixes"] - before["second_mixes"]) / ticks,
        "tick ms mean (whole run)": after["tick_ms_mean"],
        "process CPU, % of a core (router, 3 peers, their clients)": 100 * cpu / seconds,
        "recording thread CPU, % of a core": 100 * busy / seconds,
        "dropped blocks": publisher.dropped,
    }


def live(folder: Path, seconds: float) -> None:
    rows = {}
    for round_ in range(2):  # alternate, so drifts in load hit both alike
        for declined in (False, True):
            result = asyncio.run(live_phase(folder / f"{round_}-{declined}", seconds, declined))
            for key, value in result.items():
                rows.setdefault(key, {}).setdefault(declined, []).append(value)
    print("\n| live, 2 speakers + 1 listener | nobody declined | one declined |")
    print("|---|---|---|")
    for key, values in rows.items():
        cells = [" / ".join(f"{v:.3g}" for v in values[declined]) for declined in (False, True)]
        print(f"| {key} | {cells[0]} | {cells[1]} |")


def assembly(folder: Path, hours: float) -> None:
    storage = LiveFileStorage(location=folder)
    prefix = "recordings/bench-hour/"
    writer = RecordingWriter(prefix, "5eed", storage)
    segmenter = HlsSegmenter(
        stream="5eed", write=writer.write, segment_seconds=2.0, window=3, keep=True
    )
    chunk = speech_like(60.0).reshape(-1, FRAME_SAMPLES)
    started = time.perf_counter()
    minutes = int(hours * 60)
    for minute in range(minutes):
        for i, block in enumerate(chunk):
            segmenter.feed(block, 1.8e9 + minute * 60 + i * 0.02)
    segmenter.close()
    print(f"\nwrote {minutes} min of segments in {time.perf_counter() - started:.0f} s")
    names = storage.listdir(prefix)[1]
    streams = _streams(names)
    segment_bytes = sum(storage.size(prefix + n) for n in names)
    wall, cpu = time.perf_counter(), time.process_time()
    assembled = assemble_files(storage, prefix, streams)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    audio_bytes = storage.size(prefix + "replay.m4a")
    print("| recording | segments | assembly wall | assembly CPU | .m4a | all files |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {assembled.duration / 3600:.2f} h | {len(streams['5eed'])} "
        f"({segment_bytes / 1e6:.1f} MB) | {wall:.1f} s | {cpu:.1f} s "
        f"| {audio_bytes / 1e6:.1f} MB | {assembled.storage_bytes / 1e6:.1f} MB |"
    )
    per_hour = assembled.storage_bytes / (assembled.duration / 3600)
    print(f"storage per hour of recording: {per_hour / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=1.0, help="0: skip the assembly")
    parser.add_argument("--live", type=float, default=0.0, help="seconds per live phase")
    args = parser.parse_args()
    assert storages  # settings loaded
    mix_costs()
    with tempfile.TemporaryDirectory() as folder:
        encoder_costs(Path(folder))
    if args.live > 0:
        with tempfile.TemporaryDirectory() as folder:
            live(Path(folder), args.live)
    if args.hours > 0:
        with tempfile.TemporaryDirectory() as folder:
            assembly(Path(folder), args.hours)


if __name__ == "__main__":
    main()
