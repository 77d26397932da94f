"""HLS players through nginx (docs/deploy/nginx.conf) against the same players on daphne directly.

    scripts/in-netns.sh .venv/bin/python bench/hls_cache.py --players 100 1000 --seconds 10

One live Space on a throwaway SQLite database; its stream (0.5 s segments) is written in real
time through the app's HLS storage, as its router would. Players are asyncio HTTP/1.1 clients
on keep-alive connections that behave as hls.js does on a live playlist: reload it every
target duration (1 s), fetch each new segment once. For each N and each path, measured over the
window: requests the players made and how many were answered, daphne's requests (its access log)
per segment and per playlist second, daphne's CPU per player-second (/proc), nginx's CPU (all its
processes), and the players' p95 request time. The players run in this process on the same
2 cores, which bounds N far below what nginx itself would take.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def nginx_cpu(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return cpu_seconds(master) + sum(cpu_seconds(int(pid)) for pid in children)


async def player(port, slug, until, stats):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    seen: set[str] = set()

    async def get(path):
        started = time.monotonic()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        body = await reader.readexactly(length)
        stats["requests"] += 1
        stats["ok"] += head.startswith(b"HTTP/1.1 200")
        stats["times"].append(time.monotonic() - started)
        return body

    try:
        while time.monotonic() < until:
            reloaded = time.monotonic()
            playlist = (await get(f"/s/{slug}/hls/live.m3u8")).decode()
            names = re.findall(r'URI="([^"]+)"', playlist)
            names += re.findall(r"^([0-9a-f]+-\d+\.m4s)$", playlist, re.M)
            for name in names:
                if name not in seen:
                    seen.add(name)
                    await get(f"/s/{slug}/hls/{name}")
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - reloaded)))
    except (OSError, asyncio.IncompleteReadError, AttributeError):
        stats["failed"] += 1
    finally:
        writer.close()


async def crowd(port, slug, players, seconds):
    stats = {"requests": 0, "ok": 0, "failed": 0, "times": []}
    until = time.monotonic() + seconds
    tasks = []
    for _ in range(players):  # joining over the first second
        tasks.append(asyncio.create_task(player(port, slug, until, stats)))
        await asyncio.sleep(1.0 / players)
    await asyncio.gather(*tasks)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hls-cache-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="spaces_project.settings.test",
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.factories import RoomFactory
    from tests.servers import free_port, start_daphne, wait_until_listening
    from tests.test_nginx_hls import LiveStream, nginx_config

    room = RoomFactory()
    stream = LiveStream(room)
    stream.start()
    daphne_port, port, redirect_port = free_port(), free_port(), free_port()
    log = open(work / "daphne.log", "w+b")  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    daphne = start_daphne(daphne_port, env, log)
    for kind in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / kind).mkdir()
    conf = nginx_config(work, port, redirect_port, daphne_port)
    nginx = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(work), "-e", str(work / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    rows = []
    try:
        wait_until_listening(daphne, daphne_port)
        wait_until_listening(nginx, port, timeout=10)
        time.sleep(2)
        for players in args.players:
            for path, target in (("nginx", port), ("daphne directly", daphne_port)):
                log.seek(0, 2)
                mark = log.tell()
                daphne_before, nginx_before = cpu_seconds(daphne.pid), nginx_cpu(nginx.pid)
                started = time.monotonic()
                stats = asyncio.run(crowd(target, room.slug, players, args.seconds))
                wall = time.monotonic() - started
                time.sleep(0.5)
                daphne_cpu = cpu_seconds(daphne.pid) - daphne_before
                proxy_cpu = nginx_cpu(nginx.pid) - nginx_before
                log.seek(mark)
                origin = Counter(
                    re.findall(rf'"GET /s/{room.slug}/hls/([^ "?]+)', log.read().decode())
                )
                segments = [n for n in origin if n.endswith(".m4s")]
                times = sorted(stats["times"]) or [0]
                rows.append(
                    (
                        players,
                        path,
                        stats["requests"],
                        stats["ok"] / max(1, stats["requests"]),
                        stats["failed"],
                        sum(origin.values()),
                        max((origin[n] for n in segments), default=0),
                        origin["live.m3u8"] / wall,
                        daphne_cpu / wall * 100,
                        daphne_cpu / (players * wall) * 1000,
                        proxy_cpu / wall * 100 if path == "nginx" else None,
                        times[int(0.95 * (len(times) - 1))] * 1000,
                    )
                )
                print(rows[-1], flush=True)
    finally:
        stream.stop.set()
        nginx.terminate()
        daphne.terminate()
        nginx.wait(timeout=10)
        daphne.wait(timeout=10)
        stream.join(timeout=5)
        from rooms.hls import StorageWriter

        StorageWriter(room.pk).clear()
    print(
        "| players | path | requests | answered 200 | players failed | requests to daphne |"
        " daphne requests per segment (max) | playlist requests to daphne per second |"
        " daphne CPU, % of a core | daphne CPU per player-second | nginx CPU, % of a core |"
        " request time p95 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        nginx_share = "–" if r[10] is None else f"{r[10]:.1f}%"
        print(
            f"| {r[0]:,} | {r[1]} | {r[2]:,} | {r[3]:.1%} | {r[4]} | {r[5]:,} | {r[6]} |"
            f" {r[7]:.1f} | {r[8]:.1f}% | {r[9]:.2f} ms | {nginx_share} | {r[11]:.0f} ms |"
        )


if __name__ == "__main__":
    main()
