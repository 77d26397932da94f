"""Broadcasts to the people in a Space: the only module that knows group names and event shapes.

Services call `emit` / `emit_to_user` inside their transaction; the message goes to the channel
layer only after the transaction commits (`transaction.on_commit`), so nobody hears of a change
that was rolled back. The room socket (rooms.consumers) delivers them.

Delivery. Room-wide events go once to every process that holds room sockets (the
`rooms.realtime.PROCESS_GROUP`), which writes them to its own sockets: one channel-layer message
per process, not one per listener:
    {"type": "room.broadcast", "room_id": <id>, "event": {...}}
Per-person events go to that person's sockets in the Space (`user_group`):
    {"type": "room.event", "room_id": <id>, "event": {...}}  → consumer method `room_event`
and account-wide messages to all their sockets (`person_group`):
    {"type": "person.close", "room_id": <id or null>, "code": ..., "message": ...,
     "close_code": <4403 unless given>}  (suspension, deactivation, password change)
    {"type": "person.changed", "what": "blocks"}  (reload whom they have blocked)
and to the sockets of one signed-in session (`session_group`): the same `person.close` (sign-out).
The `event` is what clients receive, versioned:
    {"v": 1, "type": <event type>, "room": <slug>, "actor": <user id or null>, ...fields}
A person is `{"id": <user id>, "name": <display name>}`; times are ISO 8601 in UTC.

Room-wide events (to `PROCESS_GROUP`, for the sockets of `room_id`):
    room_live            started_at
    room_updated         title, description, topics [slug], scheduled_for, guests_may_listen
    room_cancelled       —
    room_ended           ended_at
    participant_joined   user, role           (only people on stage; listener counts are
    participant_left     user, role            coalesced by the live layer, never sent per join)
    host_changed         user (the new host), previous_host
    hand_raised          user
    hand_lowered         user, by ("self" | "declined")
    speaker_promoted     user, role, previous_role
    cohost_promoted      user, role, previous_role
    moved_to_audience    user, role, previous_role
    cohost_removed       user, role, previous_role
    hand_accepted        user, role, previous_role
    invite_accepted      user, role, previous_role
    speaker_muted        user, muted (true)
    speaker_unmuted      user, muted (false)
    participant_removed  user
    post_created         post {id, author, text, created_at, pinned}
    post_pinned          post (id), pinned
    post_deleted         post (id)
    media_moved          —                    (the Space's audio moved to another media worker:
                                               everyone with audio on offers again)
    recording_consent    user_id, consent     (someone on stage said whether they are recorded)
    recording_removed    —                    (staff took the live Space's recording down: it
                                               stops being written at once; no REC any more)
Every one of them carries `seq`, the Space's event number (`Room.event_seq`), raised in the
transaction that emits it: a socket that sees a gap asks for a fresh snapshot (`resync`).
Sent by the live layer (rooms.live) from presence, without a transaction:
    host_away            —    (the host's last socket in the Space closed)
    host_back            —    (the host has a socket in the Space again)
Coalesced by the live layer (rooms.live), sent without a transaction:
    listeners            count, audience {people [{id, name, avatar, hand}] (when changed), guests}
                         (at most once a second per room and process)
    reactions            counts {emoji: n} (a burst every 250 ms)
    levels               levels {user id: 0..1} (speaking indicators, at most 5 a second)
Per-person events (group `user_group(room_id, user_id)`):
    invite_received      invite (id), role, inviter, expires_at
    invite_revoked       invite (id)
    invite_declined      invite (id), user (the invitee)   — to the inviter
"""

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from .realtime import MESSAGE_TYPE as BROADCAST_TYPE
from .realtime import PROCESS_GROUP

logger = logging.getLogger(__name__)

VERSION = 1
MESSAGE_TYPE = "room.event"


def user_group(room_id: int, user_id: int) -> str:
    """One person's connections to the Space (a phone and a laptop, say)."""
    return f"room.{room_id}.user.{user_id}"


def person_group(user_id: int) -> str:
    """All of one person's connections, in every Space."""
    return f"person.{user_id}"


