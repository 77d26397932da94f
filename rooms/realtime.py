"""Room-wide events reach each daphne process once; the process writes them to its own sockets.

`group_send` to a group with every listener in it costs one channel-layer message per socket
(7–111 s p95 at 10,000 sockets here); one message per process, fanned out locally, took
0.4–1.1 s (docs/benchmarks.md). So every process that holds room sockets keeps one channel in the
`PROCESS_GROUP`, and `rooms.events` sends each room-wide event to that group once.

One `Hub` per event loop (tests run one loop each); it starts with the first socket and stops
with the last, leaving the group so no message waits for a process that has gone.

Outages. Events published while the channel layer (Redis) is down are lost on the way, though
their changes are committed. The hub probes its own channel every second (a message to itself
through the layer); after a probe fails, the first one that comes back makes every local socket
re-read the room (`Socket.resync`: a fresh snapshot), so nobody stays behind. The same channel
carries replies to this process's requests (`Hub.request`: media workers' answers).
"""

import asyncio
import gc
import json
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from spaces_project import daphne_compat

from .presence import GuestPresence

logger = logging.getLogger(__name__)

PROCESS_GROUP = "spaces.processes"
MESSAGE_TYPE = "room.broadcast"


class Socket(Protocol):
    """What the hub needs of a consumer."""

    viewer: Any  # has `user_id`

    def wants(self, event: dict[str, Any]) -> bool: ...

    async def send_frame(self, frame: str) -> None: ...

    def write_now(self, wire: bytes) -> bool:
        """Write a ready WebSocket frame straight to the connection if nothing waits on it;
        False when `send_frame` must send it (spaces_project.daphne_compat)."""

    async def observe(self, event: dict[str, Any]) -> None: ...

    async def resync(self) -> None: ...


# Run once per process for every room-wide event, before the fan-out (the audio router's
# enforcement of mutes and moves back); registered in RoomsConfig.ready().
EventHook = Callable[[int, dict[str, Any]], Awaitable[None]]
event_hooks: list[EventHook] = []
# Events every socket in the room reacts to, not only the person they are about.
EVERYONE_OBSERVES = frozenset(
    {"room_live", "room_ended", "room_cancelled", "host_changed", "media_moved"}
)
# Events that change nothing a snapshot shows (a snapshot's listener count is filled in when sent).
SNAPSHOT_NEUTRAL = frozenset({"listeners", "reactions", "levels"})
# channels-redis forgets a group member after `group_expiry` (a day by default): a process that
# holds sockets for longer re-joins the group well before that.
GROUP_REFRESH_SECONDS = 3600.0
# How often the hub checks its channel layer by a message to itself, and how long it waits.
PROBE_SECONDS = 1.0
PROBE_TIMEOUT = 2.0
REPLY_TYPE = "hub.reply"
# A Space's gate (what admitting a guest reads) is shared by the process's guest joins until the
# room's next event, and for at most this long.
GATE_SECONDS = 5.0


