"""Audio fan-out benchmark: one Space, one speaker, N listeners, each side in its own process.

The server process runs a `rooms.media.Router` and a tiny JSON-lines signaling socket on
127.0.0.1; a speaker process plays a quiet 440 Hz tone with a loud 100 ms beep every second;
listener processes run aiortc clients that decode what they hear. Measured per N: the server's
CPU per listener-second (getrusage of the server process), packets lost per listener, time from
join to the first decoded audio, beep-onset latency from speaker to listener, and whether every
listener hears 440 Hz (FFT). Run it in a loopback-only network namespace:

    scripts/in-netns.sh .venv/bin/python bench/audio_fanout.py  # N = 1, 50, 200; 1,000 joins
    scripts/in-netns.sh .venv/bin/python bench/audio_fanout.py --listeners 50 --churn 0

Results are printed and written to docs/benchmarks.md, section "Audio fan-out".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import gc
import json
import logging
import multiprocessing as mp
import os
import platform
import re
import resource
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from av.audio.frame import AudioFrame  # noqa: E402

from rooms.media import MediaConfig, Router  # noqa: E402
from rooms.media.aiortc_compat import close_peer_connection, gather_on  # noqa: E402

SAMPLE_RATE = 48_000
FRAME = 960
FRAME_SECONDS = FRAME / SAMPLE_RATE
BEEP_EVERY = 50  # frames: one beep per second
BEEP_FRAMES = 5  # 100 ms
QUIET, LOUD = 1_500, 12_000  # tone amplitudes between and during beeps
ONSET_RMS = 3_000  # the beep's RMS after the client's stereo encoding is ~6,000; the bed ~750
CONFIG = MediaConfig.loopback()
PROBES = 5


# -- signaling ------------------------------------------------------------------------------------


async def request(port: int, message: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
    reply = json.loads(await reader.readline())
    writer.close()
    await writer.wait_closed()
    return reply


def request_sync(port: int, message: dict[str, Any]) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def pin(role: str) -> None:
    """Give the server a core of its own; the peers stand in for other machines.

    The server and the speaker also run ahead of unrelated work on a shared machine (when the
    user may raise priority): the benchmark measures the router, not the neighbours.
    """
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or os.environ.get("BENCH_NOPIN"):
        return
    os.sched_setaffinity(0, {cores[0]} if role == "server" else set(cores[1:]))
    with contextlib.suppress(PermissionError):
        os.nice({"server": -10, "speaker": -5, "listeners": 10}[role])


def serve(ready: mp.Queue) -> None:
    """The server process: one Space's router behind a JSON-lines socket."""
    logging.basicConfig(level=logging.WARNING)
    pin("server")
    if os.environ.get("BENCH_SWITCH"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))

    pauses: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[:] = [time.perf_counter()]
            elif started:
                pauses.append(time.perf_counter() - started[0])

    gc.callbacks.append(on_gc)

    async def main() -> None:
        router = Router("bench", CONFIG)
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            message = json.loads(await reader.readline())
            op = message["op"]
            reply: dict[str, Any] = {}
            if op == "join":
                connect = (
                    router.connect_speaker
                    if message["role"] == "speaker"
                    else (router.connect_listener)
                )
                reply["answer"] = await connect(message["peer_id"], message["offer"])
            elif op == "usage":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                reply = {
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "wall": time.monotonic(),
                    "stats": router.stats(),
                    "rss": usage.ru_maxrss,
                    "gc_full": len(pauses),
                    "gc_max_ms": 1000 * max(pauses, default=0.0),
                }
            elif op == "shutdown":
                await router.close()
                done.set()
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        ready.put(server.sockets[0].getsockname()[1])
        gc.freeze()  # as a deployment would after start-up: fewer long full collections
        async with server:
            await done.wait()

    profile = os.environ.get("BENCH_PROFILE")
    if profile:  # BENCH_PROFILE=path: where the server spends its time, for pstats
        import cProfile

        cProfile.runctx("asyncio.run(main())", globals(), locals(), profile)
    else:
        asyncio.run(main())


