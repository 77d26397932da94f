"""Room-wide frames written straight to idle connections (spaces_project/daphne_compat.py), on a
real daphne with the pinned daphne, autobahn and Twisted: the bytes on the wire are the ones the
ASGI path writes (a second daphne with SPACES_FAST_BROADCAST=off receives the same events), a
socket that stops reading still gets every frame whole and in order once it reads again (the
frames that found bytes waiting went through ASGI behind them), and the version check switches
the path off by itself. Real daphne, Redis and PostgreSQL (the services pass of `make test`)."""

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from rooms import events
from rooms.live import GUEST_COOKIE, guest_cookie_value
from spaces_project import daphne_compat
from tests.factories import RoomFactory
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the Redis of `make test`"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


class RawSocket:
    """A guest's WebSocket as bytes: the handshake by hand, then every byte the server sends."""

    def __init__(self, port: int, slug: str, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        if receive_buffer:  # set before connecting, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        cookie = f"{GUEST_COOKIE}={guest_cookie_value('raw-' + key[:8])}"
        self.sock.sendall(
            (
                f"GET /ws/rooms/{slug}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        self.sock.settimeout(10)
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def frames(self, until, timeout: float = 20):
        """(raw bytes, opcode, payload) of every frame until `until(payload)` is true."""
        deadline = time.monotonic() + timeout
        while True:
            while (frame := self._frame()) is not None:
                yield frame
                if frame[1] == 1 and until(frame[2]):
                    return
            assert time.monotonic() < deadline, "timed out"
            self.buffer += self.sock.recv(1 << 20)

    def _frame(self):
        data = self.buffer
        if len(data) < 2:
            return None
        length, start = data[1] & 0x7F, 2
        assert data[1] & 0x80 == 0, "a server frame is never masked"
        if length == 126:
            if len(data) < 4:
                return None
            length, start = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, start = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < start + length:
            return None
        raw, self.buffer = data[: start + length], data[start + length :]
        return raw, data[0] & 0x0F, raw[start:]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def levels(payload: bytes) -> dict | None:
    event = json.loads(payload)
    return event["levels"] if event["type"] == "levels" and "mark" in event["levels"] else None


@pytest.fixture
def two_daphnes(transactional_db, tmp_path):
    """daphne with the fast path (as configured by default) and daphne with it switched off;
    {name: port}, their logs in tmp_path/<name>.log."""
    started = {}
    for name, extra in (("fast", {}), ("asgi", {"SPACES_FAST_BROADCAST": "off"})):
        port = free_port()
        log = open(tmp_path / f"{name}.log", "w+b")  # noqa: SIM115
        env = process_env(
            tmp_path, LOG_LEVEL="INFO", SPACES_SOCKET_SEND_BUFFER_BYTES=str(16 << 20), **extra
        )
        started[name] = (port, start_daphne(port, env, log), log)
    for port, process, _ in started.values():
        wait_until_listening(process, port)
    yield {name: port for name, (port, _, _) in started.items()}
    for _, process, log in started.values():
        process.terminate()
        process.wait(10)
        log.close()


async def snapshot_seen(raw: RawSocket) -> None:
    await asyncio.to_thread(lambda: list(raw.frames(lambda p: b'"type":"snapshot"' in p)))


async def test_frames_on_the_wire_are_the_ones_asgi_writes(two_daphnes, tmp_path):
    room = await sync_to_async(RoomFactory)()
    sockets = {name: RawSocket(port, room.slug) for name, port in two_daphnes.items()}
    for raw in sockets.values():
        await snapshot_seen(raw)
    # Short, 16-bit and 64-bit payload lengths, each sent once to both processes (Redis).
    sizes = [10, 300, 70_000]
    for n, size in enumerate(sizes):
        await events.abroadcast(room.pk, "levels", {"levels": {"mark": n, "pad": "é" * size}})
    captured = {}
    for name, raw in sockets.items():
        frames = await asyncio.to_thread(
            lambda raw=raw: list(raw.frames(lambda p: (levels(p) or {}).get("mark") == 2))
        )
        captured[name] = [raw for raw, opcode, payload in frames if opcode == 1 and levels(payload)]
        raw.close()
    assert [levels(frame[header_size(frame) :])["mark"] for frame in captured["fast"]] == [0, 1, 2]
    assert captured["fast"] == captured["asgi"]
    for frame in captured["fast"]:  # RFC 6455: FIN + text, no mask, the JSON as UTF-8
        assert daphne_compat.text_frame(frame[header_size(frame) :].decode()) == frame
    # Each process says which way it wrote them.
    assert "Fast broadcast is on" in (tmp_path / "fast.log").read_text()
    assert "Fast broadcast is off (SPACES_FAST_BROADCAST)" in (tmp_path / "asgi.log").read_text()


def header_size(frame: bytes) -> int:
    return {126: 4, 127: 10}.get(frame[1] & 0x7F, 2)


async def test_a_socket_that_stops_reading_gets_every_frame_whole_and_in_order(two_daphnes):
    """While bytes wait for a socket, frames go through ASGI behind them: a direct write then
    would put a frame in the middle of another. Up to SPACES_SOCKET_SEND_BUFFER_BYTES (16 MiB
    here) nothing is dropped; past it the socket is (tests/rooms/test_slow_reader.py)."""
    room = await sync_to_async(RoomFactory)()
    port = two_daphnes["fast"]
    stalled = RawSocket(port, room.slug, receive_buffer=4096)
    reader = RawSocket(port, room.slug)
    for raw in (stalled, reader):
        await snapshot_seen(raw)
    # 6 MB: more than the kernel's buffers take (4 MiB at most here), so the rest waits in
    # daphne; the reader keeps up meanwhile, its frames written straight.
    count = 750
    for n in range(count):
        await events.abroadcast(room.pk, "levels", {"levels": {"mark": n, "pad": "x" * 8000}})
        if n % 50 == 49:
            await asyncio.to_thread(
                lambda n=n: list(reader.frames(lambda p: (levels(p) or {}).get("mark") == n))
            )
    marks = []
    for _raw, opcode, payload in await asyncio.to_thread(
        lambda: list(stalled.frames(lambda p: (levels(p) or {}).get("mark") == count - 1, 60))
    ):
        if opcode == 1 and (got := levels(payload)) is not None:
            marks.append(got["mark"])
    assert marks == list(range(count))
    reader.close()
    stalled.close()
