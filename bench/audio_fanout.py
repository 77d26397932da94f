"""Audio fan-out benchmark: one Space, one speaker, N listeners, each side in its own process.

The server process runs a `rooms.media.Router` (or a peer design) behind a tiny JSON-lines
signaling socket on 127.0.0.1; a speaker process plays a quiet 440 Hz tone with a loud 100 ms
beep every second; 4 listener processes run aiortc clients whose ICE, DTLS and SRTP are real.
Measured per design and N: the server's CPU per listener-second (from the OS), audio delivered
and packets lost per listener, join to first packet, speaker-to-listener latency, late joiners'
time to decoded audio, server memory per listener, and the 440 Hz tone by FFT on a sample.

Designs, side by side in one run (each N runs every design back to back): ours (20 ms packets),
ours60 (listeners on 60 ms packets), naive (aiortc's MediaRelay, an Opus encoder per listener),
janus (Janus' Streaming plugin fed the same Opus stream as RTP) and audiobridge (Janus mixes and
encodes per participant). Janus' ICE needs the veth namespace, and the script installs Janus:

    scripts/in-netns-veth.sh .venv/bin/python bench/audio_fanout.py \
        --designs ours ours60 janus audiobridge naive --listeners 1 50 200 500 1000 1500 \
        --limit naive=200 audiobridge=200 ours=1000 --profile 1000

Ours alone needs only a loopback namespace: `scripts/in-netns.sh .venv/bin/python
bench/audio_fanout.py --listeners 200 1000 --churn 0`. `--profile N` adds a py-spy profile of
the router at N listeners; `--churn` joins and leaves 1,000 times and checks for leaks.
Results are printed and written to docs/benchmarks.md ("Audio fan-out") and
docs/benchmarks/audio_fanout.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fractions
import gc
import json
import logging
import multiprocessing as mp
import os
import platform
import re
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaRelay  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from aiortc.rtp import RtpPacket  # noqa: E402
from av.audio.frame import AudioFrame  # noqa: E402

from rooms.media import MediaConfig, Router  # noqa: E402
from rooms.media.aiortc_compat import close_peer_connection, gather_on  # noqa: E402
from rooms.media.codec import OpusEncoder  # noqa: E402

SAMPLE_RATE = 48_000
FRAME = 960
FRAME_SECONDS = FRAME / SAMPLE_RATE
BEEP_EVERY = 50  # frames: one beep per second
BEEP_FRAMES = 5  # 100 ms
QUIET, LOUD = 1_500, 12_000  # tone amplitudes between and during beeps
ONSET_RMS = 3_000  # the beep's RMS after the client's stereo encoding is ~6,000; the bed ~750
CONFIG = MediaConfig.loopback()
PROBES = 5
DECODED_PER_PROCESS = 25  # crowd listeners per process decoded for the FFT check and beep times
DESIGNS = ("ours", "ours60", "auto", "auto-hls", "naive", "janus", "audiobridge")
OURS = ("ours", "ours60", "auto", "auto-hls")  # rooms.media.Router
PACKET_SECONDS = {"ours60": 0.06}  # the listener packet length where not 20 ms
AUTO = ("auto", "auto-hls")  # 20 ms packets, 60 ms from SPACES_LISTENER_PACKET_UP_AT listeners on


def packet_seconds(design: str, listeners: int) -> float:
    if design in AUTO:
        return 0.06 if listeners >= CONFIG.listener_packet_up_at else FRAME_SECONDS
    return PACKET_SECONDS.get(design, FRAME_SECONDS)


JANUS_DESIGNS = ("janus", "audiobridge")

# Janus (Debian's `janus`) as a comparison peer. libnice skips loopback interfaces, so Janus runs
# in a namespace whose veth pair carries 127.0.0.x addresses (scripts/in-netns-veth.sh): Janus'
# ICE candidates are on j0 (127.0.0.2), its clients gather on j1 (127.0.0.3).
JANUS_HTTP = ("127.0.0.1", 8088)
JANUS_ADMIN = ("127.0.0.1", 7088)  # the admin API: packets each viewer was sent
JANUS_ADMIN_SECRET = "bench"
JANUS_CLIENT_ADDRESSES = ["127.0.0.3"]
JANUS_MOUNTPOINT = 1
JANUS_BRIDGE_ROOM = 1234
JANUS_RTP_PORT = 5002
JANUS_LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")


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


async def janus_http(
    path: str, body: dict[str, Any] | None = None, address: tuple[str, int] = JANUS_HTTP
) -> dict[str, Any]:
    """One request to Janus' HTTP API (POST with a body, GET without)."""
    reader, writer = await asyncio.open_connection(*address)
    data = json.dumps(body).encode() if body is not None else b""
    method = "POST" if body is not None else "GET"
    writer.write(
        f"{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def janus_watch(peer_id: str) -> RTCPeerConnection:
    """A Streaming plugin viewer: session, handle, watch, answer Janus' offer, start."""

    def tx() -> str:
        return os.urandom(6).hex()

    session = (await janus_http("/janus", {"janus": "create", "transaction": tx()}))["data"]["id"]
    attach = {
        "janus": "attach",
        "plugin": "janus.plugin.streaming",
        "transaction": tx(),
    }
    handle = (await janus_http(f"/janus/{session}", attach))["data"]["id"]
    watch = {"request": "watch", "id": JANUS_MOUNTPOINT}
    await janus_http(
        f"/janus/{session}/{handle}",
        {"janus": "message", "transaction": tx(), "body": watch},
    )
    offer = None
    while offer is None:  # long poll for the plugin's event that carries the offer
        events = await janus_http(f"/janus/{session}?maxev=5")
        for event in events if isinstance(events, list) else [events]:
            if "jsep" in event:
                offer = event["jsep"]["sdp"]
            elif event.get("janus") == "event" and "error" in event["plugindata"]["data"]:
                raise RuntimeError(f"Janus refused {peer_id}: {event}")
    pc = RTCPeerConnection(CONFIG.rtc_configuration())
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    with gather_on(JANUS_CLIENT_ADDRESSES):
        await pc.setLocalDescription(await pc.createAnswer())
    start = {
        "janus": "message",
        "transaction": tx(),
        "body": {"request": "start"},
        "jsep": {"type": "answer", "sdp": pc.localDescription.sdp},
    }
    await janus_http(f"/janus/{session}/{handle}", start)
    return pc


async def janus_bridge(
    peer_id: str, role: str, track: MediaStreamTrack | None
) -> RTCPeerConnection:
    """An AudioBridge participant: the speaker unmuted, listeners muted and receive-only."""

    def tx() -> str:
        return os.urandom(6).hex()

    session = (await janus_http("/janus", {"janus": "create", "transaction": tx()}))["data"]["id"]
    attach = {
        "janus": "attach",
        "plugin": "janus.plugin.audiobridge",
        "transaction": tx(),
    }
    handle = (await janus_http(f"/janus/{session}", attach))["data"]["id"]
    pc = RTCPeerConnection(CONFIG.rtc_configuration())
    pc.addTransceiver(track or "audio", direction="sendonly" if track else "recvonly")
    with gather_on(JANUS_CLIENT_ADDRESSES):
        await pc.setLocalDescription(await pc.createOffer())
    join = {
        "request": "join",
        "room": JANUS_BRIDGE_ROOM,
        "display": peer_id,
        "muted": role != "speaker",
    }
    message = {
        "janus": "message",
        "transaction": tx(),
        "body": join,
        "jsep": {"type": "offer", "sdp": pc.localDescription.sdp},
    }
    await janus_http(f"/janus/{session}/{handle}", message)
    answer = None
    while answer is None:  # long poll for the plugin's event that carries the answer
        events = await janus_http(f"/janus/{session}?maxev=5")
        for event in events if isinstance(events, list) else [events]:
            if "jsep" in event:
                answer = event["jsep"]["sdp"]
            elif event.get("janus") == "event" and "error" in event["plugindata"]["data"]:
                raise RuntimeError(f"Janus refused {peer_id}: {event}")
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


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


class NaiveRouter:
    """The design the router replaces: aiortc's MediaRelay, one RTCPeerConnection per listener.

    Each listener's sender pulls decoded frames from the relay and encodes Opus itself (aiortc's
    96 kbps stereo encoder), so the server encodes once per listener per 20 ms.
    """

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.source: MediaStreamTrack | None = None
        self.source_ready = asyncio.Event()
        self.peers: dict[str, RTCPeerConnection] = {}
        self.listeners: set[str] = set()
        self.drain: asyncio.Task[None] | None = None

    async def connect_speaker(self, peer_id: str, offer_sdp: str) -> str:
        pc = RTCPeerConnection(CONFIG.rtc_configuration())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.source = track
            drained = self.relay.subscribe(track)  # keep the speaker's track read while alone

            async def drain() -> None:
                with contextlib.suppress(MediaStreamError):
                    while True:
                        await drained.recv()

            self.drain = asyncio.get_running_loop().create_task(drain())
            self.source_ready.set()

        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        with gather_on(CONFIG.bind_addresses):
            await pc.setLocalDescription(await pc.createAnswer())
        self.peers[peer_id] = pc
        return pc.localDescription.sdp

    async def connect_listener(self, peer_id: str, offer_sdp: str) -> str:
        await self.source_ready.wait()
        assert self.source is not None
        pc = RTCPeerConnection(CONFIG.rtc_configuration())
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        pc.addTrack(self.relay.subscribe(self.source))
        with gather_on(CONFIG.bind_addresses):
            await pc.setLocalDescription(await pc.createAnswer())
        self.peers[peer_id] = pc
        self.listeners.add(peer_id)
        return pc.localDescription.sdp

    def stats(self) -> dict[str, Any]:
        sent = 0
        for peer_id in self.listeners:
            for sender in self.peers[peer_id].getSenders():
                sent += getattr(sender, "_RTCRtpSender__packet_count", 0)
        return {"packets_sent": sent, "listeners": len(self.listeners)}

    async def close(self) -> None:
        if self.drain is not None:
            self.drain.cancel()
        await asyncio.gather(
            *(close_peer_connection(pc) for pc in self.peers.values()),
            return_exceptions=True,
        )


def hls_publisher() -> Any:
    """The Space's HLS stream as the app publishes it (0.5 s AAC segments, window 6), written
    to files in a temporary folder (temp file and rename, as `rooms.hls.LiveFileStorage`)."""
    from rooms.media import HlsPublisher, HlsSegmenter

    folder = Path(tempfile.mkdtemp(prefix="bench-hls-"))

    def write(name: str, data: bytes) -> None:
        temporary = folder / f".tmp-{name}"
        temporary.write_bytes(data)
        os.replace(temporary, folder / name)

    def delete(name: str) -> None:
        (folder / name).unlink(missing_ok=True)

    segmenter = HlsSegmenter(
        stream="bench", write=write, delete=delete, segment_seconds=0.5, window=6
    )
    return HlsPublisher(segmenter)


def serve(ready: mp.Queue, design: str = "ours") -> None:
    """The server process: one Space's router (or the naive design) behind a JSON-lines socket."""
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
        router: Any = NaiveRouter()
        if design in OURS:
            packet_ms = None if design in AUTO else round(1000 * packet_seconds(design, 0))
            router = Router("bench", dataclasses.replace(CONFIG, listener_packet_ms=packet_ms))
        if design == "auto-hls":  # the Space's HLS stream too: AAC, 0.5 s segments, to files
            router.add_listener_tap(hls_publisher())
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
                    "rss_now": rss_bytes() // 1024,
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
    port: int | str, peer_id: str, role: str, track: MediaStreamTrack | None
) -> RTCPeerConnection:
    """Join as `role`; `port` is our JSON-lines server's, or "janus" for Janus' HTTP API."""
    if port == "janus":
        assert role == "listener"
        return await janus_watch(peer_id)
    if port == "audiobridge":
        return await janus_bridge(peer_id, role, track)
    pc = RTCPeerConnection(CONFIG.rtc_configuration())
    pc.addTransceiver(track or "audio", direction="sendonly" if track else "recvonly")
    with gather_on(CONFIG.bind_addresses):
        await pc.setLocalDescription(await pc.createOffer())
    reply = await request(
        port,
        {
            "op": "join",
            "peer_id": peer_id,
            "role": role,
            "offer": pc.localDescription.sdp,
        },
    )
    await pc.setRemoteDescription(RTCSessionDescription(reply["answer"], "answer"))
    return pc


