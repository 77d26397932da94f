"""Signaling benchmark: N listeners join one live Space on one daphne process, then a promote.

For each channel layer (in-memory, and channels-redis pub/sub on a throwaway loopback Redis) and
each N: start a fresh daphne process, connect the host and one signed-in listener, then N guest
sockets open at once from several client processes (asyncio + `websockets`, so their CPU is not
daphne's). Measured: the time until every guest has its `snapshot`, join attempts that failed
(clients retry with jittered backoff) and sockets that never joined, daphne's CPU for the storm,
daphne's RSS before and after (memory per connection), then the host promotes the signed-in
listener over its own socket and the time until each of the N guests has `speaker_promoted`
(p50 / p95 / max). The database is a throwaway PostgreSQL 15 (or a SQLite file, `--db sqlite`).
Everything runs on loopback inside a network namespace that has only `lo`:

    scripts/in-netns.sh .venv/bin/python bench/signaling.py --profile-fanout  # make bench-signaling
    scripts/in-netns.sh .venv/bin/python bench/signaling.py --n 100 1000 --layers memory

`--profile-fanout` records py-spy on daphne during 20 promote / move-back cycles after the
largest N's measurement; `--profile` adds a run at the largest N with py-spy on the join storm.
Results are printed and written to docs/benchmarks.md (section "Signaling", between its
markers), docs/benchmarks/signaling.json (rows of other layers and N are kept, so one layer or
one N can be re-run) and docs/benchmarks/signaling.png; `--report-only` rewrites them from the
stored results.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing as mp
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DOC = ROOT / "docs" / "benchmarks.md"
ASSETS = ROOT / "docs" / "benchmarks"
START, END = "<!-- signaling:start -->", "<!-- signaling:end -->"
HEADING = "## Signaling"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SETTINGS = "spaces_project.settings.test"
GUEST_COOKIE = "spaces_guest"
# The project's own run command (what `make run` starts): daphne with the process settings a
# crowd needs (spaces_project/serve.py). A `--server-root` checkout without it runs daphne with
# a raised handshake timeout, as that checkout's benchmark did.
SERVE = ["spaces_project.serve"]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# -- throwaway services on loopback ---------------------------------------------------------------


class Services:
    """PostgreSQL and Redis for the run, in a temporary folder, removed at the end."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spaces-bench-"))
        self.pg_dir: Path | None = None
        self.redis: subprocess.Popen | None = None
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def postgres(self, port: int = 55442) -> str:
        self.pg_dir = self.dir / "pg"
        if self.as_postgres:  # initdb refuses root
            shutil.chown(self.dir, "postgres")
        log = self.dir / "initdb.log"
        subprocess.run(
            [*self.as_postgres, str(PG_BIN / "initdb"), "-D", str(self.pg_dir), "-A", "trust"]
            + ["-U", "postgres"],
            check=True,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.pg_dir)]
            + ["-l", str(self.dir / "pg.log"), "-w", "-o", options, "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
            + ["spaces"],
            check=True,
        )
        return f"postgres://postgres@127.0.0.1:{port}/spaces"

    def sqlite(self) -> str:
        return f"sqlite:///{self.dir / 'bench.sqlite3'}"

    def start_redis(self, port: int = 56389) -> str:
        self.redis = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
            + ["--appendonly", "no", "--maxclients", "10000"],
            stdout=(self.dir / "redis.log").open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,  # noqa: PLW1509
        )
        wait_port(port, 10, self.redis)
        return f"redis://127.0.0.1:{port}/0"

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)
            self.redis = None

    def stop(self) -> None:
        self.stop_redis()
        if self.pg_dir is not None:
            subprocess.run(
                [*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.pg_dir)]
                + ["-m", "immediate", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the Space, its host and the person promoted (Django loaded in this driver process) -----------


def django_setup(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)  # the driver itself uses no channel layer
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True, env=os.environ
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


class Scene:
    """A host and a listener with sessions; a fresh live Space per run."""

    def __init__(self) -> None:
        from django.test import Client

        from accounts.models import Profile, User

        self.people = {}
        for name in ("host", "listener"):
            user = User.objects.create_user(username=f"bench-{name}", email=f"{name}@bench.test")
            Profile.objects.create(user=user, display_name=f"Bench {name}")
            client = Client()
            client.force_login(user)
            self.people[name] = (user, client.cookies["sessionid"].value)
        self.runs = 0

    def cookie(self, name: str) -> str:
        return f"sessionid={self.people[name][1]}"

    @property
    def listener_id(self) -> int:
        return self.people["listener"][0].pk

    def new_room(self) -> str:
        from rooms import services
        from rooms.models import Presence

        Presence.objects.all().delete()  # left by the previous run's killed server
        self.runs += 1
        room = services.room_create(host=self.people["host"][0], title=f"Benchmark {self.runs}")
        return room.slug

    def guest_cookies(self, n: int) -> list[str]:
        from rooms.live import guest_cookie_value

        return [guest_cookie_value(f"b{self.runs}-{i}") for i in range(n)]


# -- daphne ---------------------------------------------------------------------------------------


class Daphne:
    def __init__(self, port: int, env: dict[str, str], log: Path, root: Path = ROOT) -> None:
        self.port = port
        if (root / "spaces_project" / "serve.py").exists():
            command = [PY, "-m", *SERVE, "-b", "127.0.0.1", "-p", str(port)]
        else:
            command = [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            command += ["--websocket_connect_timeout", "120"]
        self.proc = subprocess.Popen(
            [*command, "spaces_project.asgi:application"],
            cwd=root,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,  # noqa: PLW1509
        )
        wait_port(port, 60, self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.kill()  # a graceful close of 10,000 sockets is not what is measured
        self.proc.wait(30)


class Profiler:
    """py-spy attached to daphne (needs ptrace); collapsed stacks, one file per phase."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [str(Path(PY).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "250"]
            + ["--format", "raw", "--threads", "--nonblocking", "-o", str(out)]
            + (["--idle"] if os.environ.get("SIGNALING_PROFILE_IDLE") else []),
            stdout=subprocess.DEVNULL,
            stderr=(out.with_suffix(".log")).open("w"),
        )
        time.sleep(1.0)

    def stop(self) -> Path:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        return self.out


# -- client processes: N/k guest sockets each -----------------------------------------------------


class ClientSocket:
    def __init__(self, worker: Worker, index: int, cookie: str) -> None:
        self.worker, self.index, self.cookie = worker, index, cookie
        self.joined_at: float | None = None
        self.refused: str | None = None
        self.attempts = 0

    async def run(self, deadline: float) -> None:
        from websockets.asyncio.client import connect

        worker = self.worker
        backoff = 0.5
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                worker.settle(self)
                return
            self.attempts += 1
            ws = None
            try:
                ws = await connect(
                    worker.uri,
                    origin=worker.origin,
                    additional_headers={"Cookie": f"{GUEST_COOKIE}={self.cookie}"},
                    open_timeout=left,
                    ping_interval=None,  # the server pings; clients answer
                    compression=None,
                    close_timeout=1,
                    user_agent_header=None,
                )
                while True:  # room events that overtake the snapshot are counted, not fatal
                    first = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
                    if '"type":"snapshot"' in first or '"type":"closing"' in first:
                        break
                    worker.before_snapshot += 1
            except Exception as error:  # every failed attempt is counted, then retried
                worker.errors[type(error).__name__] += 1
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
                await asyncio.sleep(random.uniform(0, backoff))  # noqa: S311
                backoff = min(backoff * 2, 8.0)
                continue
            break
        if '"type":"snapshot"' not in first:
            self.refused = first[:200]
            worker.settle(self)
            await ws.close()
            return
        self.joined_at = time.monotonic()
        worker.settle(self)
        worker.sockets.append(ws)
        # From here the socket is read by a small frame reader: `websockets` spends ~100 µs of
        # the client's CPU per message, and 4 client processes reading 10,000 sockets on the
        # 2 cores daphne uses too made the clients, not daphne, the bottleneck of a promote.
        reader = FrameReader(self)
        reader.transport = ws.transport
        ws.transport.set_protocol(reader)
        ws.transport.resume_reading()
        await reader.closed
        if not worker.closing:
            worker.dropped += 1

    def frame(self, payload: bytes) -> None:
        worker = self.worker
        watch = worker.watch_bytes
        if watch is not None and watch in payload and self.index not in worker.got:
            worker.got[self.index] = time.monotonic()
            if len(worker.got) >= worker.joined:
                worker.all_got.set()


class FrameReader(asyncio.Protocol):
    """A joined socket's frames, read with little CPU: text frames go to the client socket;
    pings are answered (daphne closes a socket that does not answer); a close ends it."""

    def __init__(self, client: ClientSocket) -> None:
        self.client = client
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 1:
                self.client.frame(payload)
            elif opcode == 9 and self.transport is not None and length <= 125:
                # A pong, masked with a zero key (client frames must be masked).
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + payload)
            elif opcode == 8 and self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class Worker:
    def __init__(self, port: int, slug: str, cookies: list[str]) -> None:
        self.uri = f"ws://127.0.0.1:{port}/ws/rooms/{slug}/"
        self.origin = f"http://127.0.0.1:{port}"
        self.clients = [ClientSocket(self, i, cookie) for i, cookie in enumerate(cookies)]
        self.errors: collections.Counter[str] = collections.Counter()
        self.before_snapshot = 0
        self.dropped = 0  # joined, then closed by the server
        self.closing = False
        self.settled = 0
        self.joined = 0
        self.all_settled = asyncio.Event()
        self.watch: str | None = None
        self.watch_bytes: bytes | None = None
        self.got: dict[int, float] = {}
        self.all_got = asyncio.Event()
        self.sockets: list[Any] = []

    def settle(self, client: ClientSocket) -> None:
        self.settled += 1
        self.joined += client.joined_at is not None
        if self.settled == len(self.clients):
            self.all_settled.set()


def client_process(conn, port: int, slug: str, cookies: list[str]) -> None:
    raise_fd_limit()
    asyncio.run(client_main(conn, port, slug, cookies))


async def client_main(conn, port: int, slug: str, cookies: list[str]) -> None:
    loop = asyncio.get_running_loop()
    worker = Worker(port, slug, cookies)

    async def command():
        return await loop.run_in_executor(None, conn.recv)

    conn.send(("ready",))
    _, start_at, deadline = await command()
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    tasks = [asyncio.create_task(client.run(deadline)) for client in worker.clients]
    await worker.all_settled.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send(
        (
            "joined",
            {
                "joined_at": [c.joined_at for c in worker.clients if c.joined_at is not None],
                "refused": [c.refused for c in worker.clients if c.refused],
                "never": sum(c.joined_at is None and not c.refused for c in worker.clients),
                "attempts": sum(c.attempts for c in worker.clients),
                "errors": dict(worker.errors),
                "before_snapshot": worker.before_snapshot,
                "cpu": usage.ru_utime + usage.ru_stime,
            },
        )
    )
    while True:
        message = await command()
        if message[0] == "arm":  # watch for the next event of this type
            worker.watch = f'"type":"{message[1]}"'
            worker.watch_bytes = worker.watch.encode()
            worker.got = {}
            worker.all_got = asyncio.Event()
            conn.send(("armed",))
        elif message[0] == "collect":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.all_got.wait(), max(0.0, message[1] - loop.time()))
            conn.send(("got", list(worker.got.values()), worker.joined, worker.dropped))
        elif message[0] == "close":
            worker.closing = True
            for task in tasks:
                task.cancel()
            conn.send(("closed",))
            return


class Clients:
    """k client processes; the driver talks to them over pipes."""

    def __init__(self, k: int, port: int, slug: str, cookies: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self.pipes, self.procs = [], []
        for part in range(k):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=client_process, args=(theirs, port, slug, cookies[part::k]), daemon=True
            )
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)
        self.expect("ready", 60)

    def send(self, *message) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def expect(self, kind: str, timeout: float) -> list[tuple]:
        replies = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a client process gave no {kind!r} within {timeout}s")
            reply = pipe.recv()
            assert reply[0] == kind, reply
            replies.append(reply)
        return replies

    async def aexpect(self, kind: str, timeout: float) -> list[tuple]:
        return await asyncio.to_thread(self.expect, kind, timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("close")
            self.expect("closed", 10)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# -- one run --------------------------------------------------------------------------------------


class Person:
    """The host's (or the listener's) own socket, read in the driver."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.errors: list[str] = []
        self.watch: str | None = None
        self.seen_at: float | None = None
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int, slug: str, cookie: str) -> Person:
        from websockets.asyncio.client import connect

        ws = await connect(
            f"ws://127.0.0.1:{port}/ws/rooms/{slug}/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": cookie},
            open_timeout=60,
            ping_interval=None,
            compression=None,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if first["type"] != "snapshot":
            raise RuntimeError(f"expected a snapshot, got {first}")
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                if '"type":"error"' in frame:
                    self.errors.append(frame)
                if self.watch is not None and self.watch in frame and self.seen_at is None:
                    self.seen_at = time.monotonic()

    async def send(self, **message) -> None:
        await self.ws.send(json.dumps(message))


async def cycle(
    clients: Clients, host: Person, event: str, message: dict, timeout: float
) -> tuple[list[float], int, float, int]:
    """Send one host action; seconds until each guest has `event`, how many never did, and
    seconds until the host's own socket had it, and how many guests the server had dropped."""
    clients.send("arm", event)
    await clients.aexpect("armed", 10)
    host.watch, host.seen_at = f'"type":"{event}"', None
    sent = time.monotonic()
    await host.send(**message)
    clients.send("collect", sent + timeout)
    replies = await clients.aexpect("got", timeout + 30)
    latencies = [t - sent for _, times, _, _ in replies for t in times]
    dropped = sum(reply[3] for reply in replies)
    joined = sum(reply[2] for reply in replies)
    host_s = host.seen_at - sent if host.seen_at is not None else float("nan")
    return latencies, joined - len(latencies), host_s, dropped


async def measure(
    daphne: Daphne,
    scene: Scene,
    slug: str,
    n: int,
    *,
    processes: int,
    join_timeout: float,
    promote_timeout: float,
    profile_join: Path | None = None,
    profile_fanout: Path | None = None,
) -> dict[str, Any]:
    port = daphne.port
    host = await Person.open(port, slug, scene.cookie("host"))
    listener = await Person.open(port, slug, scene.cookie("listener"))
    await asyncio.sleep(1.5)  # let the first listener count go out
    rss_before, cpu_before = daphne.rss_kb(), daphne.cpu_seconds()
    clients = await asyncio.to_thread(
        Clients, min(processes, max(1, n // 50)), port, slug, scene.guest_cookies(n)
    )
    result: dict[str, Any] = {"n": n}
    try:
        profiler = Profiler(daphne.pid, profile_join) if profile_join else None
        start_at = time.monotonic() + 0.5
        clients.send("join", start_at, start_at + join_timeout)
        joined = await clients.aexpect("joined", join_timeout + 120)
        if profiler:
            result["profile_join"] = str(profiler.stop())
        cpu_join = daphne.cpu_seconds() - cpu_before
        reports = [reply[1] for reply in joined]
        times = [t - start_at for r in reports for t in r["joined_at"]]
        errors: collections.Counter[str] = collections.Counter()
        for r in reports:
            errors.update(r["errors"])
        result.update(
            joined=len(times),
            never=sum(r["never"] for r in reports),
            refused=sum(len(r["refused"]) for r in reports),
            refusals=[x for r in reports for x in r["refused"]][:3],
            failed_attempts=sum(r["attempts"] for r in reports) - len(times),
            attempt_errors=dict(errors),
            events_before_snapshot=sum(r["before_snapshot"] for r in reports),
            storm_s=max(times) if times else float("nan"),
            join_p50_s=percentile(times, 50),
            join_p95_s=percentile(times, 95),
            daphne_cpu_join_s=cpu_join,
            client_cpu_join_s=sum(r["cpu"] for r in reports),
        )
        await asyncio.sleep(3.0)  # counts flushed, the storm's garbage settled
        rss_after = daphne.rss_kb()
        result.update(
            rss_before_mb=rss_before / 1024,
            rss_after_mb=rss_after / 1024,
            kb_per_socket=(rss_after - rss_before) / max(1, len(times)),
        )
        cpu_before = daphne.cpu_seconds()
        promote = {"type": "promote", "user": scene.listener_id, "role": "speaker"}
        try:
            latencies, missing, host_s, dropped = await cycle(
                clients, host, "speaker_promoted", promote, promote_timeout
            )
        except Exception as error:  # e.g. the server dropped the host's own socket
            result.update(promote_error=f"{type(error).__name__}: {error}")
            latencies, missing, host_s, dropped = [], result["joined"], float("nan"), 0
            profile_fanout = None
        result.update(
            promote_p50_ms=percentile(latencies, 50) * 1000,
            promote_p95_ms=percentile(latencies, 95) * 1000,
            promote_max_ms=max(latencies, default=float("nan")) * 1000,
            promote_missing=missing,
            dropped_after_join=dropped,
            promote_first_ms=min(latencies, default=float("nan")) * 1000,
            promote_host_ms=host_s * 1000,
            daphne_cpu_promote_s=daphne.cpu_seconds() - cpu_before,
            host_errors=host.errors[:3],
        )
        if profile_fanout:  # after the measurement, so it does not perturb it
            profiler = Profiler(daphne.pid, profile_fanout)
            cycles = []
            move = {"type": "move_to_audience", "user": scene.listener_id}
            for _ in range(10):
                cycles.append(await cycle(clients, host, "moved_to_audience", move, 60))
                cycles.append(await cycle(clients, host, "speaker_promoted", promote, 60))
            result["profile_promote"] = str(profiler.stop())
            result["profiled_cycles_p95_ms"] = [round(percentile(c[0], 95) * 1000) for c in cycles]
    finally:
        await asyncio.to_thread(clients.close)
        for person in (host, listener):
            with contextlib.suppress(Exception):
                await person.ws.close()
    return result


# -- profiles -------------------------------------------------------------------------------------


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


# Frames on every stack of their thread: left out of the inclusive list.
SCAFFOLDING = (
    "_run_once",
    "run_forever",
    "mainLoop",
    "<module>",
    "runpy",
    "Thread.",
    "_worker (",
    "_WorkItem.run",
    "thread_handler",
    "SyncToAsync.__call__",
    "CommandLineInterface.",
    "Server.run (",
    "asyncioreactor.py",
    "Handle._run",
    "thread (",
)


def summarize_profile(path: Path, top: int = 12) -> dict[str, Any]:
    """Self and inclusive sample shares from py-spy's collapsed stacks, per thread kind."""
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        main = "MainThread" in thread
        threads["event loop (main thread)" if main else "ORM thread (database_sync_to_async)"] += (
            samples
        )
        if not frames:
            continue
        total += samples
        names = [short(f) for f in frames]
        self_time[names[-1]] += samples
        for name in set(names):
            inclusive[name] += samples
    return {
        "samples": total,
        "threads": dict(threads),
        "self": [(name, count / total) for name, count in self_time.most_common(top)],
        "inclusive": [
            (name, count / total)
            for name, count in inclusive.most_common(60)
            if not any(skip in name for skip in SCAFFOLDING)
        ][:top],
    }


# -- report ---------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    return "—" if value != value else f"{value:,.{digits}f}"  # noqa: PLR0124 (NaN)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| layer | N | joined | never joined | failed attempts (retried) "
        "| join storm: all snapshots | join p50 / p95 | accepted per s | daphne CPU, storm "
        "| per join | promote first / p50 / p95 / max | promote missing | RSS before → after "
        "| per socket |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['n']:,} | {r['joined']:,} | {r['never'] + r['refused']:,}"
            f" | {r['failed_attempts']:,} | {fmt(r['storm_s'], 1)} s"
            f" | {fmt(r['join_p50_s'], 1)} / {fmt(r['join_p95_s'], 1)} s"
            f" | {fmt(r['joined'] / r['storm_s'] if r['joined'] else float('nan'))}"
            f" | {fmt(r['daphne_cpu_join_s'], 1)} s"
            f" | {fmt(r['daphne_cpu_join_s'] * 1000 / max(1, r['joined']), 2)} ms"
            f" | {fmt(r.get('promote_first_ms', float('nan')))} / {fmt(r['promote_p50_ms'])}"
            f" / {fmt(r['promote_p95_ms'])}"
            f" / {fmt(r['promote_max_ms'])} ms | {r['promote_missing']:,}"
            f" | {fmt(r['rss_before_mb'])} → {fmt(r['rss_after_mb'])} MB"
            f" | {fmt(r['kb_per_socket'], 1)} KB |"
        )
    return "\n".join(lines)


def profile_text(layer: str, n: int, phase: str, summary: dict[str, Any]) -> str:
    threads = ", ".join(
        f"{name} {count / max(1, sum(summary['threads'].values())):.0%}"
        for name, count in summary["threads"].items()
    )
    lines = [
        f"**{layer} layer, N = {n:,}, {phase}** — {summary['samples']:,} samples of daphne "
        f"on CPU ({threads}).",
        "",
        "| self time | share | | inclusive | share |",
        "|---|---|---|---|---|",
    ]
    for (s_name, s_share), (i_name, i_share) in zip(
        summary["self"], summary["inclusive"], strict=False
    ):
        lines.append(f"| `{s_name}` | {s_share:.1%} | | `{i_name}` | {i_share:.1%} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for layer, marker in (("in-memory", "o"), ("redis pub/sub", "s")):
        mine = [r for r in rows if r["layer"] == layer and r["joined"]]
        if not mine:
            continue
        ns = [r["n"] for r in mine]
        axes[0].plot(ns, [r["storm_s"] for r in mine], marker=marker, label=layer)
        axes[1].plot(ns, [r["promote_p95_ms"] for r in mine], marker=marker, label=f"{layer} p95")
        axes[1].plot(
            ns,
            [r["promote_max_ms"] for r in mine],
            marker=marker,
            linestyle=":",
            label=f"{layer} max",
        )
        axes[2].plot(ns, [r["kb_per_socket"] for r in mine], marker=marker, label=layer)
    axes[1].axhline(500, color="red", linewidth=0.8, linestyle="--", label="target p95 500 ms")
    titles = (
        "join storm: time until all have the snapshot (s)",
        "promote: time until all have it (ms)",
        "daphne RSS per socket (KB)",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("sockets in one Space, one daphne process")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_section(text: str) -> None:
    """Replace only this benchmark's block in the shared docs/benchmarks.md.

    The start marker sits under the heading so other sections' writers, which replace from
    their own `## ` heading to the next, never take it with them.
    """
    block = f"{START}\n{text.strip()}\n{END}"
    existing = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in existing and END in existing:
        before, rest = existing.split(START, 1)
        after = rest.split(END, 1)[1]
        updated = before + block + after
    else:
        updated = existing.rstrip() + f"\n\n{HEADING}\n\n{block}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(updated)


def report(rows, profiles) -> str:
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    first = rows[0] if rows else {}
    parts = [
        "One live Space, one daphne process started by the project's run command"
        " (`python -m spaces_project.serve`, what `make run` starts; rows measured on older code"
        " ran `python -m daphne --websocket_connect_timeout 120`),"
        f" settings `{SETTINGS}`, database {first.get('database', '?')} (`CONN_MAX_AGE`"
        f" {first.get('conn_max_age', '?')}). The host and one signed-in listener connect"
        " first; then N guest sockets are opened at the same instant from"
        f" {first.get('processes', '?')} client processes (asyncio + `websockets`) on the same"
        f" machine ({machine}), so they share its cores with daphne and the database. Clients"
        " retry failed attempts with jittered exponential backoff (0.5–8 s) for up to"
        f" {first.get('join_timeout', 0):.0f} s. *Join storm* is the time from the burst until"
        " the last guest has its `snapshot`; *never joined* counts sockets without one by then."
        " Then the host sends `promote` on its socket and each guest's arrival time of"
        " `speaker_promoted` is taken (`time.monotonic`, one clock for all processes; *first* is"
        " the earliest guest, which includes the action itself); once joined, each client socket"
        " is read by a small frame reader (it answers pings), not by `websockets`, whose ~100 µs"
        " per message made the client processes the bottleneck. RSS is daphne's `VmRSS` before"
        " the burst and 3 s after the last join. Layers: Channels' in-memory layer, and"
        " channels-redis' pub/sub layer on a loopback Redis. Targets: 10,000 listeners on one"
        " daphne process: every guest's snapshot within 20 s with no attempt retried, at most"
        " 1.5 ms of daphne's CPU per guest join, promote to all within 500 ms p95, at most"
        " 45 KB per socket. The machine is shared with other engineers' test runs (benchmarks"
        " themselves take turns under `flock /tmp/spaces-bench.lock`).",
        "",
        "Run with: "
        + "; ".join(sorted({f"`{r['command']}` ({r['layer']})" for r in rows if "command" in r})),
        "",
        table(rows),
        "",
        "![signaling](benchmarks/signaling.png)",
    ]
    failures = [r for r in rows if r.get("refusals") or r.get("host_errors")]
    for r in failures:
        parts += ["", f"{r['layer']} N={r['n']}: refusals {r['refusals']}, host {r['host_errors']}"]
    errors = [r for r in rows if r["attempt_errors"]]
    if errors:
        parts += ["", "Failed attempts by kind (each was retried):"]
        for r in errors:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r["attempt_errors"].items()))
            parts.append(f"- {r['layer']} N={r['n']:,}: {kinds}")
    if profiles:
        parts += [
            "",
            "### Profile at the largest N",
            "",
            "py-spy (`record --nonblocking --threads`) attached to daphne. Shares are of samples"
            " where daphne was on CPU; *self* is the innermost frame, *inclusive* counts every"
            " frame on the stack (the event loop's and threads' scaffolding left out).",
        ]
        for p in profiles:
            parts += ["", profile_text(p["layer"], p["n"], p["phase"], p["summary"])]
    return "\n".join(parts)


# -- main -----------------------------------------------------------------------------------------


def run_layer(layer: str, scene: Scene, env: dict[str, str], args, port: int):
    """The measured runs, smallest N first; with --profile-fanout the largest N also records
    promote / move-back cycles after its measurement; --profile adds a run at the largest N
    with py-spy attached during the join storm (so the measured storms are not perturbed)."""
    rows, profiles = [], []
    layer_name = "in-memory" if layer == "memory" else "redis pub/sub"
    sizes = [n for n in args.n if n <= args.max_n]
    plan = [(n, False) for n in sizes]
    if args.profile and sizes:
        plan.append((max(sizes), True))
    command = " ".join(["scripts/in-netns.sh .venv/bin/python bench/signaling.py", *sys.argv[1:]])
    for n, join_profiled in plan:
        if not join_profiled and time.monotonic() > args.deadline:
            print(f"  {layer_name} N={n}: skipped, past --max-minutes", flush=True)
            continue
        slug = scene.new_room()
        port += 1
        log_dir = Path(tempfile.mkdtemp(prefix=f"signaling-{layer}-{n}-"))
        daphne = Daphne(port, env, log_dir / "daphne.log", args.server_root)
        fanout = args.profile_fanout and not join_profiled and n == max(sizes)
        print(f"  {layer_name} N={n}{' (join storm profiled)' if join_profiled else ''} ...")
        try:
            result = asyncio.run(
                measure(
                    daphne,
                    scene,
                    slug,
                    n,
                    processes=args.processes,
                    join_timeout=args.join_timeout,
                    promote_timeout=args.promote_timeout,
                    profile_join=log_dir / "join.txt" if join_profiled else None,
                    profile_fanout=log_dir / "promote.txt" if fanout else None,
                )
            )
        finally:
            daphne.stop()
        result.update(layer=layer_name, command=command, conn_max_age=args.conn_max_age)
        summary = {k: v for k, v in result.items() if not k.startswith("profile")}
        print("   ", json.dumps(summary, default=str), flush=True)
        if result.get("profile_promote"):
            cycles = result["profiled_cycles_p95_ms"]
            profiles.append(
                {
                    "layer": layer_name,
                    "n": n,
                    "phase": f"promote fan-out (20 cycles after the measurement, p95 {cycles} ms)",
                    "summary": summarize_profile(Path(result["profile_promote"])),
                }
            )
        if join_profiled:
            profiles.append(
                {
                    "layer": layer_name,
                    "n": n,
                    "phase": f"join storm (separate run: storm {result['storm_s']:.0f} s)",
                    "summary": summarize_profile(Path(result["profile_join"])),
                }
            )
            continue
        rows.append(result)
        if result["never"] or result["refused"]:
            print(f"  {layer_name}: sockets failed to join at N={n}; not stepping further")
            break
    return rows, profiles, port


def merged(rows, profiles) -> tuple[list, list]:
    """This run's rows replace stored rows of the same layer and N; others are kept."""
    path = ASSETS / "signaling.json"
    if path.exists():
        stored = json.loads(path.read_text())
        fresh = {(r["layer"], r["n"]) for r in rows}
        rows = [r for r in stored["rows"] if (r["layer"], r["n"]) not in fresh] + rows
        kinds = {(p["layer"], p["phase"].split(" (")[0]) for p in profiles}
        profiles = [
            p for p in stored["profiles"] if (p["layer"], p["phase"].split(" (")[0]) not in kinds
        ] + profiles
    order = {"in-memory": 0, "redis pub/sub": 1}
    rows.sort(key=lambda r: (order[r["layer"]], r["n"]))
    profiles.sort(key=lambda p: (order[p["layer"]], p["phase"]))
    return rows, profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000, 2000, 5000, 10000])
    parser.add_argument("--max-n", type=int, default=10000)
    parser.add_argument("--layers", nargs="+", choices=["memory", "redis"], default=None)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--conn-max-age",
        default="60",
        help="CONN_MAX_AGE for daphne: 60 keeps the socket path's one database connection; "
        "0 (the settings' default) opens a new connection for every database call",
    )
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="run daphne from another checkout (same models) to compare code side by side",
    )
    parser.add_argument("--join-timeout", type=float, default=600.0)
    parser.add_argument("--promote-timeout", type=float, default=60.0)
    parser.add_argument("--max-minutes", type=float, default=60.0, help="no new N after this")
    parser.add_argument(
        "--profile", action="store_true", help="an extra run at the largest N, py-spy on the storm"
    )
    parser.add_argument(
        "--profile-fanout",
        action="store_true",
        help="at the largest N, py-spy on 20 promote / move-back cycles after the measurement",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the section from the stored results"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    args.layers = args.layers or ["memory", "redis"]
    started = time.monotonic()
    args.deadline = started + args.max_minutes * 60
    fds = raise_fd_limit()
    if fds < max(args.n) + 1000:
        print(f"warning: only {fds} file descriptors per process", flush=True)

    if args.report_only:
        stored = json.loads((ASSETS / "signaling.json").read_text())
        publish(stored["rows"], stored["profiles"])
        return
    services = Services()
    try:
        url = services.postgres() if args.db == "postgres" else services.sqlite()
        db_name = "PostgreSQL 15 (loopback, fsync off)" if args.db == "postgres" else "SQLite file"
        django_setup(url)
        scene = Scene()
        base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "CONN_MAX_AGE": args.conn_max_age,
        }
        rows, profiles, port = [], [], 21000  # below the ephemeral range clients use
        for layer in args.layers:
            env = dict(base_env)
            if layer == "redis":
                env["REDIS_URL"] = services.start_redis()
            got_rows, got_profiles, port = run_layer(layer, scene, env, args, port)
            rows += got_rows
            profiles += got_profiles
            services.stop_redis()
    finally:
        services.stop()

    for row in rows:
        row.update(database=db_name, processes=args.processes, join_timeout=args.join_timeout)
    print(f"{(time.monotonic() - started) / 60:.0f} min")
    if args.no_write:
        print(report(rows, profiles))
        return
    publish(*merged(rows, profiles))


def publish(rows, profiles) -> None:
    text = report(rows, profiles)
    print(text)
    ASSETS.mkdir(parents=True, exist_ok=True)
    plot(rows, ASSETS / "signaling.png")
    (ASSETS / "signaling.json").write_text(
        json.dumps({"rows": rows, "profiles": profiles}, indent=1, default=str) + "\n"
    )
    write_section(text)
    print(f"written to {DOC.relative_to(ROOT)} and {ASSETS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
