"""Hostile guests against one live Space: what an audio offer costs the server, and how much of
the room's audio a listener still gets while 20 guests do their worst.

1. CPU per offer (in this process, no server): the router answering a crafted offer with
   hundreds of minimal m-lines (what the server did with it before the shape check), against
   `check_offer` refusing it now; a browser-shaped offer through check and router for scale.
2. A listener's delivered audio: a throwaway SQLite database, daphne serving the project (the
   tree given by --root, so an older checkout can be measured the same way), a host speaking a
   440 Hz tone and a guest listening (aiortc clients in this process); then 20 guests in another
   process, each from its own address (X-Forwarded-For, daphne --proxy-headers), sending offers
   with hundreds of m-lines, malformed offers, valid offers with 20 m-lines, junk and pings,
   100 frames a second each (10x the allowed rate); reconnecting when closed. Delivered = audio
   samples the listener decoded / samples in the window (48 kHz), before and during the attack;
   daphne's CPU too.

    scripts/in-netns.sh .venv/bin/python bench/hostile_guests.py [--root /path/to/old/tree]

Everything stays on loopback (run it inside scripts/in-netns.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTILE_M_LINES = 280  # minimal m-lines that still fit the protocol's 32 KiB
SETUP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from rooms.live import guest_cookie_value
from tests.factories import RoomFactory
room = RoomFactory(title="Under attack")
session = SessionStore()
session[SESSION_KEY] = str(room.host.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = room.host.get_session_auth_hash()
session.create()
print(json.dumps({
    "slug": room.slug,
    "session": session.session_key,
    "guests": [guest_cookie_value(f"guest-{n}") for n in range(40)],
}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hostile_offer(base: str, m_lines: int = HOSTILE_M_LINES) -> str:
    """`base` plus `m_lines` minimal audio m-lines, each valid: the ICE credentials, fingerprint
    and setup move to the session level, where aiortc applies them to every m-line."""
    lines = base.rstrip("\r\n").split("\r\n")
    shared = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:")
    session = [line for line in lines if line.startswith(shared)]
    rest = [line for line in lines if not line.startswith(shared)]
    first_m = next(i for i, line in enumerate(rest) if line.startswith("m="))
    extra = [
        f"m=audio 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x{n}\r\na=rtpmap:96 opus/48000/2\r\n"
        "a=rtcp-mux\r\na=recvonly"
        for n in range(m_lines)
    ]
    bundle = " ".join(f"x{n}" for n in range(m_lines))
    rest = [f"{line} {bundle}" if line.startswith("a=group:BUNDLE") else line for line in rest]
    return "\r\n".join(rest[:first_m] + session + rest[first_m:] + extra) + "\r\n"


async def make_offer(transceivers: int = 1) -> str:
    from aiortc import RTCPeerConnection

    from rooms.media import MediaConfig
    from rooms.media.aiortc_compat import gather_on

    pc = RTCPeerConnection(MediaConfig.loopback().rtc_configuration())
    for _ in range(transceivers):
        pc.addTransceiver("audio", direction="recvonly")
    offer = await pc.createOffer()
    with gather_on(["127.0.0.1"]):
        await pc.setLocalDescription(offer)
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


# -- 1. CPU per offer ---------------------------------------------------------------------------


async def offer_cpu() -> dict[str, float]:
    """Median CPU ms per offer: what the router spent on it before the shape check (it had no
    other), and what the check spends refusing it now; a browser-shaped offer for scale."""
    from rooms.media import MediaConfig, Router
    from rooms.media.sdp import OfferError, OfferLimits, check_offer

    limits = OfferLimits(candidate_networks=("127.0.0.0/8",))
    browser = await make_offer()
    offers = {"hostile_m_lines": hostile_offer(browser), "valid_20_m_lines": await make_offer(20)}
    router = Router("bench", MediaConfig.loopback())
    results = {}

    async def through_router(name: str, sdp: str) -> float:
        spent = []
        for n in range(5):
            start = time.process_time()
            with contextlib.suppress(Exception):
                await router.connect_listener(f"{name}{n}", sdp)
            spent.append(time.process_time() - start)
            await router.disconnect(f"{name}{n}")
        return round(1000 * sorted(spent)[len(spent) // 2], 3)

    try:
        for name, sdp in offers.items():
            results[f"{name}_before_ms"] = await through_router(name, sdp)
            start = time.process_time()
            for _ in range(1000):
                with contextlib.suppress(OfferError):
                    check_offer(sdp, limits)
            results[f"{name}_now_ms"] = round(time.process_time() - start, 4)  # /1000, in ms
        start = time.process_time()
        for _ in range(1000):
            check_offer(browser, limits)
        results["browser_check_ms"] = round(time.process_time() - start, 4)
        results["browser_router_ms"] = await through_router("b", check_offer(browser, limits))
    finally:
        await router.close()
    return results


# -- 2. a listener under attack -------------------------------------------------------------------


def attack(port: int, slug: str, cookies: list[str], stop_at: float, counts) -> None:
    """20 hostile guests (run in a child process, niced: on this machine the attackers' own CPU
    would otherwise starve the listener's client, which is not what is measured)."""
    import websockets

    os.nice(19)

    async def main() -> None:
        valid20 = await make_offer(20)
        base = await make_offer()
        frames = [
            json.dumps({"type": "rtc_offer", "sdp": hostile_offer(base)}),
            json.dumps({"type": "rtc_offer", "sdp": base.replace("UDP/TLS/RTP/SAVPF", "udp/x")}),
            json.dumps({"type": "rtc_offer", "sdp": base.replace("a=setup:actpass\r\n", "")}),
            json.dumps({"type": "rtc_offer", "sdp": valid20}),
        ] + ['{"type":"ping"}', "junk", '{"type":"react","emoji":"👏"}'] * 10

        async def guest(n: int) -> None:
            headers = {
                "Cookie": f"spaces_guest={cookies[n]}",
                "X-Forwarded-For": f"198.51.100.{n + 1}",
            }
            while time.time() < stop_at:
                try:
                    async with websockets.connect(
                        f"ws://127.0.0.1:{port}/ws/rooms/{slug}/",
                        origin=f"http://127.0.0.1:{port}",
                        additional_headers=headers,
                        max_size=None,
                        open_timeout=10,
                    ) as ws:

                        async def drain() -> None:
                            async for _ in ws:
                                pass

                        reader = asyncio.create_task(drain())
                        try:
                            while time.time() < stop_at:
                                for frame in frames:
                                    await ws.send(frame)
                                    counts[0] += 1
                                    # 100 frames/s per guest (10x the allowed rate): faster and
                                    # the attacker's own process takes the machine's cores.
                                    await asyncio.sleep(0.01)
                        finally:
                            reader.cancel()
                except Exception:  # closed by the server (flood, bad input): come back
                    counts[1] += 1
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(guest(n) for n in range(20)))

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(root: Path):
    """A throwaway database with a live Space, and daphne serving `root` on it."""
    tmp = Path(tempfile.mkdtemp(prefix="hostile-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "PYTHONPATH": str(root),
        # Production's limit on guest connections per address (the test settings lift it).
        "SPACES_TEST_GUEST_CONNECT_RATE": "60",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP],
        cwd=root, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    scene = json.loads(made.stdout.strip().splitlines()[-1])
    port = free_port()
    log = open(tmp / "daphne.log", "w")  # noqa: SIM115 (open for the server's lifetime)
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "--proxy-headers", "-b", "127.0.0.1", "-p", str(port),
         "spaces_project.asgi:application"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.1)
    return daphne, scene, port, tmp, log