async def feed_rtp(track: BeepTrack, port: int) -> None:
    """Janus' mountpoint input: the tone encoded as the router does (Opus, mono, 32 kbps)."""
    encoder = OpusEncoder(CONFIG.opus_bitrate)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ssrc = int.from_bytes(os.urandom(4), "big")
    sequence = 0
    with contextlib.suppress(MediaStreamError), sock:
        while True:
            frame = await track.recv()
            payload = encoder.encode(frame.to_ndarray().reshape(-1))
            if payload is None:
                continue
            header = struct.pack(
                "!BBHII",
                0x80,
                111,
                sequence & 0xFFFF,
                (frame.pts or 0) & 0xFFFFFFFF,
                ssrc,
            )
            sock.sendto(header + payload, ("127.0.0.1", port))
            sequence += 1


def speak(port: int | str, control: mp.Queue, results: mp.Queue) -> None:
    """The speaker process: publishes the beeping tone; also joins late-joiner probes."""
    logging.basicConfig(level=logging.WARNING)
    pin("speaker")

    async def main() -> None:
        track = BeepTrack()
        pc = None
        if port == "janus":
            feeder = asyncio.get_running_loop().create_task(feed_rtp(track, JANUS_RTP_PORT))
        else:
            pc = await open_peer(port, "speaker", "speaker", track)
        results.put(("speaker-ready", None))
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, control.get) == "probe":
            results.put(("probes", await probe()))
        results.put(("speaker", track.onsets))
        if pc is not None:
            await close_peer_connection(pc)
        else:
            feeder.cancel()

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

    def __init__(self, port: int | str, peer_id: str) -> None:
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
    """A listener whose ICE, DTLS and SRTP are real but whose packets are kept, not played.

    A thousand real-time receivers do not fit on the one core the listener processes share
    (browsers decode on their own machines), and aiortc's receive path costs more per packet
    than the server's send path. So each crowd listener takes every datagram that is RTP
    straight off its ICE socket: arrival time and the encrypted packet. Afterwards every packet
    is decrypted with the listener's own SRTP session (a packet the server mangled fails its
    authentication), sequence numbers give loss, and a sample of listeners is decoded to check
    the tone by FFT and to time the beeps.
    """

    def __init__(self, port: int | str, peer_id: str, *, decode: bool = True) -> None:
        self.port = port
        self.peer_id = peer_id
        self.decode = decode
        self.pc: RTCPeerConnection | None = None
        self.join_started = 0.0
        self.first_packet: float | None = None
        self.recording = False
        self.packets: list[tuple[float, bytes]] = []

    async def join(self) -> None:
        self.join_started = time.monotonic()
        self.pc = await open_peer(self.port, self.peer_id, "listener", None)
        connection = self.pc.getReceivers()[0].transport.transport._connection
        for protocol in connection._protocols:
            protocol.datagram_received = self._tap(protocol.datagram_received)

    def _tap(self, passed_on: Any) -> Any:
        packets = self.packets

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            # RTP (RFC 7983: first byte 128..191; RTCP packet types 192..223): keep it
            if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                if self.first_packet is None:
                    self.first_packet = time.monotonic()
                if self.recording:
                    packets.append((time.monotonic(), data))
                return
            passed_on(data, addr)  # STUN, DTLS and RTCP go through aiortc as usual

        return datagram_received

    def report(self) -> dict[str, Any]:
        assert self.pc is not None
        srtp = self.pc.getReceivers()[0].transport._rx_srtp
        sequences, corrupt, payloads = [], 0, []
        for arrived, data in self.packets:
            try:
                packet = RtpPacket.parse(srtp.unprotect(data))
            except Exception:  # noqa: BLE001 - pylibsrtp or the parser refusing the packet
                corrupt += 1
                continue
            sequences.append(packet.sequence_number)
            payloads.append((arrived, packet.payload))
        span = 0
        if sequences:
            span = (sequences[-1] - sequences[0]) % 65536 + 1
        result: dict[str, Any] = {
            "join_to_audio": (self.first_packet - self.join_started if self.first_packet else None),
            "received": len(self.packets),
            "corrupt": corrupt,
            "lost": span - len(set(sequences)),
            "decoded": self.decode,
        }
        if not self.decode:
            return result
        decoder = av.CodecContext.create("libopus", "r")
        onsets, pcm, previous = [], [], 0.0
        for arrived, payload in payloads:
            for frame in decoder.decode(av.Packet(payload)):
                block = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
                level = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
                if level > ONSET_RMS >= previous:
                    onsets.append(arrived)
                previous = level
                pcm.append(block)
        result["frequency"] = dominant_frequency(np.concatenate(pcm)) if pcm else 0.0
        result["onsets"] = onsets
        return result

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


