"""Broadcasts to the people in a Space: the only module that knows group names and event shapes.

Services call `emit` / `emit_to_user` inside their transaction; the message goes to the channel
layer only after the transaction commits (`transaction.on_commit`), so nobody hears of a change
that was rolled back. The WebSocket consumers (a later issue) deliver them.

Channel-layer message, for every event:
    {"type": "room.event", "event": {...}}      → consumer method `room_event`
The `event` is what clients receive, versioned:
    {"v": 1, "type": <event type>, "room": <slug>, "actor": <user id or null>, ...fields}
A person is `{"id": <user id>, "name": <display name>}`; times are ISO 8601 in UTC.

Room-wide events (group `room_group(room_id)`):
    room_live            started_at
    room_updated         title, description, topics [slug], scheduled_for, guests_may_listen
    room_cancelled       —
    room_ended           ended_at
    participant_joined   user, role           (only people on stage; listener counts are
    participant_left     user, role            coalesced by the live layer, never sent per join)
    host_changed         user (the new host), previous_host
    hand_raised          user
    hand_lowered         user, by ("self" | "declined" | "accepted")
    speaker_promoted     user, role, previous_role
    cohost_promoted      user, role, previous_role
    moved_to_audience    user, role, previous_role
    cohost_removed       user, role, previous_role
    hand_accepted        user, role, previous_role
    invite_accepted      user, role, previous_role
    speaker_muted        user, muted (true)
    speaker_unmuted      user, muted (false)
    participant_removed  user
Per-person events (group `user_group(room_id, user_id)`):
    invite_received      invite (id), role, inviter, expires_at
    invite_revoked       invite (id)
    invite_declined      invite (id), user (the invitee)   — to the inviter
"""

import logging
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

VERSION = 1
MESSAGE_TYPE = "room.event"


def room_group(room_id: int) -> str:
    """Everyone connected to the Space."""
    return f"room.{room_id}"


def user_group(room_id: int, user_id: int) -> str:
    """One person's connections to the Space (a phone and a laptop, say)."""
    return f"room.{room_id}.user.{user_id}"


def person(user) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name}


def build(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"v": VERSION, "type": event_type, **payload}


def emit(room_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
    """Send an event to everyone in the Space once the current transaction commits."""
    _after_commit(room_group(room_id), build(event_type, payload))


def emit_to_user(room_id: int, user_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
    """Send an event to one person's connections to the Space once the transaction commits."""
    _after_commit(user_group(room_id, user_id), build(event_type, payload))


def _after_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: group_send(group, {"type": MESSAGE_TYPE, "event": event}))


def group_send(group: str, message: dict[str, Any]) -> None:
    """Hand one message to the channel layer. A broken layer must not break the request whose
    change is already committed; it is logged, and clients resync from the database."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("Could not broadcast %s to %s", message["event"]["type"], group)