async def under_attack(daphne, scene, port: int, tmp: Path, log, seconds: float) -> dict:
    import websockets

    from rooms.media import MediaConfig
    from tests.media.audio_peers import AudioClient, dominant_frequency

    url = f"ws://127.0.0.1:{port}/ws/rooms/{scene['slug']}/"
    origin = f"http://127.0.0.1:{port}"

    async def open_audio(cookie: str, client: AudioClient):
        ws = await websockets.connect(
            url, origin=origin, additional_headers={"Cookie": cookie}, max_size=None
        )
        await ws.send(json.dumps({"type": "rtc_offer", "sdp": await client.offer()}))
        while (event := json.loads(await ws.recv()))["type"] != "rtc_answer":
            pass
        await client.accept(event["sdp"])
        await client.connected(within=15)
        drain = asyncio.create_task(ws.wait_closed())
        return ws, drain

    config = MediaConfig.loopback()
    speaker = AudioClient(config, tone=440, direction="sendrecv")
    listener = AudioClient(config)
    result: dict[str, float] = {}
    try:
        host_ws, _ = await open_audio(f"sessionid={scene['session']}", speaker)
        guest_ws, _ = await open_audio(f"spaces_guest={scene['guests'][39]}", listener)

        async def keep_alive():
            while True:
                await asyncio.sleep(10)
                for ws in (host_ws, guest_ws):
                    with contextlib.suppress(Exception):
                        await ws.send('{"type":"ping"}')

        pinger = asyncio.create_task(keep_alive())
        await asyncio.sleep(2)

        def delivered(start: float, end: float) -> tuple[float, float]:
            heard = listener.recording.between(start, end)
            return len(heard) / (48_000 * (end - start)), dominant_frequency(heard)

        start = time.monotonic()
        await asyncio.sleep(seconds / 2)
        result["quiet_delivered"], result["quiet_hz"] = delivered(start, time.monotonic())
        result["quiet_load_average_1min"] = os.getloadavg()[0]

        spawn = mp.get_context("spawn")
        counts = spawn.Array("q", 2)
        stop_at = time.time() + seconds + 3
        attackers = spawn.Process(
            target=attack, args=(port, scene["slug"], scene["guests"][:20], stop_at, counts)
        )
        attackers.start()
        await asyncio.sleep(3)  # the guests have connected and are at it
        cpu, start = cpu_seconds(daphne.pid), time.monotonic()
        await asyncio.sleep(seconds)
        end = time.monotonic()
        result["attack_delivered"], result["attack_hz"] = delivered(start, end)
        result["attack_server_cpu"] = (cpu_seconds(daphne.pid) - cpu) / (end - start)
        attackers.join(30)
        result["attack_frames_sent"], result["attack_reconnects"] = counts[0], counts[1]
        pinger.cancel()
        for ws in (host_ws, guest_ws):
            await ws.close()
    finally:
        await speaker.close()
        await listener.close()
        daphne.terminate()
        daphne.wait(10)
        log.close()
    result["server_tracebacks"] = (tmp / "daphne.log").read_text().count("Traceback")
    result["load_average_1min"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project tree daphne serves")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.test")
    import django

    django.setup()
    import logging

    logging.getLogger("aioice").setLevel(logging.WARNING)
    if not args.skip_cpu:
        print("cpu per offer:", json.dumps(asyncio.run(offer_cpu()), indent=1))
    if args.cpu_only:
        return
    print(f"listener under attack ({args.root}):")
    server = start_server(args.root.resolve())
    try:
        print(json.dumps(asyncio.run(under_attack(*server, args.seconds)), indent=1))
    finally:
        server[0].kill()


if __name__ == "__main__":
    main()