def listen(
    port: int | str, ids: list[str], packet: float, control: mp.Queue, results: mp.Queue
) -> None:
    """A crowd process: many listeners in one event loop."""
    logging.basicConfig(level=logging.WARNING)
    pin("listeners")

    async def main() -> None:
        crowd = [
            CrowdListener(port, peer_id, decode=i < DECODED_PER_PROCESS)
            for i, peer_id in enumerate(ids)
        ]
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
        expected = elapsed / packet
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


class Janus:
    """Debian's Janus: HTTP on 127.0.0.1, a Streaming mountpoint and an AudioBridge room.

    The configuration is written to a temporary folder; Janus' ICE is held to j0 (its own
    loopback is skipped by libnice). Its CPU is read from /proc/<pid>/stat (all threads).
    """

    def __init__(self) -> None:
        if shutil.which("janus") is None:
            raise SystemExit("janus is not installed: run scripts/in-netns-veth.sh (installs it)")
        if "j0" not in {name for _, name in socket.if_nameindex()}:
            raise SystemExit("no j0 interface: run Janus under scripts/in-netns-veth.sh")
        self.folder = Path(tempfile.mkdtemp(prefix="janus-bench-"))
        self.process: subprocess.Popen[bytes] | None = None
        keep = {
            "plugins": {"libjanus_streaming.so", "libjanus_audiobridge.so"},
            "transports": {"libjanus_http.so"},
        }
        disabled = {
            kind: ",".join(
                lib.name
                for lib in sorted((JANUS_LIBS / kind).glob("*.so"))
                if lib.name not in keep.get(kind, set())
            )
            for kind in ("plugins", "transports", "events", "loggers")
        }
        files = {
            "janus.jcfg": f"""
general: {{
    configs_folder = "{self.folder}"
    plugins_folder = "{JANUS_LIBS / "plugins"}"
    transports_folder = "{JANUS_LIBS / "transports"}"
    events_folder = "{JANUS_LIBS / "events"}"
    loggers_folder = "{JANUS_LIBS / "loggers"}"
    log_to_file = "{self.folder / "janus.log"}"
    debug_level = 4
    session_timeout = 0
    admin_secret = "{JANUS_ADMIN_SECRET}"
}}
media: {{
    ipv6 = false
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "j0"
    ignore_mdns = true
}}
plugins: {{ disable = "{disabled["plugins"]}" }}
transports: {{ disable = "{disabled["transports"]}" }}
events: {{ broadcast = false
    disable = "{disabled["events"]}" }}
loggers: {{ disable = "{disabled["loggers"]}" }}
""",
            "janus.transport.http.jcfg": f"""
general: {{ json = "compact"  base_path = "/janus"  http = true  port = {JANUS_HTTP[1]}
    ip = "{JANUS_HTTP[0]}"  https = false }}
admin: {{ admin_base_path = "/admin"  admin_http = true  admin_port = {JANUS_ADMIN[1]}
    admin_ip = "{JANUS_ADMIN[0]}"  admin_https = false }}
""",
            "janus.plugin.streaming.jcfg": f"""
general: {{ events = false }}
bench: {{
    type = "rtp"
    id = {JANUS_MOUNTPOINT}
    description = "bench"
    audio = true
    video = false
    audioport = {JANUS_RTP_PORT}
    audiopt = 111
    audiocodec = "opus"
}}
""",
            "janus.plugin.audiobridge.jcfg": f"""
general: {{ events = false }}
room-{JANUS_BRIDGE_ROOM}: {{
    description = "bench"
    sampling_rate = 48000
    record = false
}}
""",
        }
        for name, text in files.items():
            (self.folder / name).write_text(text.lstrip())

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "janus",
                "-C",
                str(self.folder / "janus.jcfg"),
                "-F",
                str(self.folder),
                "-o",
                "-N",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=self._child_setup,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, IndexError):
                if asyncio.run(janus_http("/janus/info")).get("janus") == "server_info":
                    return
            time.sleep(0.1)
        raise RuntimeError(f"Janus did not answer; see {self.folder / 'janus.log'}")

    def packets_sent(self) -> int:
        """RTP packets Janus has sent to all its viewers (admin API, handle_info)."""

        async def admin(path: str, body: dict[str, Any]) -> dict[str, Any]:
            request = {**body, "transaction": "t", "admin_secret": JANUS_ADMIN_SECRET}
            return await janus_http(path, request, JANUS_ADMIN)

        async def count() -> int:
            total = 0
            sessions = await admin("/admin", {"janus": "list_sessions"})
            for session in sessions["sessions"]:
                handles = await admin(f"/admin/{session}", {"janus": "list_handles"})
                for handle in handles["handles"]:
                    info = await admin(f"/admin/{session}/{handle}", {"janus": "handle_info"})
                    media = info["info"].get("webrtc", {}).get("media", {})
                    total += sum(m["stats"]["out"]["packets"] for m in media.values())
            return total

        return asyncio.run(count())

    @staticmethod
    def _child_setup() -> None:
        pin("server")
        # Janus 1.1.2 has crashed on SIGTERM after a 200-viewer AudioBridge run, dumping GBs
        # of core into the working directory.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def usage(self, phase: str) -> dict[str, Any]:
        """CPU and packets; the admin queries stay outside the measured window."""
        before = self._packets() if phase == "start" else None
        used = self._cpu()
        after = self._packets() if phase == "end" else None
        return {**used, "stats": before or after}

    def _packets(self) -> dict[str, Any]:
        started = time.monotonic()
        sent = self.packets_sent()
        return {"packets_sent": sent, "packets_time": (started + time.monotonic()) / 2}

    def _cpu(self) -> dict[str, Any]:
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{self.process.pid}/status") as status:
            lines = {f[0]: f[1] for f in map(str.split, status) if len(f) > 1}
        rss, rss_now = int(lines["VmHWM:"]), int(lines["VmRSS:"])
        return {
            "cpu": (int(fields[11]) + int(fields[12])) / ticks,
            "wall": time.monotonic(),
            "rss": rss,
            "rss_now": rss_now,
            "gc_full": 0,
            "gc_max_ms": 0.0,
        }

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def run(
    listeners: int, window: float, design: str = "ours", profile: Path | None = None
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    results: mp.Queue = ctx.Queue()
    children: list[Any] = []
    janus: Janus | None = None
    try:
        if design in JANUS_DESIGNS:
            janus = Janus()
            janus.start()
            port: int | str = design

            def usage(phase: str) -> dict[str, Any]:
                assert janus is not None
                return janus.usage(phase)

        else:
            server = ctx.Process(target=serve, args=(ready, design), daemon=True)
            server.start()
            children.append(server)
            port = ready.get(timeout=30)

            def usage(phase: str) -> dict[str, Any]:
                return request_sync(port, {"op": "usage"})

        return measure(ctx, port, usage, results, children, listeners, window, design, profile)
    finally:
        if janus is not None:
            janus.stop()
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()


def measure(
    ctx: Any,
    port: int | str,
    usage: Any,
    results: mp.Queue,
    children: list[Any],
    listeners: int,
    window: float,
    design: str,
    profile: Path | None = None,
) -> dict[str, Any]:
    speaker_control: mp.Queue = ctx.Queue()
    speaker = ctx.Process(target=speak, args=(port, speaker_control, results), daemon=True)
    speaker.start()
    children.append(speaker)
    kind, _ = results.get(timeout=30)
    assert kind == "speaker-ready"

    idle_usage = usage("idle")  # the speaker is in, no listener yet
    workers = min(listeners, 4)
    packet = packet_seconds(design, listeners)
    ids = [f"listener-{i}" for i in range(listeners)]
    controls = [ctx.Queue() for _ in range(workers)]
    processes = [
        ctx.Process(
            target=listen,
            args=(port, ids[w::workers], packet, controls[w], results),
            daemon=True,
        )
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    children.extend(processes)
    joined = 0
    while joined < listeners:
        kind, count = results.get(timeout=240)
        assert kind == "joined"
        joined += count
    time.sleep(1.0)  # let join work settle before measuring the steady state
    joined_usage = usage("joined")

    spy = None
    if profile is not None:  # a separate run: sampling pauses the server, so it skews CPU
        spy = subprocess.Popen(
            [
                *py_spy(),
                "record",
                "--pid",
                str(children[0].pid),
                "--duration",
                str(round(window)),
                "--rate",
                "100",
                "--native",
                "--format",
                "raw",
                "--output",
                str(profile),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    start = usage("start")
    cores_before = core_times()
    for control in controls:
        control.put(window)
    time.sleep(window)
    if spy is not None:
        spy.wait(timeout=window + 30)
    cores_after = core_times()
    server_core = min(os.sched_getaffinity(0))
    busy0, soft0, total0 = cores_before[server_core]
    busy1, soft1, total1 = cores_after[server_core]
    end = usage("end")
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
    if design not in JANUS_DESIGNS:
        request_sync(port, {"op": "shutdown"})  # type: ignore[arg-type]

    cpu = end["cpu"] - start["cpu"]
    wall = end["wall"] - start["wall"]
    sent_span = (
        end["stats"]["packets_time"] - start["stats"]["packets_time"]
        if "packets_time" in end["stats"]
        else wall
    )
    sent_rate = (
        (end["stats"]["packets_sent"] - start["stats"]["packets_sent"]) / sent_span / listeners
    )

    def latencies(group: list[dict[str, Any]]) -> list[float]:
        found = []
        for report in group:
            for onset in report.get("onsets", ()):
                sent = [b for b in beeps if b <= onset]
                if sent and onset - sent[-1] < 0.5:
                    found.append(onset - sent[-1])
        return found

    probe_latency = latencies(probes)
    crowd_latency = latencies(reports)
    probe_joins = [p["join_to_audio"] for p in probes if p["join_to_audio"] is not None]
    joins = [r["join_to_audio"] for r in reports if r["join_to_audio"] is not None]
    lost = [max(r["lost"], 0) for r in reports]
    decoded = [r for r in reports if r["decoded"]]
    heard = sum(1 for r in decoded if abs(r["frequency"] - 440) <= 10)
    arrived = [r["received"] / r["expected"] for r in reports]
    return {
        "design": design,
        "listeners": listeners,
        "received_per_listener_second": float(np.mean(arrived)) / packet,
        "delivered_percent": 100 * float(np.mean(arrived)),
        "server_rss_mb": end["rss"] / 1024,
        "cpu_percent": 100 * cpu / wall,
        "cpu_ms_per_listener_second": 1000 * cpu / (wall * listeners),
        "lost_mean": float(np.mean(lost)),
        "lost_max": int(max(lost)),
        "arrived_min_percent": 100 * min(arrived),
        "server_packets_per_listener_second": sent_rate,
        "server_core_busy_percent": 100 * (busy1 - busy0) / max(total1 - total0, 1),
        "server_core_softirq_percent": 100 * (soft1 - soft0) / max(total1 - total0, 1),
        "tick_ms_mean": end["stats"].get("tick_ms_mean"),
        "gc_full_collections": end["gc_full"] - start["gc_full"],  # in the window
        "gc_max_ms": end["gc_max_ms"],
        "max_tick_lag_ms": end["stats"].get("max_tick_lag_ms"),
        "join_p50_ms": 1000 * percentile(joins, 50),
        "join_p95_ms": 1000 * percentile(joins, 95),
        "late_join_p50_ms": 1000 * percentile(probe_joins, 50),
        "late_join_max_ms": 1000 * max(probe_joins, default=float("nan")),
        "latency_p50_ms": 1000 * percentile(probe_latency, 50),
        "latency_p95_ms": 1000 * percentile(probe_latency, 95),
        "crowd_latency_p50_ms": 1000 * percentile(crowd_latency, 50),
        "crowd_latency_p95_ms": 1000 * percentile(crowd_latency, 95),
        "late_ticks": end["stats"].get("late_ticks", 0) - start["stats"].get("late_ticks", 0),
        "heard_440": heard,
        "decoded": len(decoded),
        "corrupt": sum(r["corrupt"] for r in reports),
        "memory_kb_per_listener": (joined_usage["rss_now"] - idle_usage["rss_now"]) / listeners,
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


def write_section(text: str) -> None:
    """Replace (or add) the "Audio fan-out" section of docs/benchmarks.md."""
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


DESIGN_NAMES = {
    "ours": "ours (`rooms.media.Router`: encode once, same packets to all)",
    "ours60": "ours, listeners on 60 ms packets (`SPACES_LISTENER_PACKET_MS=60`)",
    "auto": "ours, automatic packet length (the default: 60 ms from 250 listeners)",
    "auto-hls": "ours, automatic packet length, and the Space's HLS stream (AAC) published",
    "naive": "naive aiortc (MediaRelay, one Opus encoder per listener)",
    "janus": "Janus 1.1.2 Streaming (RTP Opus mountpoint)",
    "audiobridge": "Janus 1.1.2 AudioBridge (mixes and encodes per participant)",
}


def per_thousand_packets(r: dict[str, Any]) -> float:
    """Server CPU ms per 1,000 packets it sent: the cost per delivered packet, which stays
    comparable when a design saturates its core and sends fewer packets."""
    sent = r["server_packets_per_listener_second"] * r["listeners"]
    return 1000 * r["cpu_percent"] * 10 / sent if sent else float("nan")


def saturated(r: dict[str, Any]) -> bool:
    """The server could not keep up: its core was full, or listeners got less than real time."""
    return r["cpu_percent"] >= 95 or r["delivered_percent"] < 98 or r["lost_mean"] > 0.5


def results_table(rows: list[dict[str, Any]]) -> str:
    ours = {r["listeners"]: r for r in rows if r["design"] == "ours" and "error" not in r}
    lines = [
        "| design | listeners | server CPU, % of one core | server CPU per listener-second "
        "| ratio to ours | server CPU per 1,000 packets sent "
        "| packets sent per listener-second (server's count) "
        "| audio delivered, % of real time (mean / worst listener) "
        "| packets lost per listener (mean / max) | join to first packet (p50 / p95) "
        "| speaker to listener, packet arrival (p50 / p95) "
        "| late joiner: join to decoded audio (p50 / max) | 440 Hz heard (decoded sample) "
        "| server memory per listener | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = DESIGN_NAMES[r["design"]]
        if "error" in r:
            lines.append(f"| {name} | {r['listeners']} | failed: {r['error']} |" + " |" * 12)
            continue
        base = ours.get(r["listeners"])
        cpu_ratio = (
            f"{r['cpu_ms_per_listener_second'] / base['cpu_ms_per_listener_second']:.2f}×"
            if base
            else "–"
        )
        mark = " (saturated)" if saturated(r) else ""
        corrupt = f", {r['corrupt']} failed SRTP" if r.get("corrupt") else ""
        lines.append(
            f"| {name} | {r['listeners']} | {r['cpu_percent']:.1f}%{mark}"
            f" | {r['cpu_ms_per_listener_second']:.2f} ms | {cpu_ratio}"
            f" | {per_thousand_packets(r):.0f} ms"
            f" | {r['server_packets_per_listener_second']:.1f}"
            f" | {r['delivered_percent']:.1f}% / {r['arrived_min_percent']:.1f}%"
            f" | {r['lost_mean']:.2f} / {r['lost_max']}{corrupt}"
            f" | {r['join_p50_ms']:.0f} / {r['join_p95_ms']:.0f} ms"
            f" | {r['crowd_latency_p50_ms']:.0f} / {r['crowd_latency_p95_ms']:.0f} ms"
            f" | {r['late_join_p50_ms']:.0f} / {r['late_join_max_ms']:.0f} ms"
            f" | {r['heard_440']}/{r['decoded']}"
            f" | {r['memory_kb_per_listener']:.0f} KB"
            f" | {r.get('load', float('nan')):.1f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """CPU per listener-second, audio delivered and speaker-to-listener latency against N."""
    sys.path.insert(0, str(ROOT))
    from bench.pilplot import Panel, chart

    def series(key: str) -> list[tuple[str, list[float], list[float]]]:
        out = []
        for design in DESIGNS:
            mine = [r for r in rows if r["design"] == design and "error" not in r]
            if mine:
                out.append((design, [r["listeners"] for r in mine], [r[key] for r in mine]))
        return out

    chart(
        path,
        [
            Panel(
                "server CPU per listener-second (ms)",
                "listeners",
                series("cpu_ms_per_listener_second"),
                xlog=True,
                ylog=True,
            ),
            Panel(
                "audio delivered (% of real time)",
                "listeners",
                series("delivered_percent"),
                xlog=True,
            ),
            Panel(
                "speaker to listener p95 (ms)",
                "listeners",
                series("crowd_latency_p95_ms"),
                xlog=True,
            ),
        ],
    )


def py_spy() -> list[str]:
    return [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")]


PROFILE_BUCKETS = (  # (name, frame name prefixes), matched from the innermost frame outwards
    ("sendto: the kernel's UDP send (on loopback, also the receiving side)", ("sendto",)),
    ("SRTP encryption (libsrtp through pylibsrtp)", ("Session.protect",)),
    ("Opus encoding", ("OpusEncoder.encode",)),
    ("mixing and levels (numpy)", ("mix", "rms_dbfs", "SampleFifo")),
    ("decoding speakers (aiortc's decoder thread)", ("decoder_worker",)),
    ("the fan-out loop in Python (stamping, counters)", ("RtpStream.write", "Router._tick")),
    ("RTCP: sender reports out, receiver reports in", ("RTCRtpSender._run_rtcp", "_handle_rtcp")),
    ("ICE: STUN consent checks and replies", ("StunProtocol", "Connection.", "Transaction.")),
    ("receiving speakers' packets (DTLS, SRTP, jitter buffer)", ("RTCDtlsTransport",)),
)


def profile_shares(path: Path) -> tuple[int, list[tuple[str, float]]]:
    """Share of on-CPU samples per bucket; waiting threads and the idle loop left out."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.split(";")]
        inner = frames[-3:]
        if any(
            f.startswith(("Condition.wait", "lock_PyThread", "PyThread_acquire")) for f in inner
        ):
            continue  # a thread waiting, not working
        if any(f.startswith(("epoll_wait", "select", "EpollSelector.select")) for f in inner):
            continue  # the event loop idle between ticks
        n = int(count)
        total += n
        bucket = "other (the event loop, asyncio callbacks, signaling)"
        for frame in reversed(frames):
            hit = next((name for name, keys in PROFILE_BUCKETS if frame.startswith(keys)), None)
            if hit is not None:
                bucket = hit
                break
        counts[bucket] = counts.get(bucket, 0) + n
    shares = sorted(((k, v / max(total, 1)) for k, v in counts.items()), key=lambda x: -x[1])
    return total, shares


def cpu_ratio(mine: dict[str, Any], theirs: dict[str, Any]) -> float:
    return mine["cpu_ms_per_listener_second"] / theirs["cpu_ms_per_listener_second"]


def targets_text(rows: list[dict[str, Any]]) -> str:
    """Where each of our rows stands against the targets (per media worker, i.e. one core)."""
    lines = []
    janus = {r["listeners"]: r for r in rows if r["design"] == "janus" and "error" not in r}
    for design in OURS:
        mine = [r for r in rows if r["design"] == design and "error" not in r]
        if not mine:
            continue
        kept = [r for r in mine if not saturated(r)]
        best = max(kept, key=lambda r: r["listeners"]) if kept else None
        first_full = min(
            (r for r in mine if saturated(r)), key=lambda r: r["listeners"], default=None
        )
        text = f"- **{DESIGN_NAMES[design]}**: "
        if best is not None:
            text += (
                f"kept up with {best['listeners']} listeners ({best['cpu_percent']:.0f}% of its"
                f" core, loss {best['lost_mean']:.2f}, speaker to listener p95"
                f" {best['crowd_latency_p95_ms']:.0f} ms, late joiners' first audio within"
                f" {best['late_join_max_ms']:.0f} ms, {best['memory_kb_per_listener']:.0f} KB"
                " per listener)"
            )
        if first_full is not None:
            text += (
                f"; saturated at {first_full['listeners']} ({first_full['cpu_percent']:.0f}% of"
                f" its core, {first_full['delivered_percent']:.1f}% of real time delivered)"
            )
        versus = [
            f"{cpu_ratio(r, janus[r['listeners']]):.2f}× at {r['listeners']}"
            for r in mine
            if r["listeners"] in janus
        ]
        if versus:
            text += "; CPU per listener-second against Janus Streaming: " + ", ".join(versus)
        lines.append(text + ".")
    return "\n".join(lines)


def profile_text(n: int, design: str, path: Path) -> str:
    total, shares = profile_shares(path)
    rows = "\n".join(f"| {name} | {share:.1%} |" for name, share in shares)
    return (
        f"### Profile at {n} listeners ({design})\n\n"
        f"py-spy (`record --native`, 100 Hz) attached to the server during a separate run of\n"
        f"{design} at {n} listeners (sampling pauses the process, so it is not one of the\n"
        f"measured rows): {total} samples of the server on CPU, each counted once under the\n"
        "innermost bucket it falls in.\n\n"
        "| where the server's CPU goes | share |\n|---|---|\n" + rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listeners", type=int, nargs="*", default=[1, 50, 200, 500, 1000])
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--churn", type=int, default=1000, help="join/leave cycles (0: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--designs",
        nargs="+",
        choices=DESIGNS,
        default=["ours", "ours60"],
        help="janus and audiobridge need scripts/in-netns-veth.sh",
    )
    parser.add_argument(
        "--limit",
        nargs="*",
        default=["naive=200"],
        metavar="DESIGN=N",
        help="skip a design above N listeners (it saturated below; default naive=200)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="py-spy the router at N listeners"
    )
    args = parser.parse_args()
    limits = {k: int(v) for k, v in (item.split("=") for item in args.limit)}

    rows: list[dict[str, Any]] = []
    load = [os.getloadavg()[0]]
    for n in args.listeners:
        for design in args.designs:
            if n > limits.get(design, n):
                continue
            print(f"running {design}, {n} listener(s) ...", flush=True)
            try:
                rows.append(run(n, args.window, design))
            except Exception as error:  # noqa: BLE001 - a design that falls over is a result
                rows.append({"design": design, "listeners": n, "error": repr(error)[:120]})
            load.append(os.getloadavg()[0])
            rows[-1]["load"] = load[-1]
            print(json.dumps(rows[-1], indent=1, default=str), flush=True)
    parts = []
    if rows:
        table = results_table(rows)
        print(table)
        print(targets_text(rows))
        plot(rows, ROOT / "docs" / "benchmarks" / "audio_fanout.png")
        parts.append(describe(args, load) + table)
        parts.append(
            "![CPU per listener-second, audio delivered and latency against listeners]"
            "(benchmarks/audio_fanout.png)\n\n**Against the targets** (one media worker process,"
            " one core):\n\n" + targets_text(rows)
        )
    for design in [d for d in args.designs if d in OURS] if args.profile else []:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "profile.txt"
            print(f"profiling {design} at {args.profile} listeners ...", flush=True)
            run(args.profile, args.window, design, profile=path)
            shutil.copy(path, Path(tempfile.gettempdir()) / f"audio_fanout_profile_{design}.txt")
            parts.append(profile_text(args.profile, design, path))
            print(parts[-1])
    if args.churn:
        result = asyncio.run(churn(args.churn))
        for sample in result["samples"]:
            print(sample)
        parts.append(churn_text(result))
        print(parts[-1])
    if parts and not args.no_write:
        write_section("\n\n".join(parts))


def describe(args: argparse.Namespace, load: list[float]) -> str:
    command = "scripts/in-netns-veth.sh .venv/bin/python bench/audio_fanout.py " + " ".join(
        ["--designs", *args.designs, "--listeners", *map(str, args.listeners)]
        + (["--limit", *args.limit] if args.limit else [])
        + ([f"--profile {args.profile}"] if args.profile else [])
    )
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    busy = (
        "The load average per row counts the benchmark's own speaker and listener processes\n"
        "(and Janus' threads), which keep core 1 busy; anything else running at the time\n"
        "inflates absolute numbers, so compare rows of one N, taken back to back. One run is\n"
        "one sample.\n\n"
        if max(load) > 1.5
        else ""
    )
    return (
        "One Space, one speaker (a quiet 440 Hz tone with a loud 100 ms beep every second) and N\n"
        f"listeners, all on this machine ({machine}), measured in one run: `{command}`.\n"
        f"Each N runs every design back to back, {args.window:.0f} s measured once everyone\n"
        "has joined. The server process has core 0 to itself (nice -10); the speaker (nice -5)\n"
        "and 4 listener processes (nice 10) share core 1, so the server's CPU is its own:\n"
        "`getrusage` for ours and the naive design (Python, one thread on the hot path),\n"
        "`/proc/<pid>/stat` for Janus (all its threads). On loopback the kernel's delivery of\n"
        "each packet into the listener's socket runs inside the sender's `sendto`, so it is in\n"
        "the server's CPU here; over a real network card it would not be.\n\n"
        "The listeners are aiortc peers that complete ICE, DTLS and SRTP for real. A thousand\n"
        "real-time decoders do not fit on one core, so each listener takes its RTP straight\n"
        "off its ICE socket, noting arrival time, and afterwards decrypts every packet with its\n"
        "own SRTP session (a mangled packet fails authentication: none did unless the table\n"
        "says so) and counts sequence gaps; 25 listeners per process are decoded to check the\n"
        "tone by FFT and to time the beeps (*speaker to listener*: the speaker's beep frame\n"
        "leaving its track to the listener's packet arriving, both on the machine's monotonic\n"
        "clock; it includes the speaker's Opus encoding and both clients' event loops, so it\n"
        "bounds what the server adds from above). *Late joiners* are 5 browser-like listeners\n"
        "that join one after another once the crowd is in and decode in real time through\n"
        "aiortc's jitter buffer. *Audio delivered* is received packets times their length over\n"
        "the window; *memory per listener* is the server's RSS growth from before the first\n"
        "listener to after the last, divided by N.\n\n"
        "Peers: the naive design runs aiortc's own sender encoder (96 kbps stereo) for every\n"
        "listener. Janus Streaming is fed the tone as RTP Opus (mono, 32 kbps, as our router\n"
        "encodes it) by the speaker process on 127.0.0.1; its listeners signal through its HTTP\n"
        "API and reach it over a veth pair with 127.0.0.x addresses (libnice skips loopback).\n"
        "In Janus AudioBridge (a 48 kHz room) the speaker publishes over WebRTC as with ours\n"
        "and Janus mixes and encodes Opus for each participant. Speaker to listener is not\n"
        "comparable across designs: Janus Streaming forwards plain RTP from the speaker\n"
        "process; the others decode, mix and re-encode. A design marked *saturated* used 95%\n"
        "or more of its core, delivered under 98% of real time, or lost packets.\n\n" + busy
    )


if __name__ == "__main__":
    main()
