"""Every reach into daphne, autobahn and Twisted internals, pinned to the versions read.

Why it exists: a room-wide event is written to every socket of the room in the process
(`rooms.realtime.Hub.deliver`). Through the ASGI `send` each write costs ~330 µs of CPU here:
Channels' consumer `send`, the session wrapper, daphne's `handle_reply`, autobahn's
`sendMessage`/`sendFrame` (framing the same text again for every socket), and Twisted's
`transport.write`, which buffers the bytes and registers a writer with the event loop for every
write, sent on the next turn. At 10,000 sockets a promote took 2.8–4.4 s to reach everyone
(docs/benchmarks.md). Here the frame is built once (`text_frame`) and handed straight to each
connection's kernel socket (`Connection.write`, ~15–20 µs), but only when nothing is waiting in
that connection's buffers and its kernel send queue is short (`KERNEL_QUEUE_LIMIT`); otherwise
the caller falls back to the ordinary ASGI send, so the order of frames on a socket never
changes and a slow socket is still bounded by `spaces_project.backpressure`
(SPACES_SOCKET_SEND_BUFFER_BYTES) and dropped as before.

What it relies on, read from the pinned versions (`PINNED`):
- daphne: the ASGI `send` it gives an application is `functools.partial(server.handle_reply,
  protocol)` (daphne/server.py `create_application`); the protocol is an autobahn
  `WebSocketServerProtocol`; `server.connections[protocol]["disconnected"]` marks one gone.
- autobahn: `sendMessage` → `sendFrame` → `sendData` → `transport.write` for an unmasked,
  uncompressed, unfragmented text frame when `send_queue` is empty; the frame is FIN + opcode 1,
  a 7-bit, 16-bit or 64-bit length, then the payload; `trafficStats` counts it.
- Twisted: `tcp.Server` keeps unsent bytes in `dataBuffer[offset:]` and `_tempDataBuffer`
  (`_tempDataLen` bytes); `writeSomeData` is `socket.send`; `connected`/`disconnecting`.

With other versions installed the fast path switches itself off (one log line) and every frame
goes through ASGI; SPACES_FAST_BROADCAST=off switches it off by hand. Upgrading daphne,
autobahn or Twisted means re-reading the code above and updating `PINNED` and requirements.txt;
tests/rooms/test_fast_broadcast.py covers it against a real daphne.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import struct
import termios
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

logger = logging.getLogger(__name__)

PINNED = {"daphne": "4.2.3", "autobahn": "26.11.1", "Twisted": "26.10.0"}
CONNECTION_KEY = "spaces.connection"
# Frames go straight to a socket only while its kernel send queue holds less than this. Past it
# they go through Twisted, which writes only when the kernel says the socket is writable: the
# bytes of a client that stopped reading then pile up in daphne, where
# SPACES_SOCKET_SEND_BUFFER_BYTES drops it, as without this module.
KERNEL_QUEUE_LIMIT = 64 * 1024
_OUTQ = getattr(termios, "TIOCOUTQ", None)  # Linux: bytes in a socket's send queue


def installed_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PINNED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


@cache
def compatible() -> bool:
    """Whether the installed daphne, autobahn and Twisted are the ones this module was read
    from (checked once per process; says so in the log when they are not)."""
    found = installed_versions()
    if _OUTQ is None:
        logger.warning("Fast broadcast is off: no TIOCOUTQ here (frames go through ASGI)")
        return False
    if found != PINNED:
        logger.warning(
            "Fast broadcast is off: installed %s, read from %s (frames go through ASGI)",
            found,
            PINNED,
        )
        return False
    _lazy_autobahn_debug()
    return True


class _Formatted:
    """`pformat(value)`, only when a log line is actually written."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        from pprint import pformat

        return pformat(self.value)

    __repr__ = __str__


def _lazy_autobahn_debug() -> None:
    """autobahn's `WebSocketProtocol._connectionMade` pretty-prints its ~40 settings for a
    debug line on every connection, written or not: 4% of daphne's CPU in a join storm. The
    module's `pformat` is made lazy (autobahn/websocket/protocol.py: `_connectionMade` and
    `onOpen`'s log of the transport details take it; `Timings.__str__` keeps the real one)."""
    from pprint import pformat

    import autobahn.websocket.protocol as protocol

    protocol.pformat = _Formatted
    # Its one other use must still return text (`Timings.__str__`).
    protocol.Timings.__str__ = lambda self: pformat(self._timings)


