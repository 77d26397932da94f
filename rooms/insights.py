"""What a host learns about a Space: peak and unique listeners, listeners over time, time on
stage per speaker, reactions, posts and questions; on *My Spaces* and as CSV.

Counting adds no query per join or reaction:
- the socket process notes each arrival (`note_listener`) and reaction (`note_reaction`) in
  memory, and flushes them at most every SPACES_INSIGHTS_FLUSH seconds, per process: one bulk
  insert of `ListenerSeen` keys (ignoring ones already there) and one update of the reaction
  total per Space;
- a periodic task (`sample`, every SPACES_INSIGHTS_SAMPLE seconds) reads each live Space's
  listening sockets once: a `ListenerSample` for the chart, the peak, and their keys.
People are known by a keyed hash of their account id or guest cookie id (`listener_key`);
addresses are never stored. Time on stage is read from the Space's event log when asked.
"""

import csv
import hashlib
import hmac
import io
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from .models import (
    ON_STAGE,
    ListenerSample,
    ListenerSeen,
    Post,
    Presence,
    Question,
    Room,
    RoomEvent,
    SpaceTally,
)

logger = logging.getLogger(__name__)


def listener_key(user_id: int | None, guest_id: str | None) -> str:
    """A stable, unguessable stand-in for a listener (not reversible to who they are)."""
    who = f"u:{user_id}" if user_id is not None else f"g:{guest_id}"
    digest = hmac.new(settings.SECRET_KEY.encode(), who.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


class _Buffer:
    """Arrivals and reactions noted in this process since the last flush."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: dict[int, set[str]] = {}
        self.reactions: dict[int, int] = {}
        self.flushed_at = time.monotonic()

    def take(self) -> tuple[dict[int, set[str]], dict[int, int]]:
        with self.lock:
            keys, reactions = self.keys, self.reactions
            self.keys, self.reactions = {}, {}
            self.flushed_at = time.monotonic()
        return keys, reactions

    def due(self) -> bool:
        return time.monotonic() - self.flushed_at >= settings.SPACES_INSIGHTS_FLUSH


_buffer = _Buffer()


def note_listener(room_id: int, *, user_id: int | None, guest_id: str | None) -> None:
    """Someone's socket arrived in a live Space (called by rooms.live.viewer_connect)."""
    with _buffer.lock:
        _buffer.keys.setdefault(room_id, set()).add(listener_key(user_id, guest_id))
    flush_if_due()


def note_reaction(room_id: int) -> None:
    """A reaction was sent in a Space (in memory; written with the next flush)."""
    with _buffer.lock:
        _buffer.reactions[room_id] = _buffer.reactions.get(room_id, 0) + 1


def flush_if_due() -> None:
    if _buffer.due():
        try:
            flush()
        except Exception:  # counting must never refuse someone's audio
            logger.exception("Writing the insights counts failed")


async def aflush_if_due() -> None:
    """From the socket process's event loop (its coalesced flushes): write when due."""
    if _buffer.due():
        from channels.db import database_sync_to_async

        try:
            await database_sync_to_async(flush)()
        except Exception:  # counting must never break the room's own flushes
            logger.exception("Writing the insights counts failed")


def flush() -> None:
    """Write what this process noted: a bulk insert of keys, one update per Space's reactions.
    Spaces deleted meanwhile are skipped."""
    keys, reactions = _buffer.take()
    if not keys and not reactions:
        return
    existing = set(
        Room.objects.filter(pk__in=set(keys) | set(reactions)).values_list("pk", flat=True)
    )
    keys = {r: ks for r, ks in keys.items() if r in existing}
    reactions = {r: n for r, n in reactions.items() if r in existing}
    rows = [ListenerSeen(room_id=r, key=k) for r, ks in keys.items() for k in ks]
    if rows:
        ListenerSeen.objects.bulk_create(rows, ignore_conflicts=True)
    for room_id, count in reactions.items():
        _tally(room_id)
        SpaceTally.objects.filter(room_id=room_id).update(reactions=F("reactions") + count)


def _tally(room_id: int) -> None:
    SpaceTally.objects.get_or_create(room_id=room_id)


def sample(*, now: datetime | None = None) -> int:
    """Periodic: one sample per live Space (listening sockets now), the peak, their keys; and
    this process's buffer. Returns how many Spaces were sampled."""
    now = now or timezone.now()
    flush()
    live = list(Room.objects.filter(state=Room.State.LIVE).values_list("pk", flat=True))
    if not live:
        return 0
    sockets = list(
        Presence.objects.filter(room_id__in=live, listening=True).values_list(
            "room_id", "user_id", "guest_id"
        )
    )
    counts = {room_id: 0 for room_id in live}
    seen: dict[int, set[str]] = {}
    for room_id, user_id, guest_id in sockets:
        key = listener_key(user_id, guest_id or None)
        if key not in seen.setdefault(room_id, set()):
            seen[room_id].add(key)
            counts[room_id] += 1
    ListenerSample.objects.bulk_create(
        [ListenerSample(room_id=r, at=now, listeners=n) for r, n in counts.items()]
    )
    ListenerSeen.objects.bulk_create(
        [ListenerSeen(room_id=r, key=k) for r, ks in seen.items() for k in ks],
        ignore_conflicts=True,
    )
    SpaceTally.objects.bulk_create([SpaceTally(room_id=r) for r in live], ignore_conflicts=True)
    for room_id, count in counts.items():
        if count:
            SpaceTally.objects.filter(room_id=room_id, peak_listeners__lt=count).update(
                peak_listeners=Greatest(F("peak_listeners"), count)
            )
    return len(live)


# Reading


@dataclass
class Insights:
    room: Room
    peak_listeners: int
    unique_listeners: int
    reactions: int
    posts: int
    questions: int
    questions_answered: int
    samples: list[ListenerSample]
    stage: list[tuple[str, int]] = field(default_factory=list)  # (name, seconds), longest first

    @property
    def chart(self) -> list[tuple[ListenerSample, int]]:
        """Samples with their bar height in percent of the highest."""
        top = max((s.listeners for s in self.samples), default=0) or 1
        return [(s, round(100 * s.listeners / top)) for s in self.samples]


_STAGE_VERBS = {
    "speaker_promoted",
    "cohost_promoted",
    "moved_to_audience",
    "cohost_removed",
    "hand_accepted",
}


def stage_seconds(room: Room) -> dict[int, float]:
    """Seconds each person spent on stage, from the Space's event log (one query)."""
    running: dict[int, datetime] = {}
    total: dict[int, float] = {}

    def on(user_id, at):
        if user_id is not None and user_id not in running:
            running[user_id] = at

    def off(user_id, at):
        if user_id in running:
            total[user_id] = total.get(user_id, 0.0) + (at - running.pop(user_id)).total_seconds()

    for verb, actor, target, data, at in (
        RoomEvent.objects.filter(room=room)
        .order_by("created_at", "id")
        .values_list("verb", "actor_id", "target_id", "data", "created_at")
    ):
        if verb in _STAGE_VERBS:
            (on if data.get("role") in ON_STAGE else off)(target, at)
        elif verb == "invite_accepted":
            if data.get("role") in ON_STAGE:
                on(actor, at)
        elif verb == "participant_joined":
            if data.get("role") in ON_STAGE:
                on(target, at)
        elif verb in ("participant_left", "participant_removed"):
            off(target, at)
        elif verb == "host_changed":
            off(actor, at)
            on(target, at)
        elif verb == "room_created" and data.get("state") == Room.State.LIVE:
            on(actor, at)
        elif verb == "room_live":
            on(room.host_id if actor is None else actor, at)
        elif verb == "room_ended":
            for user_id in list(running):
                off(user_id, at)
    end = room.ended_at or timezone.now()
    for user_id in list(running):
        off(user_id, end)
    return total


def space_insights(*, room: Room) -> Insights:
    """Everything the insights page shows, in a fixed number of queries."""
    from accounts.models import User

    tally = SpaceTally.objects.filter(room=room).first()
    question_counts = Question.objects.filter(room=room).aggregate(
        asked=Count("id"), answered=Count("id", filter=Q(state=Question.State.ANSWERED))
    )
    seconds = stage_seconds(room)
    names = {
        u.pk: u.display_name for u in User.objects.filter(pk__in=seconds).select_related("profile")
    }
    return Insights(
        room=room,
        peak_listeners=tally.peak_listeners if tally else 0,
        unique_listeners=ListenerSeen.objects.filter(room=room).count(),
        reactions=tally.reactions if tally else 0,
        posts=Post.objects.filter(room=room).count(),
        questions=question_counts["asked"],
        questions_answered=question_counts["answered"],
        samples=list(ListenerSample.objects.filter(room=room).order_by("at", "id")[:2000]),
        stage=sorted(
            ((names.get(uid, "?"), round(s)) for uid, s in seconds.items()),
            key=lambda item: -item[1],
        ),
    )


def insights_csv(insights: Insights) -> str:
    """The insights as CSV: totals, then time on stage, then listeners over time."""
    out = io.StringIO()
    writer = csv.writer(out)
    room = insights.room
    writer.writerow(["Space", _cell(room.title)])
    writer.writerow(["Started", room.started_at.isoformat() if room.started_at else ""])
    writer.writerow(["Ended", room.ended_at.isoformat() if room.ended_at else ""])
    writer.writerow(["Peak listeners", insights.peak_listeners])
    writer.writerow(["Unique listeners", insights.unique_listeners])
    writer.writerow(["Reactions", insights.reactions])
    writer.writerow(["Posts", insights.posts])
    writer.writerow(["Questions", insights.questions])
    writer.writerow(["Questions answered", insights.questions_answered])
    writer.writerow([])
    writer.writerow(["Speaker", "Seconds on stage"])
    for name, seconds in insights.stage:
        writer.writerow([_cell(name), seconds])
    writer.writerow([])
    writer.writerow(["Time", "Listeners"])
    for s in insights.samples:
        writer.writerow([s.at.isoformat(), s.listeners])
    return out.getvalue()


def _cell(text: str) -> str:
    """No formula injection when the CSV is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
