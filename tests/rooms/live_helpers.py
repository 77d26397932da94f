"""Connecting test sockets to the room consumer, as a signed-in person or as a guest."""

import asyncio
import contextlib
import json

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.sessions import CookieMiddleware
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from rooms import live, realtime
from rooms.live import GUEST_COOKIE, guest_cookie_value
from rooms.models import Post
from rooms.routing import websocket_urlpatterns

from .conftest import snapshot

APP = CookieMiddleware(URLRouter(websocket_urlpatterns))
# Coalesced room-wide events that arrive on their own clock, whatever a test does.
TICKS = frozenset({"listeners", "reactions", "levels"})


class Socket:
    """A test client on the room socket that remembers every event it was sent."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.events: list[dict] = []
        self.closed_with: int | None = None

    async def send(self, **message) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_raw(self, text=None, data=None) -> None:
        """One frame as is, empty ones included (which `send_to` refuses to send)."""
        frame = {"text": text} if data is None else {"bytes": data}
        await self.communicator.send_input({"type": "websocket.receive", **frame})

    async def next(self, timeout: float = 5) -> dict:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed_with = output.get("code")
            raise ConnectionError(f"closed with {self.closed_with}")
        event = json.loads(output["text"])
        self.events.append(event)
        return event

    async def wait_for(self, event_type: str, timeout: float = 5, **match) -> dict:
        """The next event of this type (and these fields). Note: when it does not come in time
        the communicator cancels the consumer, so a timeout ends the socket."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                if left <= 0:
                    raise TimeoutError
                event = await self.next(left)
            except TimeoutError:
                seen = [e["type"] for e in self.events]
                raise AssertionError(
                    f"no {event_type} {match or ''} within {timeout}s; saw {seen}"
                ) from None
            if event["type"] == event_type and all(event.get(k) == v for k, v in match.items()):
                return event

    async def wait_closed(self, timeout: float = 5) -> int:
        try:
            while True:
                await self.next(timeout)
        except ConnectionError:
            return self.closed_with

    def drain(self) -> list[dict]:
        """Events already waiting, without waiting for more (coalesced ticks left out)."""
        got = []
        queue = self.communicator.output_queue
        while not queue.empty():
            output = queue.get_nowait()
            if output["type"] == "websocket.close":
                self.closed_with = output.get("code")
                got.append({"type": "websocket.close", "code": self.closed_with})
                continue
            got.append(json.loads(output["text"]))
        self.events += got
        return [e for e in got if e["type"] not in TICKS]

    async def quiet(self, timeout: float = 0.3) -> list[dict]:
        """Events that arrive within `timeout` (expecting none, usually). The communicator
        cancels the consumer when the wait times out: use it last on a socket."""
        got = []
        try:
            while True:
                got.append(await self.next(timeout))
        except TimeoutError:
            return got

    async def roundtrip(self, timeout: float = 5) -> list[dict]:
        """Ping and wait for the pong: the socket is alive and every message sent before has
        been handled. Returns what arrived meanwhile, coalesced ticks left out."""
        await self.send(type="ping")
        got = []
        while (event := await self.next(timeout))["type"] != "pong":
            got.append(event)
        return [e for e in got if e["type"] not in TICKS]

    async def close(self) -> None:
        if not self.communicator.future.done():  # a timed-out wait already ended it
            await self.communicator.disconnect()


async def open_socket(room, user=None, guest_id: str | None = "guest-1", cookie: str | None = None):
    headers = []
    if user is None and (guest_id or cookie):
        value = cookie if cookie is not None else guest_cookie_value(guest_id)
        headers.append((b"cookie", f"{GUEST_COOKIE}={value}".encode()))
    communicator = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/", headers=headers)
    communicator.scope["user"] = user if user is not None else AnonymousUser()
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return Socket(communicator)


async def join(room, user=None, **kwargs) -> tuple[Socket, dict]:
    """Open a socket and read its snapshot."""
    socket = await open_socket(room, user, **kwargs)
    snapshot = await socket.wait_for("snapshot")
    return socket, snapshot


def _room_state(room):
    posts = sorted(
        Post.objects.filter(room=room).values_list("id", "text", "pinned_at", "deleted_at")
    )
    return snapshot(room), posts


async def room_state(room):
    """Everything a socket message could change in a Space, posts included."""
    return await sync_to_async(_room_state)(room)


async def eventually(check, timeout: float = 5.0) -> None:
    """Wait until `check()` (sync or async) is true: for work a socket does after it closed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def settle_ticks() -> None:
    """Cancel the count and reaction ticks still waiting in this event loop. Each test has its
    own loop (a server process has one), so a tick left pending is a test's concern only."""
    for coalescer in (live.counts, live.reactions.coalescer):
        task = coalescer._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def settled_ticks():
    yield
    await settle_ticks()
    hubs = [h for h in realtime._hubs.values() if h.socket_count]
    assert not hubs, "a test left sockets open: close every socket it opens"