def enabled() -> bool:
    """SPACES_FAST_BROADCAST is on and the installed versions are the pinned ones."""
    from django.conf import settings

    return _enabled(bool(getattr(settings, "SPACES_FAST_BROADCAST", True)))


@cache
def _enabled(setting: bool) -> bool:
    if not setting:
        logger.info("Fast broadcast is off (SPACES_FAST_BROADCAST): frames go through ASGI")
        return False
    if compatible():
        logger.info("Fast broadcast is on (%s)", ", ".join(f"{k} {v}" for k, v in PINNED.items()))
        return True
    return False


def text_frame(text: str) -> bytes:
    """The bytes autobahn writes for `text` sent by a server: FIN, opcode 1 (text), no mask,
    no compression, one frame (RFC 6455 §5.2)."""
    payload = text.encode("utf-8")
    length = len(payload)
    if length <= 125:
        header = struct.pack("!BB", 0x81, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def protocol_from_send(send: Any) -> Any | None:
    """daphne's connection behind an ASGI `send` (None under another server or in tests)."""
    if isinstance(send, functools.partial) and send.args:
        return send.args[0]
    return None


class Connection:
    """One daphne WebSocket connection, written to directly when that is safe."""

    __slots__ = ("protocol", "transport", "server")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = protocol.transport
        self.server = protocol.server

    @classmethod
    def of(cls, send: Any) -> Connection | None:
        """The connection for an ASGI `send`, if it is a plain daphne TCP WebSocket of the
        pinned versions (not TLS: those bytes must pass through the TLS layer)."""
        protocol = protocol_from_send(send)
        if protocol is None or not compatible():
            return None
        from autobahn.websocket.protocol import WebSocketServerProtocol
        from twisted.internet.tcp import Server

        transport = getattr(protocol, "transport", None)
        if not isinstance(protocol, WebSocketServerProtocol) or type(transport) is not Server:
            return None
        return cls(protocol)

    def idle(self) -> bool:
        """Open, and nothing of this connection waits anywhere: in Twisted's buffers, in
        autobahn's send queue, or as a frame autobahn would shape differently."""
        protocol, transport = self.protocol, self.transport
        return (
            protocol.state == 3  # WebSocketProtocol.STATE_OPEN
            and transport.connected
            and not transport.disconnecting
            and transport._tempDataLen == 0
            and len(transport.dataBuffer) == transport.offset
            and not protocol.send_queue
            and protocol._perMessageCompress is None
            and not protocol.maskServerFrames
            and not protocol.autoFragmentSize
            and not protocol.logOctets
            and not protocol.logFrames
            and not protocol.trackedTimings
        )

    def write(self, wire: bytes) -> bool:
        """Write a frame built by `text_frame` if the connection is idle; False when the
        caller must send it the ordinary way."""
        protocol = self.protocol
        length_byte = wire[1]
        payload_len = len(wire) - (2 if length_byte < 126 else 4 if length_byte == 126 else 10)
        if not self.idle() or 0 < protocol.maxMessagePayloadSize < payload_len:
            return False
        details = self.server.connections.get(protocol)
        if details is None or details.get("disconnected"):
            return False
        sock = self.transport.socket
        try:
            queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return False
        if queued >= KERNEL_QUEUE_LIMIT:
            return False
        # What autobahn counts for a message it sends (its stats stay true).
        stats = protocol.trafficStats
        stats.outgoingWebSocketMessages += 1
        stats.outgoingOctetsAppLevel += payload_len
        stats.outgoingOctetsWebSocketLevel += payload_len
        stats.outgoingWebSocketFrames += 1
        stats.outgoingOctetsWireLevel += len(wire)
        try:
            sent = sock.send(wire)
        except BlockingIOError:
            sent = 0
        except OSError:
            # The connection broke: Twisted finds out on its next write and closes it.
            sent = 0
        if sent < len(wire):
            self.transport.write(wire[sent:])  # the rest waits in Twisted, in order
        return True