def session_group(session_key: str) -> str:
    """All sockets opened with one signed-in session (closed when it signs out)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def close_session(session_key: str, code: str, text: str) -> None:
    """Close the sockets of one session, now (sign-out happens outside any transaction)."""
    group_send(
        session_group(session_key),
        {
            "type": "person.close",
            "room_id": None,
            "code": code,
            "message": text,
            "close_code": 4401,
        },
    )


def person(user) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name}


def build(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"v": VERSION, "type": event_type, **payload}


def _room_message(room_id: int, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": BROADCAST_TYPE, "room_id": room_id, "event": event}


def next_seq(room_id: int) -> int:
    """Raise the Space's event number and return it. The row stays locked until the
    transaction commits, so numbers follow the order in which events are committed."""
    from .models import Room

    table = connection.ops.quote_name(Room._meta.db_table)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # One statement (PostgreSQL and SQLite ≥ 3.35 both return the new value); the table
        # name is the model's, never input.
        sql = f"UPDATE {table} SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq"  # noqa: S608
        cursor.execute(sql, [room_id])
        return cursor.fetchone()[0]


def emit(room_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
    """Send an event to everyone in the Space once the current transaction commits; it carries
    the Space's next event number (`seq`)."""
    message = _room_message(room_id, build(event_type, {**payload, "seq": next_seq(room_id)}))
    transaction.on_commit(lambda: group_send(PROCESS_GROUP, message))


def emit_to_user(room_id: int, user_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
    """Send an event to one person's connections to the Space once the transaction commits."""
    message = {"type": MESSAGE_TYPE, "room_id": room_id, "event": build(event_type, payload)}
    group = user_group(room_id, user_id)
    transaction.on_commit(lambda: group_send(group, message))


def close_person(
    user_id: int, code: str, text: str, room_id: int | None = None, close_code: int = 4403
) -> None:
    """After commit, close the person's sockets: in one Space, or everywhere (room_id None)."""
    message = {"type": "person.close", "room_id": room_id, "code": code, "message": text}
    if close_code != 4403:
        message["close_code"] = close_code
    transaction.on_commit(lambda: group_send(person_group(user_id), message))


def person_changed(user_id: int, what: str) -> None:
    """After commit, tell the person's open sockets to reload something about them ("blocks")."""
    message = {"type": "person.changed", "what": what}
    transaction.on_commit(lambda: group_send(person_group(user_id), message))


def broadcast(room_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
    """Send a room-wide event now (for state that is not in a transaction: counts)."""
    group_send(PROCESS_GROUP, _room_message(room_id, build(event_type, payload)))


def host_presence(*, present: bool) -> tuple[str, dict[str, Any]]:
    """The room-wide event for the host's sockets coming or going: (type, payload)."""
    return ("host_back" if present else "host_away"), {"actor": None}


async def abroadcast(room_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
    """`broadcast` from async code (reactions, speaking levels)."""
    layer = get_channel_layer()
    try:
        await layer.group_send(PROCESS_GROUP, _room_message(room_id, build(event_type, payload)))
    except Exception:
        logger.exception("Could not broadcast %s", event_type)


# Publishes that failed in this thread since `tracking_delivery` started counting.
_undelivered = threading.local()


def group_send(group: str, message: dict[str, Any]) -> None:
    """Hand one message to the channel layer. A broken layer must not break the request whose
    change is already committed; it is logged and counted (the sender is told it is delayed),
    and every process resyncs its sockets from the database when the layer is back."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("Could not broadcast %s to %s", message.get("type"), group)
        _undelivered.count = getattr(_undelivered, "count", 0) + 1


def tracking_delivery(action: Callable[..., Any]) -> Callable[..., tuple[Any, bool]]:
    """Wrap a synchronous action: it returns `(result, delivered)`, where `delivered` is False
    when an event it committed could not be handed to the channel layer."""

    def run(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
        _undelivered.count = 0
        result = action(*args, **kwargs)
        return result, not _undelivered.count

    return run