class Hub:
    def __init__(self) -> None:
        self.rooms: dict[int, set[Socket]] = {}
        self.channel_name: str | None = None
        self._task: asyncio.Task | None = None
        self._refresh: asyncio.Task | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        self._gc_freeze_at = 2000  # sockets at the next freeze
        # The last listener count broadcast per room (at most ~1 s old while people come and
        # go): a joining socket's snapshot uses it instead of counting every presence row.
        self.listeners: dict[int, int] = {}
        # Every guest's snapshot is the same: it is read once per room and shared until the room's
        # next event (the generation counts them), so a storm of guests costs one read per event.
        self.generation: dict[int, int] = {}
        self._guest_snapshots: dict[int, tuple[int, asyncio.Task]] = {}
        self._replies: dict[str, asyncio.Future] = {}
        # Spaces' gates by slug: (gate read, the hub's run and the room's generation when the
        # read began, loop time), and reads in flight.
        self._gates: dict[str, tuple[Any, int, int, float]] = {}
        self._gate_reads: dict[str, asyncio.Task] = {}
        self.runs = 0  # times the hub started: events reach it only while it runs
        # This process's guests' presence, written in batches (rooms.presence).
        self.presence = GuestPresence()
        self._probe: asyncio.Task | None = None
        # True from a failed probe (or publish) until the layer works again and sockets resync.
        self.layer_down = False
        self.resyncs = 0
        self.received_at = float("-inf")  # loop time of the last message from the layer

    @property
    def socket_count(self) -> int:
        return sum(len(sockets) for sockets in self.rooms.values())

    async def add(self, room_id: int, socket: Socket) -> None:
        async with self._starting:
            if self._task is None:
                layer = get_channel_layer()
                self.channel_name = await layer.new_channel("spaces.process.")
                await layer.group_add(PROCESS_GROUP, self.channel_name)
                self._task = asyncio.create_task(self._receive_forever(layer))
                self.runs += 1
                self._refresh = asyncio.create_task(self._stay_in_group(layer, self.channel_name))
                self._probe = asyncio.create_task(self._watch_layer(layer))
        self.rooms.setdefault(room_id, set()).add(socket)
        self._freeze_gc_when_large()

    async def discard(self, room_id: int, socket: Socket) -> None:
        sockets = self.rooms.get(room_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.rooms[room_id]
                self.listeners.pop(room_id, None)
                self._guest_snapshots.pop(room_id, None)
        if not self.rooms and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            self._refresh.cancel()
            self._probe.cancel()
            self._gates.clear()
            await get_channel_layer().group_discard(PROCESS_GROUP, self.channel_name)
            await self.presence.close()

    async def room_gate(self, slug: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """The gate of the Space at `slug` for a guest's admission (rooms.live.RoomGate), read
        with `read()` only when no read since the room's last event is kept: events reach this
        process only while the hub runs, so a gate read while it did not run is not kept, and
        none is kept longer than GATE_SECONDS."""
        loop = asyncio.get_running_loop()
        kept = self._gates.get(slug)
        if kept is not None:
            gate, runs, generation, at = kept
            if (
                self._task is not None
                and runs == self.runs
                and generation == self.generation.get(gate.room_id, 0)
                and loop.time() - at < GATE_SECONDS
            ):
                return gate
        reading = self._gate_reads.get(slug)
        if reading is None:
            reading = asyncio.ensure_future(self._read_gate(slug, read))
            self._gate_reads[slug] = reading
            reading.add_done_callback(lambda _, slug=slug: self._gate_reads.pop(slug, None))
        return await asyncio.shield(reading)

    async def _read_gate(self, slug: str, read: Callable[[], Awaitable[Any]]) -> Any:
        running, runs = self._task is not None, self.runs
        generations = dict(self.generation)
        at = asyncio.get_running_loop().time()
        gate = await read()
        if gate is not None and running and runs == self.runs and self._task is not None:
            generation = generations.get(gate.room_id, 0)
            if generation == self.generation.get(gate.room_id, 0):
                self._gates[slug] = (gate, runs, generation, at)
        return gate

    async def guest_snapshot(
        self, room_id: int, read: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """The snapshot for a guest joining `room_id`, read with `read()` at most once per event.

        Call it after `add()`: an event that lands during or after the read reaches the socket
        as well, so the shared snapshot is never older than what the socket is sent next.
        """
        generation = self.generation.get(room_id, 0)
        kept = self._guest_snapshots.get(room_id)
        if kept is None or kept[0] != generation or _failed(kept[1]):
            kept = (generation, asyncio.ensure_future(read()))
            self._guest_snapshots[room_id] = kept
        state = await asyncio.shield(kept[1])  # one joiner leaving does not cancel the read
        return {**state, "listeners": self.listeners.get(room_id, state["listeners"])}

    def local_count(self, room_id: int) -> int:
        return len(self.rooms.get(room_id, ()))

    async def _stay_in_group(self, layer, channel_name: str) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            try:
                await layer.group_add(PROCESS_GROUP, channel_name)
            except Exception:
                logger.exception("Could not renew this process's room event group")

    async def _receive_forever(self, layer) -> None:
        while True:
            try:
                message = await layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Room event channel failed; retrying")
                await asyncio.sleep(0.5)
                continue
            self.received_at = asyncio.get_running_loop().time()
            if message.get("type") == MESSAGE_TYPE:
                await self.deliver(message["room_id"], message["event"])
            elif message.get("type") == REPLY_TYPE:
                waiting = self._replies.get(message.get("request_id"))
                if waiting is not None and not waiting.done():
                    waiting.set_result(message)

    async def request(self, channel: str, message: dict[str, Any], wait: float) -> dict | None:
        """Send `message` to `channel` and wait for its reply (a `hub.reply` carrying the same
        `request_id`, sent to `reply_to`); None if none came within `wait` seconds."""
        if self.channel_name is None:
            raise RuntimeError("the hub has no channel: add a socket first")
        request_id = uuid.uuid4().hex
        waiting = asyncio.get_running_loop().create_future()
        self._replies[request_id] = waiting
        try:
            async with asyncio.timeout(wait):
                await get_channel_layer().send(
                    channel, {**message, "reply_to": self.channel_name, "request_id": request_id}
                )
                return await waiting
        except TimeoutError:
            return None
        finally:
            self._replies.pop(request_id, None)

    async def _watch_layer(self, layer) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            failed = False
            try:
                ok = await self.request(self.channel_name, {"type": REPLY_TYPE}, PROBE_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer refused the probe: certainly down
                ok, failed = None, True
            # A late probe while other messages keep arriving is a busy process, not an outage.
            busy = asyncio.get_running_loop().time() - self.received_at < PROBE_TIMEOUT
            if failed or (ok is None and not busy):
                if not self.layer_down:
                    logger.warning("The channel layer is not delivering; sockets will resync")
                self.layer_down = True
            elif ok is not None and self.layer_down:
                self.layer_down = False
                logger.warning("The channel layer is back; resyncing this process's sockets")
                await self.resync_all()

    async def resync_all(self) -> None:
        """Send every local socket a fresh snapshot (events may have been lost on the way)."""
        self.resyncs += 1
        for room_id in list(self.rooms):
            self.generation[room_id] = self.generation.get(room_id, 0) + 1
        room_sockets = [socket for sockets in self.rooms.values() for socket in sockets]
        # A few snapshot reads at a time: the database is shared with everything else.
        for start in range(0, len(room_sockets), 16):
            results = await asyncio.gather(
                *(socket.resync() for socket in room_sockets[start : start + 16]),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, Exception):
                    logger.warning("Resync of a socket failed: %r", result)

    async def deliver(self, room_id: int, event: dict[str, Any]) -> int:
        """Write one event to every local socket in the room; the frame is built once."""
        for hook in event_hooks:
            try:
                await hook(room_id, event)
            except Exception:
                logger.exception("Room event hook failed for %s", event.get("type"))
        if event["type"] not in SNAPSHOT_NEUTRAL:
            self.generation[room_id] = self.generation.get(room_id, 0) + 1
        sockets = self.rooms.get(room_id)
        if not sockets:
            return 0
        if event["type"] == "listeners":
            self.listeners[room_id] = event["count"]
        frame = json.dumps(event, separators=(",", ":"))
        # The WebSocket frame too is built once, and written straight to every connection
        # with nothing waiting on it; the others get it through ASGI, in order.
        wire = daphne_compat.text_frame(frame) if daphne_compat.enabled() else None
        about = (event.get("user") or {}).get("id")
        everyone = event["type"] in EVERYONE_OBSERVES
        sent = 0
        for socket in list(sockets):
            try:
                if socket.wants(event):
                    if wire is None or not socket.write_now(wire):
                        await socket.send_frame(frame)
                    sent += 1
                if everyone or (about is not None and socket.viewer.user_id == about):
                    await socket.observe(event)
            except Exception:  # a socket closing mid-send unregisters itself
                logger.debug("send to a closing socket failed", exc_info=True)
        return sent

    def _freeze_gc_when_large(self) -> None:
        # Full collections over 10,000 sockets paused the process ~0.5–0.9 s (the first promote
        # after a storm waited for one); move the long-lived objects out of the collector's view
        # at 2,000 sockets and each time the count doubles. (No collection first: over 2,000
        # sockets' objects it took ~1.8 s of a join storm.)
        if self.socket_count >= self._gc_freeze_at:
            gc.freeze()
            self._gc_freeze_at *= 2


def _failed(task: asyncio.Task) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found


class Coalescer:
    """Runs `flush(room_id)` at most once per `interval` per room, for rooms marked dirty.

    Listener counts and speaking levels go out per tick, never per join.
    """

    def __init__(self, interval: float, flush: Callable[[int], Awaitable[None]]) -> None:
        self.interval = interval
        self.flush = flush
        self.dirty: set[int] = set()
        self._task: asyncio.Task | None = None

    def mark(self, room_id: int) -> None:
        self.dirty.add(room_id)
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.dirty:
            await asyncio.sleep(self.interval)
            rooms, self.dirty = self.dirty, set()
            for room_id in rooms:
                try:
                    await self.flush(room_id)
                except Exception:
                    logger.exception("Coalesced update for room %s failed", room_id)
