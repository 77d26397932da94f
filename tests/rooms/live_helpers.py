"""Connecting test sockets to the room consumer, as a signed-in person or as a guest."""

import asyncio
import json

from channels.routing import URLRouter
from channels.sessions import CookieMiddleware
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from rooms.live import GUEST_COOKIE, guest_cookie_value
from rooms.routing import websocket_urlpatterns

APP = CookieMiddleware(URLRouter(websocket_urlpatterns))


class Socket:
    """A test client on the room socket that remembers every event it was sent."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.events: list[dict] = []
        self.closed_with: int | None = None

    async def send(self, **message) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_raw(self, text=None, data=None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def next(self, timeout: float = 5) -> dict:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed_with = output.get("code")
            raise ConnectionError(f"closed with {self.closed_with}")
        event = json.loads(output["text"])
        self.events.append(event)
        return event

    async def wait_for(self, event_type: str, timeout: float = 5, **match) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                seen = [e["type"] for e in self.events]
                raise AssertionError(f"no {event_type} {match or ''} within {timeout}s; saw {seen}")
            event = await self.next(left)
            if event["type"] == event_type and all(event.get(k) == v for k, v in match.items()):
                return event

    async def wait_closed(self, timeout: float = 5) -> int:
        try:
            while True:
                await self.next(timeout)
        except ConnectionError:
            return self.closed_with

    async def quiet(self, timeout: float = 0.3) -> list[dict]:
        """Events that arrive within `timeout` (expecting none, usually)."""
        got = []
        try:
            while True:
                got.append(await self.next(timeout))
        except TimeoutError:
            return got

    async def close(self) -> None:
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
