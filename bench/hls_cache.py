"""HLS players through nginx (docs/deploy/nginx.conf) against the same players on daphne directly.

    scripts/in-netns.sh flock /tmp/spaces-bench.lock .venv/bin/python bench/hls_cache.py \
        --players 100 1000 10000 --seconds 15

One live Space on a throwaway SQLite database; its stream (0.5 s segments, target duration 1 s)
is written in real time through the app's HLS storage, as its router would. Players behave as
hls.js does on a live playlist: reload it every target duration (1 s) on a keep-alive
connection, fetch each segment it has not fetched yet, one request at a time. Intended load per
player: one playlist reload and two segments a second.

The players are not asyncio: each load process runs a few thousand of them on raw non-blocking
sockets over one epoll loop (`selectors`), so that 10,000 players (30,000 requests a second)
can be driven from this 2-core machine; `--processes` of them share the players. Whether they
kept up is measured, not assumed: playlist reloads and segment fetches made in the window
against the intended ones, and how late reloads started.

For each N and each path, over a window that starts once every player has joined: daphne's CPU
(/proc) per listener-second and as a share of one core, its requests (its access log) per
segment and playlist requests per second, nginx's CPU (all its processes), the load processes'
CPU, answers and request times, and the live edge's age in the playlists players got. A path
that cannot take N is bounded in time (`--seconds` plus the join ramp) and reported as it went.
Writes docs/benchmarks/hls_cache.json and docs/benchmarks/hls_cache.png.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import heapq
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ASSETS = ROOT / "docs" / "benchmarks"
TICKS = os.sysconf("SC_CLK_TCK")
RELOAD = 1.0  # hls.js reloads a live playlist every target duration
SEGMENT_NAME = re.compile(rb"^([0-9a-f]+-\d+\.m4s)$", re.M)
MAP_NAME = re.compile(rb'URI="([^"]+)"')
LAST_PDT = re.compile(rb"PROGRAM-DATE-TIME:(\S+)\n#EXTINF:([0-9.]+)")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def nginx_cpu(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return cpu_seconds(master) + sum(cpu_seconds(int(pid)) for pid in children)


# -- the load process -----------------------------------------------------------------------------


class Player:
    __slots__ = (
        "sock",
        "buffer",
        "path",
        "sent",
        "queue",
        "seen",
        "reload_due",
        "reload_started",
        "busy",
        "connected",
    )

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.path = b""
        self.sent = 0.0
        self.queue: deque[bytes] = deque()
        self.seen: set[bytes] = set()
        self.reload_due = 0.0
        self.reload_started = 0.0
        self.busy = False
        self.connected = False


def run_players(port: int, slug: str, count: int, start: float, ramp: float, t0: float, t1: float):
    """`count` players joining over `ramp` seconds from `start`; counts what happens in [t0, t1]."""
    selector = selectors.DefaultSelector()
    prefix = f"/s/{slug}/hls/".encode()
    playlist_path = prefix + b"live.m3u8"
    timers: list[tuple[float, int, Player]] = []
    players = [Player() for _ in range(count)]
    for index, player in enumerate(players):
        heapq.heappush(timers, (start + ramp * index / max(count, 1), index, player))
    stats = Counter()
    latencies: list[float] = []
    lateness: list[float] = []
    edge_ages: list[float] = []
    order = count

    def schedule(player: Player, when: float) -> None:
        nonlocal order
        order += 1
        heapq.heappush(timers, (when, order, player))

    def send(player: Player, path: bytes, now: float) -> None:
        player.path, player.sent, player.busy = path, now, True
        request = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        try:
            player.sock.send(request)  # a few dozen bytes: the socket buffer takes them whole
        except OSError:
            fail(player, now)
            return
        if t0 <= now < t1:
            stats["sent"] += 1

    def connect(player: Player, now: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        player.sock, player.connected = sock, False
        player.buffer.clear()
        err = sock.connect_ex(("127.0.0.1", port))
        if err not in (0, 115):  # EINPROGRESS
            fail(player, now)
            return
        selector.register(sock, selectors.EVENT_WRITE, player)

    def fail(player: Player, now: float) -> None:
        if t0 <= now < t1:
            stats["failed"] += 1
        if player.sock is not None:
            try:
                selector.unregister(player.sock)
            except (KeyError, ValueError):
                pass
            player.sock.close()
            player.sock = None
        player.busy = False
        schedule(player, now + 1.0)  # hls.js retries a failed load after a second

    def reload(player: Player, now: float) -> None:
        if t0 <= now < t1:
            stats["reloads"] += 1
            lateness.append(now - player.reload_due)
        player.reload_started = now
        send(player, playlist_path, now)

    def complete(player: Player, status: int, body: bytes, now: float) -> None:
        in_window = t0 <= player.sent < t1
        if in_window:
            stats["answered"] += 1
            stats["ok"] += status == 200
            latencies.append(now - player.sent)
        if player.path == playlist_path:
            if in_window:
                stats["playlists"] += 1
            if status == 200:
                names = MAP_NAME.findall(body) + SEGMENT_NAME.findall(body)
                for name in names:
                    if name not in player.seen:
                        player.seen.add(name)
                        player.queue.append(prefix + name)
                if in_window and stats["playlists"] % 10 == 0:
                    stamps = LAST_PDT.findall(body)
                    if stamps:
                        stamp, duration = stamps[-1]
                        end = datetime.datetime.fromisoformat(stamp.decode()).timestamp()
                        edge_ages.append(time.time() - end - float(duration))
        elif in_window and player.path.endswith(b".m4s"):
            stats["segments"] += 1
        if player.queue:
            send(player, player.queue.popleft(), now)
            return
        player.busy = False
        player.reload_due = player.reload_started + RELOAD
        schedule(player, player.reload_due)

    stop = t1 + 0.5
    while True:
        now = time.time()
        if now >= stop:
            break
        timeout = min(stop, timers[0][0] if timers else stop) - now
        for key, _mask in selector.select(max(0.0, timeout)):
            player = key.data
            now = time.time()
            if not player.connected:
                if player.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    fail(player, now)
                    continue
                player.connected = True
                selector.modify(player.sock, selectors.EVENT_READ, player)
                player.reload_due = now
                reload(player, now)
                continue
            try:
                chunk = player.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                fail(player, now)
                continue
            if not chunk:
                fail(player, now)
                continue
            buffer = player.buffer
            buffer += chunk
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                continue
            head = bytes(buffer[:end])
            match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if match is None:
                fail(player, now)
                continue
            total = end + 4 + int(match.group(1))
            if len(buffer) < total:
                continue
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            complete(player, int(head[9:12]), body, now)
        now = time.time()
        while timers and timers[0][0] <= now:
            _, _, player = heapq.heappop(timers)
            if player.sock is None:
                connect(player, now)
            elif not player.busy:
                reload(player, now)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()
    lateness.sort()

    def pct(values: list[float], q: float) -> float | None:
        return values[min(len(values) - 1, int(q * len(values)))] if values else None

    return {
        **stats,
        "connected": sum(1 for p in players if p.sock is not None),
        "latency_p50": pct(latencies, 0.5),
        "latency_p95": pct(latencies, 0.95),
        "latency_max": latencies[-1] if latencies else None,
        "late_p95": pct(lateness, 0.95),
        "edge_ages": edge_ages[:2000],
        "cpu": usage.ru_utime + usage.ru_stime,
    }


# -- the run --------------------------------------------------------------------------------------


def measure(args, players: int, path: str, port: int, slug: str, daphne, nginx, log) -> dict:
    processes = max(1, min(args.processes, players // 50 or 1))
    ramp = max(1.0, players / args.join_rate)
    start = time.time() + 1.0
    t0 = start + ramp + 2.0
    t1 = t0 + args.seconds
    loads = []
    for index in range(processes):
        share = players // processes + (index < players % processes)
        loads.append(
            subprocess.Popen(
                [sys.executable, __file__, "--load", json.dumps([port, slug, share, start, ramp])]
                + [json.dumps([t0, t1])],
                stdout=subprocess.PIPE,
            )
        )
    time.sleep(max(0.0, t0 - time.time()))
    mark = os.path.getsize(log)
    daphne_before = cpu_seconds(daphne.pid)
    nginx_before = nginx_cpu(nginx.pid)
    time.sleep(max(0.0, t1 - time.time()))
    daphne_cpu = cpu_seconds(daphne.pid) - daphne_before
    nginx_used = nginx_cpu(nginx.pid) - nginx_before
    end_mark = os.path.getsize(log)
    results = []
    for load in loads:
        out, _ = load.communicate(timeout=60)
        results.append(json.loads(out))
    with open(log, "rb") as file:  # a reader of its own: daphne's offset stays where it is
        file.seek(mark)
        logged = file.read(end_mark - mark).decode(errors="replace")
    origin = Counter(re.findall(rf'"GET /s/{slug}/hls/([^ "?]+)', logged))
    total = Counter()
    for r in results:
        total.update({k: v for k, v in r.items() if isinstance(v, int)})
    window = t1 - t0
    segments = [n for n in origin if n.endswith(".m4s")]
    published = window / args.segment_seconds
    edge = sorted(a for r in results for a in r["edge_ages"])

    def worst(key):
        values = [r[key] for r in results if r[key] is not None]
        return max(values) if values else None

    def pct(values, q):
        return values[min(len(values) - 1, int(q * len(values)))] if values else None

    return {
        "players": players,
        "path": path,
        "window": window,
        "processes": processes,
        "reloads_per_player_second": total["reloads"] / (players * window),
        "segments_per_player_second": total["segments"] / (players * window),
        "intended_segments_per_second": 1 / args.segment_seconds,
        "kept_up": total["reloads"] / (players * window / RELOAD),
        "segments_kept_up": total["segments"] / (players * published),
        "requests": total["sent"],
        "answered": total["answered"],
        "ok": total["ok"],
        "failed": total["failed"],
        "connected": total["connected"],
        "origin_requests": sum(origin.values()),
        "origin_segment_requests": sum(origin[n] for n in segments),
        "origin_segments": len(segments),
        "origin_per_segment_max": max((origin[n] for n in segments), default=0),
        "origin_per_segment": sum(origin[n] for n in segments) / published,
        "origin_playlists_per_second": origin["live.m3u8"] / window,
        "daphne_core": daphne_cpu / window,
        "daphne_ms_per_listener_second": daphne_cpu / (players * window) * 1000,
        "nginx_core": nginx_used / window if path == "nginx" else None,
        "load_core": sum(r["cpu"] for r in results) / (t1 + 0.5 - start),
        "latency_p50": worst("latency_p50"),
        "latency_p95": worst("latency_p95"),
        "latency_max": worst("latency_max"),
        "late_p95": worst("late_p95"),
        "edge_age_p50": pct(edge, 0.5),
        "edge_age_p95": pct(edge, 0.95),
        "load_average": os.getloadavg()[0],
    }


@contextlib.contextmanager
def serving(*, segment_seconds: float = 0.5, stream: bool = True):
    """A live Space on a throwaway database, daphne serving it and nginx (the shipped
    configuration) before daphne; with `stream`, a tone written in real time as its HLS stream."""
    work = Path(tempfile.mkdtemp(prefix="hls-bench-"))
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

    site = types.SimpleNamespace(room=RoomFactory(), work=work, log=work / "daphne.log")
    live = LiveStream(site.room, segment_seconds=segment_seconds) if stream else None
    if live is not None:
        live.start()
    site.daphne_port, site.port, redirect_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(site.log, "wb") as output:
        site.daphne = start_daphne(site.daphne_port, env, output)
    for kind in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / kind).mkdir()
    conf = nginx_config(work, site.port, redirect_port, site.daphne_port, connections=16384)
    site.nginx = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(work), "-e", str(work / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_listening(site.daphne, site.daphne_port)
        wait_until_listening(site.nginx, site.port, timeout=10)
        time.sleep(2)
        yield site
    finally:
        if live is not None:
            live.stop.set()
        for process in (site.nginx, site.daphne):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # daphne still busy with a crowd it cannot serve
                process.kill()
                process.wait(timeout=10)
        if live is not None:
            live.join(timeout=5)
        from rooms.hls import StorageWriter

        StorageWriter(site.room.pk).clear()


def table(rows: list[dict]) -> str:
    lines = [
        "| players | path | daphne CPU, % of one core | daphne CPU per listener-second |"
        " daphne requests per segment (mean / max) | playlist requests to daphne per second |"
        " nginx CPU, % of a core | players kept up: reloads / segments, % of intended |"
        " requests answered 200 | request time p50 / p95 | live edge age p50 / p95 |"
        " load processes' CPU, % of a core |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(value):
        return "–" if value is None else f"{value * 1000:,.0f} ms"

    for r in rows:
        nginx = "–" if r["nginx_core"] is None else f"{r['nginx_core'] * 100:.0f}%"
        ok = r["ok"] / r["answered"] if r["answered"] else 0
        lines.append(
            f"| {r['players']:,} | {r['path']} | {r['daphne_core'] * 100:.1f}%"
            f"{' (saturated)' if r['daphne_core'] > 0.9 else ''}"
            f" | {r['daphne_ms_per_listener_second'] * 1000:,.1f} µs"
            f" | {r['origin_per_segment']:,.1f} / {r['origin_per_segment_max']:,}"
            f" | {r['origin_playlists_per_second']:,.1f} | {nginx}"
            f" | {r['kept_up'] * 100:.0f}% / {r['segments_kept_up'] * 100:.0f}%"
            f" | {r['ok']:,} of {r['answered']:,} ({ok:.1%})"
            f" | {ms(r['latency_p50'])} / {ms(r['latency_p95'])}"
            f" | {ms(r['edge_age_p50'])} / {ms(r['edge_age_p95'])}"
            f" | {r['load_core'] * 100:.0f}% |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    from bench.pilplot import Panel, chart

    def series(key, scale=1.0):
        out = []
        for name in ("nginx", "daphne directly"):
            mine = sorted((r for r in rows if r["path"] == name), key=lambda r: r["players"])
            out.append(
                (
                    "through nginx (proxy_cache_lock)" if name == "nginx" else name,
                    [r["players"] for r in mine],
                    [r[key] * scale for r in mine],
                )
            )
        return out

    chart(
        path,
        [
            Panel(
                "origin (daphne) CPU, % of one core",
                "players",
                series("daphne_core", 100),
                xlog=True,
                hlines=[("target: 5% through the cache", 5.0)],
            ),
            Panel(
                "origin CPU per listener-second (microseconds)",
                "players",
                series("daphne_ms_per_listener_second", 1000),
                xlog=True,
                ylog=True,
            ),
            Panel(
                "players kept up (% of intended requests)",
                "players",
                [(f"{label}: reloads", x, y) for label, x, y in series("kept_up", 100)]
                + [(f"{label}: segments", x, y) for label, x, y in series("segments_kept_up", 100)],
                xlog=True,
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--paths", nargs="+", default=["nginx", "daphne"])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--processes", type=int, default=2, help="load processes")
    parser.add_argument("--join-rate", type=float, default=2000, help="players joining per second")
    parser.add_argument("--segment-seconds", type=float, default=0.5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--report", action="store_true", help="table and plot from the last run")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("window", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.report:
        rows = json.loads((ASSETS / "hls_cache.json").read_text())
        print(table(rows))
        plot(rows, ASSETS / "hls_cache.png")
        return
    if args.load:
        port, slug, count, start, ramp = json.loads(args.load)
        t0, t1 = json.loads(args.window)
        print(json.dumps(run_players(port, slug, count, start, ramp, t0, t1)))
        return

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop daphne and nginx on the way out
    _, most = resource.getrlimit(resource.RLIMIT_NOFILE)  # 10,000 sockets, nginx's and ours
    resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))
    rows = []
    with serving(segment_seconds=args.segment_seconds) as site:
        for players in args.players:
            for path in args.paths:
                name, target = (
                    ("nginx", site.port)
                    if path == "nginx"
                    else ("daphne directly", site.daphne_port)
                )
                rows.append(
                    measure(
                        args,
                        players,
                        name,
                        target,
                        site.room.slug,
                        site.daphne,
                        site.nginx,
                        site.log,
                    )
                )
                print(json.dumps(rows[-1]), flush=True)
                if not args.no_write:
                    ASSETS.mkdir(parents=True, exist_ok=True)
                    (ASSETS / "hls_cache.json").write_text(json.dumps(rows, indent=1))
                time.sleep(3)  # the last players' sockets close; daphne settles
    print(table(rows))
    if not args.no_write:
        plot(rows, ASSETS / "hls_cache.png")


if __name__ == "__main__":
    main()
