"""Guests' presence rows, kept by the process that holds their sockets and written in batches.

A signed-in person's socket writes its presence row when it joins (it joins the Space as a
participant anyway). A guest's join writes nothing: at 10,000 guests joining one process at once,
a row each (and a heartbeat UPDATE each every 20 s) was most of the database's work and a
thread hop per guest (docs/benchmarks.md, "Signaling"). Instead the process keeps its guests'
sockets here and, once per tick (SPACES_PRESENCE_BATCH_SECONDS), writes what changed: one
DELETE for the sockets that closed and one upsert (INSERT ... ON CONFLICT (channel_name) DO
UPDATE) for the new ones and those whose `listening` changed, in batches of 2,000 rows.
Every SPACES_PRESENCE_TOUCH_SECONDS an UPDATE gives all the others a fresh `last_seen` (2,000
rows a statement), and the states of their Spaces are read in the same tick (a guest's
heartbeat learns of an end from it).

So the rows stay the truth every count reads (listener counts, the listeners grid, insights,
the auto-end): at most one tick late. A process that dies stops touching its rows, and the
presence sweep removes them once they are stale, as it does for a signed-in person's; a row
swept while its socket lived on (a stalled process) is written again by the next touch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError

logger = logging.getLogger(__name__)

BATCH_ROWS = 2000


@dataclass
class GuestSocket:
    room_id: int
    guest_id: str
    listening: bool = False
    sent: bool = False  # taken into a write (its row may exist)


def touch_seconds() -> float:
    # As often as a pinging socket refreshes its own row (rooms.consumers.live_touch_seconds).
    return min(settings.SPACES_PRESENCE_TOUCH_SECONDS, settings.SPACES_PRESENCE_STALE_SECONDS / 3)


def write_batch(
    upserts: dict[str, GuestSocket],
    deletes: list[str],
    room_ids: list[int] | None,
    touches: dict[str, GuestSocket] | None = None,
) -> dict[int, str]:
    """Write one tick: delete closed sockets' rows, upsert new or changed ones, give `touches`
    a fresh `last_seen` (an UPDATE; any of them found missing, swept while their socket lived
    on, are written again). With `room_ids`, also read those Spaces' states (returned)."""
    from django.utils import timezone

    from .models import Presence, Room

    if deletes:
        Presence.objects.filter(channel_name__in=deletes).delete()
    names = list(touches or ())
    for start in range(0, len(names), BATCH_ROWS):
        chunk = names[start : start + BATCH_ROWS]
        found = Presence.objects.filter(channel_name__in=chunk).update(last_seen=timezone.now())
        if found < len(chunk):
            upserts = {**{name: touches[name] for name in chunk}, **upserts}
    if upserts:
        rows = [
            Presence(
                channel_name=channel_name,
                room_id=guest.room_id,
                guest_id=guest.guest_id,
                listening=guest.listening,
            )
            for channel_name, guest in upserts.items()
        ]
        try:
            _upsert(rows)
        except IntegrityError:  # a Space deleted meanwhile: its guests' rows are not written
            existing = set(
                Room.objects.filter(pk__in={row.room_id for row in rows}).values_list(
                    "pk", flat=True
                )
            )
            _upsert([row for row in rows if row.room_id in existing])
    if room_ids is None:
        return {}
    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "state"))


def _upsert(rows) -> None:
    from .models import Presence

    Presence.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["channel_name"],
        update_fields=["listening", "last_seen"],
        batch_size=BATCH_ROWS,
    )


class GuestPresence:
    """This process's guest sockets (one per event loop, held by the hub)."""

    def __init__(self) -> None:
        self.sockets: dict[str, GuestSocket] = {}
        self.dirty: set[str] = set()  # to upsert at the next tick
        self.gone: set[str] = set()  # to delete at the next tick
        # The states of the Spaces this process holds guests in, read at each touch.
        self.room_states: dict[int, str] = {}
        self.touched_at = time.monotonic()
        self._task: asyncio.Task | None = None
        self._writing = asyncio.Lock()

    def join(self, *, channel_name: str, room_id: int, guest_id: str) -> None:
        self.sockets[channel_name] = GuestSocket(room_id=room_id, guest_id=guest_id)
        self.room_states.setdefault(room_id, "live")
        self.dirty.add(channel_name)
        self._wake()

    def set_listening(self, channel_name: str, listening: bool) -> None:
        guest = self.sockets.get(channel_name)
        if guest is not None and guest.listening != listening:
            guest.listening = listening
            self.dirty.add(channel_name)
            self._wake()

    def leave(self, channel_name: str) -> None:
        guest = self.sockets.pop(channel_name, None)
        self.dirty.discard(channel_name)
        if guest is not None and guest.sent:
            self.gone.add(channel_name)
            self._wake()

    def room_state(self, room_id: int) -> str | None:
        """The Space's state at the last touch (None: it no longer exists)."""
        return self.room_states.get(room_id)

    @property
    def pending(self) -> bool:
        return bool(self.dirty or self.gone)

    def _wake(self) -> None:
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.sockets or self.pending:
            await asyncio.sleep(settings.SPACES_PRESENCE_BATCH_SECONDS)
            try:
                await self.flush()
            except Exception:
                logger.exception("Guest presence could not be written; retrying next tick")

    async def flush(self) -> None:
        """Write what changed since the last tick (everything, when a touch is due)."""
        async with self._writing:
            touch = time.monotonic() - self.touched_at >= touch_seconds()
            names = self.dirty & self.sockets.keys()
            deletes = list(self.gone)
            if not names and not deletes and not (touch and self.sockets):
                return
            upserts = {name: self.sockets[name] for name in names}
            for guest in upserts.values():
                guest.sent = True
            self.dirty -= names
            self.gone.clear()
            # The rest of the process's guests get a fresh `last_seen` (rows, not objects).
            touches = (
                {n: g for n, g in self.sockets.items() if g.sent and n not in names}
                if touch
                else None
            )
            room_ids = sorted({guest.room_id for guest in self.sockets.values()}) if touch else None
            try:
                states = await database_sync_to_async(write_batch)(
                    {name: GuestSocket(**vars(guest)) for name, guest in upserts.items()},
                    deletes,
                    room_ids,
                    touches,
                )
            except BaseException:
                # Written next tick: those still open, and every delete.
                self.dirty |= names & set(self.sockets)
                self.gone.update(deletes)
                raise
            if touch:
                self.touched_at = time.monotonic()
                self.room_states = {room_id: states.get(room_id) for room_id in room_ids}

    async def close(self) -> None:
        """Write what is pending and stop the tick (the process holds no guests any more)."""
        if self.pending:
            await self.flush()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