# -- peers ----------------------------------------------------------------------------------------


class BeepTrack(MediaStreamTrack):
    """A microphone: a quiet 440 Hz tone with a loud beep every second, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.start: float | None = None
        self.onsets: list[float] = []

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self.start is None:
            self.start = now
        wait = self.start + self.index * FRAME_SECONDS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        n = np.arange(self.index * FRAME, (self.index + 1) * FRAME)
        loud = self.index % BEEP_EVERY < BEEP_FRAMES
        if self.index % BEEP_EVERY == 0:
            self.onsets.append(time.monotonic())  # handed to the encoder now
        wave = (LOUD if loud else QUIET) * np.sin(2 * np.pi * 440 * n / SAMPLE_RATE)
        frame = AudioFrame.from_ndarray(
            wave.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.index * FRAME
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.index += 1
        return frame


async def open_peer(
    port: int, peer_id: str, role: str, track: MediaStreamTrack | None
) -> RTCPeerConnection:
    pc = RTCPeerConnection(CONFIG.rtc_configuration())
    pc.addTransceiver(track or "audio", direction="sendonly" if track else "recvonly")
    with gather_on(CONFIG.bind_addresses):
        await pc.setLocalDescription(await pc.createOffer())
    reply = await request(
        port, {"op": "join", "peer_id": peer_id, "role": role, "offer": pc.localDescription.sdp}
    )
    await pc.setRemoteDescription(RTCSessionDescription(reply["answer"], "answer"))
    return pc


def speak(port: int, control: mp.Queue, results: mp.Queue) -> None:
    """The speaker process: publishes the beeping tone; also joins late-joiner probes."""
    logging.basicConfig(level=logging.WARNING)
    pin("speaker")

    async def main() -> None:
        track = BeepTrack()
        pc = await open_peer(port, "speaker", "speaker", track)
        results.put(("speaker-ready", None))
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, control.get) == "probe":
            results.put(("probes", await probe()))
        results.put(("speaker", track.onsets))
        await close_peer_connection(pc)

    async def probe() -> list[dict[str, Any]]:
        """Late joiners in a lightly loaded process: what a person joining a busy room sees."""
        probes = []
        for i in range(PROBES):
            listener = Listener(port, f"probe-{i}")
            listener.recording = True
            await listener.join()
            for _ in range(250):
                if listener.first_audio is not None:
                    break
                await asyncio.sleep(0.02)
            probes.append(listener)
        await asyncio.sleep(3.0)  # a few beeps for latency
        report = [
            {
                "join_to_audio": (x.first_audio - x.join_started) if x.first_audio else None,
                "onsets": x.onsets,
            }
            for x in probes
        ]
        await asyncio.gather(*(x.close() for x in probes))
        return report

    asyncio.run(main())


class Listener:
    """A full listener, as a browser: aiortc decodes in real time, beep onsets are noted."""

    def __init__(self, port: int, peer_id: str) -> None:
        self.port = port
        self.peer_id = peer_id
        self.pc: RTCPeerConnection | None = None
        self.join_started = 0.0
        self.first_audio: float | None = None
        self.blocks: list[tuple[float, np.ndarray]] = []
        self.onsets: list[float] = []
        self.recording = False
        self.reader: asyncio.Task[None] | None = None

    async def join(self) -> None:
        self.join_started = time.monotonic()
        self.pc = await open_peer(self.port, self.peer_id, "listener", None)
        receiver = self.pc.getReceivers()[0]
        self.reader = asyncio.get_running_loop().create_task(self.read(receiver.track))

    async def read(self, track: MediaStreamTrack) -> None:
        previous = 0.0
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if self.first_audio is None:
                    self.first_audio = now
                if not self.recording:
                    continue
                pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
                level = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
                if level > ONSET_RMS >= previous:
                    self.onsets.append(now)
                previous = level
                self.blocks.append((now, pcm.copy()))

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.pc is not None:
            await close_peer_connection(self.pc)


class CrowdListener:
    """A listener that keeps what arrives (ICE, DTLS, SRTP all real) and decodes it afterwards.

    200 real-time Opus decoders do not fit on the cores left over by the server; browsers
    decode on their own machines. So the crowd records arrival time, sequence number and
    payload of every packet, and decodes offline to check the tone and find the beeps.
    """

    def __init__(self, port: int, peer_id: str) -> None:
        self.port = port
        self.peer_id = peer_id
        self.pc: RTCPeerConnection | None = None
        self.join_started = 0.0
        self.first_packet: float | None = None
        self.recording = False
        self.packets: list[tuple[float, int, bytes]] = []

    async def join(self) -> None:
        self.join_started = time.monotonic()
        self.pc = await open_peer(self.port, self.peer_id, "listener", None)
        receiver = self.pc.getReceivers()[0]

        async def keep(packet: Any, arrival_time_ms: int) -> None:
            now = time.monotonic()
            if self.first_packet is None:
                self.first_packet = now
            if self.recording:
                self.packets.append((now, packet.sequence_number, packet.payload))

        receiver._handle_rtp_packet = keep  # bench-only: skip aiortc's real-time decoder

    def report(self) -> dict[str, Any]:
        decoder = av.CodecContext.create("libopus", "r")
        times, pcm = [], []
        for arrived, _, payload in self.packets:
            for frame in decoder.decode(av.Packet(payload)):
                block = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
                times.append(arrived)
                pcm.append(block)
        onsets, previous = [], 0.0
        for arrived, block in zip(times, pcm, strict=True):
            level = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
            if level > ONSET_RMS >= previous:
                onsets.append(arrived)
            previous = level
        sequences = [seq for _, seq, _ in self.packets]
        span = (sequences[-1] - sequences[0]) % 65536 + 1 if sequences else 0
        return {
            "join_to_audio": (self.first_packet - self.join_started if self.first_packet else None),
            "received": len(self.packets),
            "lost": span - len(set(sequences)),
            "frequency": dominant_frequency(np.concatenate(pcm)) if pcm else 0.0,
            "onsets": onsets,
        }

    async def close(self) -> None:
        if self.pc is not None:
            await close_peer_connection(self.pc)


def dominant_frequency(samples: np.ndarray) -> float:
    if samples.size < FRAME:
        return 0.0
    x = samples.astype(np.float64) * np.hanning(samples.size)
    power = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)
    power[freqs < 50] = 0
    return float(freqs[int(np.argmax(power))])


def listen(port: int, ids: list[str], control: mp.Queue, results: mp.Queue) -> None:
    """A crowd process: many listeners in one event loop."""
    logging.basicConfig(level=logging.WARNING)
    pin("listeners")

    async def main() -> None:
        crowd = [CrowdListener(port, peer_id) for peer_id in ids]
        for start in range(0, len(crowd), 10):  # join in small waves, like a crowd arriving
            await asyncio.gather(*(x.join() for x in crowd[start : start + 10]))
        for _ in range(300):  # up to 15 s for everyone's first packet
            if all(x.first_packet is not None for x in crowd):
                break
            await asyncio.sleep(0.05)
        results.put(("joined", len(crowd)))
        loop = asyncio.get_running_loop()
        window = await loop.run_in_executor(None, control.get)
        for x in crowd:
            x.recording = True
        started = time.monotonic()
        await asyncio.sleep(window)
        for x in crowd:
            x.recording = False
        elapsed = time.monotonic() - started
        expected = elapsed / FRAME_SECONDS
        results.put(("listeners", [{**x.report(), "expected": expected} for x in crowd]))
        await loop.run_in_executor(None, control.get)
        await asyncio.gather(*(x.close() for x in crowd))

    asyncio.run(main())


# -- one run --------------------------------------------------------------------------------------


def core_times() -> dict[int, tuple[int, int, int]]:
    """Per-core (busy, softirq, total) jiffies from /proc/stat."""
    cores = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                values = [int(v) for v in fields]
                idle = values[3] + values[4]
                cores[int(name[3:])] = (sum(values) - idle, values[6], sum(values))
    return cores


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(listeners: int, window: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    results: mp.Queue = ctx.Queue()
    server = ctx.Process(target=serve, args=(ready,), daemon=True)
    server.start()
    port = ready.get(timeout=30)

    speaker_control: mp.Queue = ctx.Queue()
    speaker = ctx.Process(target=speak, args=(port, speaker_control, results), daemon=True)
    speaker.start()
    kind, _ = results.get(timeout=30)
    assert kind == "speaker-ready"

    workers = min(listeners, 4)
    ids = [f"listener-{i}" for i in range(listeners)]
    controls = [ctx.Queue() for _ in range(workers)]
    processes = [
        ctx.Process(target=listen, args=(port, ids[w::workers], controls[w], results), daemon=True)
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    joined = 0
    while joined < listeners:
        kind, count = results.get(timeout=120)
        assert kind == "joined"
        joined += count
    time.sleep(1.0)  # let join work settle before measuring the steady state

    start = request_sync(port, {"op": "usage"})
    cores_before = core_times()
    for control in controls:
        control.put(window)
    time.sleep(window)
    cores_after = core_times()
    server_core = min(os.sched_getaffinity(0))
    busy0, soft0, total0 = cores_before[server_core]
    busy1, soft1, total1 = cores_after[server_core]
    end = request_sync(port, {"op": "usage"})
    reports: list[dict[str, Any]] = []
    while len(reports) < listeners:
        kind, batch = results.get(timeout=window + 300)
        assert kind == "listeners"
        reports.extend(batch)
    speaker_control.put("probe")
    kind, probes = results.get(timeout=120)
    assert kind == "probes"
    speaker_control.put("stop")
    kind, beeps = results.get(timeout=30)
    assert kind == "speaker"
    for control in controls:
        control.put("stop")
    for process in processes:
        process.join(timeout=60)
    speaker.join(timeout=30)
    request_sync(port, {"op": "shutdown"})
    server.join(timeout=30)

    cpu = end["cpu"] - start["cpu"]
    wall = end["wall"] - start["wall"]
    sent_rate = (end["stats"]["packets_sent"] - start["stats"]["packets_sent"]) / wall / listeners

    def latencies(group: list[dict[str, Any]]) -> list[float]:
        found = []
        for report in group:
            for onset in report["onsets"]:
                sent = [b for b in beeps if b <= onset]
                if sent and onset - sent[-1] < 0.5:
                    found.append(onset - sent[-1])
        return found

    probe_latency = latencies(probes)
    crowd_latency = latencies(reports)
    probe_joins = [p["join_to_audio"] for p in probes if p["join_to_audio"] is not None]
    joins = [r["join_to_audio"] for r in reports if r["join_to_audio"] is not None]
    lost = [max(r["lost"], 0) for r in reports]
    heard = sum(1 for r in reports if abs(r["frequency"] - 440) <= 10)
    arrived = [r["received"] / r["expected"] for r in reports]
    return {
        "listeners": listeners,
        "cpu_percent": 100 * cpu / wall,
        "cpu_ms_per_listener_second": 1000 * cpu / (wall * listeners),
        "lost_mean": float(np.mean(lost)),
        "lost_max": int(max(lost)),
        "arrived_min_percent": 100 * min(arrived),
        "server_packets_per_listener_second": sent_rate,
        "server_core_busy_percent": 100 * (busy1 - busy0) / max(total1 - total0, 1),
        "server_core_softirq_percent": 100 * (soft1 - soft0) / max(total1 - total0, 1),
        "tick_ms_mean": end["stats"]["tick_ms_mean"],
        "gc_full_collections": end["gc_full"],
        "gc_max_ms": end["gc_max_ms"],
        "max_tick_lag_ms": end["stats"]["max_tick_lag_ms"],
        "join_p50_ms": 1000 * percentile(joins, 50),
        "join_p95_ms": 1000 * percentile(joins, 95),
        "late_join_p50_ms": 1000 * percentile(probe_joins, 50),
        "late_join_max_ms": 1000 * max(probe_joins, default=float("nan")),
        "latency_p50_ms": 1000 * percentile(probe_latency, 50),
        "latency_p95_ms": 1000 * percentile(probe_latency, 95),
        "crowd_latency_p50_ms": 1000 * percentile(crowd_latency, 50),
        "crowd_latency_p95_ms": 1000 * percentile(crowd_latency, 95),
        "late_ticks": end["stats"]["late_ticks"] - start["stats"]["late_ticks"],
        "heard_440": heard,
        "window_s": wall,
        "server_stats": end["stats"],
    }


# -- churn ----------------------------------------------------------------------------------------


async def churn(cycles: int) -> dict[str, Any]:
    """Join and leave one room `cycles` times in-process; report what is left behind."""
    from aiortc import RTCPeerConnection as PeerConnection

    router = Router("churn", CONFIG)
    speaker_track = BeepTrack()
    speaker = RTCPeerConnection(CONFIG.rtc_configuration())
    speaker.addTransceiver(speaker_track, direction="sendonly")
    with gather_on(CONFIG.bind_addresses):
        await speaker.setLocalDescription(await speaker.createOffer())
    answer = await router.connect_speaker("speaker", speaker.localDescription.sdp)
    await speaker.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def cycle(n: int) -> None:
        pc = RTCPeerConnection(CONFIG.rtc_configuration())
        pc.addTransceiver("audio", direction="recvonly")
        with gather_on(CONFIG.bind_addresses):
            await pc.setLocalDescription(await pc.createOffer())
        answer = await router.connect_listener(f"l{n}", pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        for _ in range(500):
            if pc.connectionState == "connected":
                break
            await asyncio.sleep(0.01)
        await router.disconnect(f"l{n}")
        await close_peer_connection(pc)

    def footprint() -> dict[str, int]:
        gc.collect()
        return {
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
            "peer_connections": sum(isinstance(o, PeerConnection) for o in gc.get_objects()),
            "rss_mb": round(rss_bytes() / 2**20),
        }

    samples = []
    started = time.monotonic()
    for done in range(0, cycles, 10):
        await asyncio.gather(*(cycle(n) for n in range(done, done + 10)))
        if done % 200 == 0 or done + 10 >= cycles:
            await asyncio.sleep(0.2)
            samples.append({"cycles": done + 10, **footprint()})
    elapsed = time.monotonic() - started
    await close_peer_connection(speaker)
    await router.close()
    return {"cycles": cycles, "seconds": elapsed, "samples": samples}


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- report ---------------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| listeners | server CPU, % of one core | server CPU per listener-second "
        "| packets sent per listener-second | packets lost per listener (mean / max) "
        "| join to first packet (p50 / p95) | speaker to listener, packet arrival (p50 / p95) "
        "| late joiner: join to decoded audio (p50 / max) "
        "| late joiner: speaker to decoded audio (p50 / p95) | 440 Hz heard |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['listeners']} | {r['cpu_percent']:.1f}%"
            f" | {r['cpu_ms_per_listener_second']:.2f} ms"
            f" | {r['server_packets_per_listener_second']:.1f}"
            f" | {r['lost_mean']:.2f} / {r['lost_max']}"
            f" | {r['join_p50_ms']:.0f} / {r['join_p95_ms']:.0f} ms"
            f" | {r['crowd_latency_p50_ms']:.0f} / {r['crowd_latency_p95_ms']:.0f} ms"
            f" | {r['late_join_p50_ms']:.0f} / {r['late_join_max_ms']:.0f} ms"
            f" | {r['latency_p50_ms']:.0f} / {r['latency_p95_ms']:.0f} ms"
            f" | {r['heard_440']}/{r['listeners']} |"
        )
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    heading = "## Audio fan-out"
    existing = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{heading}\n\n{text.strip()}\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(existing):
        updated = pattern.sub(lambda _: section + "\n", existing).rstrip() + "\n"
    else:
        updated = existing.rstrip() + "\n\n" + section
    path.parent.mkdir(exist_ok=True)
    path.write_text(updated)


def churn_text(result: dict[str, Any]) -> str:
    first, last = result["samples"][0], result["samples"][-1]
    lines = [
        "| after cycles | open fds | asyncio tasks | threads | live peer connections | RSS |",
        "|---|---|---|---|---|---|",
    ]
    for sample in result["samples"]:
        lines.append(
            f"| {sample['cycles']} | {sample['fds']} | {sample['tasks']} | {sample['threads']}"
            f" | {sample['peer_connections']} | {sample['rss_mb']} MB |"
        )
    return (
        f"Join/leave churn: {result['cycles']} listeners joined (ICE and DTLS completed) and left\n"
        f"one room, 10 at a time, in {result['seconds']:.0f} s, server and clients in one process\n"
        f"(`--churn {result['cycles']}`). From {first['cycles']} to {last['cycles']} cycles: fds "
        f"{first['fds']} to {last['fds']}, tasks {first['tasks']} to {last['tasks']}, RSS "
        f"{first['rss_mb']} to {last['rss_mb']} MB.\n\n" + "\n".join(lines)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listeners", type=int, nargs="*", default=[1, 50, 200])
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--churn", type=int, default=1000, help="join/leave cycles (0: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    parts = []
    if args.listeners:
        rows = []
        load = [os.getloadavg()[0]]
        for n in args.listeners:
            print(f"running {n} listener(s) ...", flush=True)
            rows.append(run(n, args.window))
            load.append(os.getloadavg()[0])
            print(json.dumps(rows[-1], indent=1, default=str), flush=True)
        text = table(rows)
        print(text)
        machine = f"{os.cpu_count()} cores, Python {platform.python_version()}"
        parts.append(
            "One Space, one speaker (quiet 440 Hz tone, loud 100 ms beep every second) and N\n"
            f"listeners, all on this machine over loopback (`bench/audio_fanout.py`, {machine},\n"
            f"{args.window:.0f} s measured per row once everyone has joined; 1-minute load\n"
            f"average {min(load):.1f} to {max(load):.1f} during the runs). The server process has\n"
            "core 0 to itself (at nice -10, ahead of unrelated work); the speaker (nice -5)\n"
            "and the listener processes (4, at nice 10) share core 1. Server CPU is the server\n"
            "process's own (`getrusage`); the kernel's loopback delivery of each packet to its\n"
            "listener is not in it. The crowd completes ICE, DTLS\n"
            "and SRTP for real but records packets and decodes them afterwards (200 real-time\n"
            "decoders do not fit on one core): it gives loss, join to first packet, speaker to\n"
            "listener at packet arrival and the FFT check. Late joiners are 5 browser-like\n"
            "listeners that join one after another once the crowd is in and decode in real time\n"
            "through aiortc's 80 ms jitter buffer.\n\n"
            + (
                "Other work shared this machine during the runs (see the load average): the\n"
                "server's core was not idle, so rates and CPU vary between runs; rerun on an idle\n"
                "machine before comparing designs.\n\n"
                if max(load) > 1.5
                else ""
            )
            + text
        )
    if args.churn:
        result = asyncio.run(churn(args.churn))
        for sample in result["samples"]:
            print(sample)
        parts.append(churn_text(result))
        print(parts[-1])
    if parts and not args.no_write:
        write_section("\n\n".join(parts))


if __name__ == "__main__":
    main()
