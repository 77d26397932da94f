"""Reads for a recorded Space's replay: the timeline shown beside the player, who spoke in a
stretch of it, the host's clip list. Offsets are seconds from `Recording.started_at`.

The timeline is built from the Space's event log (`RoomEvent`) and its posts: who was on stage
from when to when (and whether they were recorded), the posts and pins at their moment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from . import live
from .models import ON_STAGE, Clip, Post, Recording, ReplayPlay, Role, Room, RoomEvent

# ReplayPlay keys: a replay's are hex digests; a clip's "k<clip id>-<digest>" (same table).
CLIP_KEY_PREFIX = "k"


def storage() -> Storage:
    return storages["recordings"]


def stored_name(recording: Recording, name: str) -> str:
    """The storage name of a file of the recording (or one of its clips)."""
    return f"{recording.prefix.strip('/')}/{name}"


def recording_of(room: Room) -> Recording | None:
    try:
        return room.recording
    except Recording.DoesNotExist:
        return None


# Events whose data carries the person's new role (`role`) for `target`.
ROLE_VERBS = {
    "speaker_promoted",
    "cohost_promoted",
    "moved_to_audience",
    "cohost_removed",
    "hand_accepted",
    "invite_accepted",
    "participant_joined",
}
OFF_VERBS = {"participant_left", "participant_removed"}


def _offset(recording: Recording, moment: datetime) -> float:
    return round((moment - recording.started_at).total_seconds(), 2)


def _person(user) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name, "handle": user.username}


@dataclass
class _Turn:
    user: Any
    start: float
    recorded: bool = True


def timeline(recording: Recording) -> dict[str, Any]:
    """What the replay page sends as JSON: the stage turns, posts, pins and stage changes.

    {"duration": s, "turns": [{"person", "start", "end", "recorded"}],
     "items": [{"at": s, "kind": "post" | "pin" | "joined_stage" | "left_stage",
                "person": {...}, "text": str (posts and pins)}]}
    """
    room = recording.room
    duration = recording.duration
    if recording.started_at is None:
        return {"duration": duration, "turns": [], "items": []}
    events = (
        RoomEvent.objects.filter(room=room, created_at__lte=_end(recording))
        .select_related("target__profile", "actor__profile")
        .order_by("created_at", "id")
    )
    turns: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    on_stage: dict[int, _Turn] = {}
    consent: dict[int, bool] = {}

    def close(user_id: int, at: float, *, announce: bool = True) -> None:
        turn = on_stage.pop(user_id, None)
        if turn is None:
            return
        start = max(turn.start, 0.0)
        end = min(max(at, 0.0), duration)
        if end > start:
            turns.append(
                {
                    "person": _person(turn.user),
                    "start": start,
                    "end": end,
                    "recorded": turn.recorded,
                }
            )
        if announce and 0 <= at <= duration:
            items.append({"at": end, "kind": "left_stage", "person": _person(turn.user)})

    def open_turn(user, at: float, role: str) -> None:
        if user.pk in on_stage:
            return
        recorded = role in (Role.HOST, Role.COHOST) or consent.get(user.pk, True)
        on_stage[user.pk] = _Turn(user=user, start=at, recorded=recorded)
        if 0 <= at <= duration:
            items.append({"at": max(at, 0.0), "kind": "joined_stage", "person": _person(user)})

    if room.host_id and not events.filter(verb="room_created").exists():
        open_turn(room.host, 0.0, Role.HOST)
    for event in events:
        at = _offset(recording, event.created_at)
        target = event.target
        if event.verb == "room_created" and event.data.get("state") == Room.State.LIVE:
            open_turn(event.actor, at, Role.HOST)
        elif event.verb == "room_live" and event.actor is not None:
            open_turn(event.actor, at, Role.HOST)
        elif event.verb in ROLE_VERBS and target is not None:
            role = event.data.get("role", "")
            if role in ON_STAGE:
                open_turn(target, at, role)
            else:
                close(target.pk, at)
        elif event.verb in OFF_VERBS and target is not None:
            close(target.pk, at)
        elif event.verb == "host_changed" and target is not None:
            open_turn(target, at, Role.HOST)
        elif event.verb == "recording_consent" and event.actor is not None:
            chosen = bool(event.data.get("consent"))
            consent[event.actor_id] = chosen
            turn = on_stage.get(event.actor_id)
            if turn is not None and turn.recorded != chosen:
                close(event.actor_id, at, announce=False)  # a new turn from now, recorded or not
                on_stage[event.actor_id] = _Turn(user=event.actor, start=at, recorded=chosen)
        elif event.verb == "post_pinned":
            post = Post.objects.filter(pk=event.data.get("post"), deleted_at__isnull=True)
            post = post.select_related("author__profile").first()
            if post is not None and 0 <= at <= duration:
                items.append(
                    {"at": at, "kind": "pin", "person": _person(post.author), "text": post.text}
                )
    for user_id in list(on_stage):
        close(user_id, duration + 1)
    posts = (
        Post.objects.filter(
            room=room,
            deleted_at__isnull=True,
            created_at__gte=recording.started_at,
            created_at__lte=_end(recording),
        )
        .select_related("author__profile")
        .order_by("created_at")
    )
    for post in posts:
        items.append(
            {
                "at": _offset(recording, post.created_at),
                "kind": "post",
                "person": _person(post.author),
                "text": post.text,
            }
        )
    items.sort(key=lambda item: item["at"])
    turns.sort(key=lambda turn: turn["start"])
    return {"duration": duration, "turns": turns, "items": items}


def _end(recording: Recording) -> datetime:
    from datetime import timedelta

    return recording.started_at + timedelta(seconds=recording.duration)


def speakers_between(recording: Recording, start: float, end: float) -> list[dict[str, str]]:
    """Who was on stage, and recorded, at some moment between `start` and `end`."""
    seen: dict[str, dict[str, str]] = {}
    for turn in timeline(recording)["turns"]:
        if turn["recorded"] and turn["start"] < end and turn["end"] > start:
            person = turn["person"]
            seen.setdefault(person["handle"], {"handle": person["handle"], "name": person["name"]})
    return list(seen.values())


def host_clips(room: Room) -> list[Clip]:
    """The host's list: every clip of the Space with its plays (`plays`), newest first."""
    clips = list(
        Clip.objects.filter(room=room).select_related("creator__profile").order_by("-created_at")
    )
    counts = clip_play_counts(clips)
    for clip in clips:
        clip.plays = counts.get(clip.pk, 0)
    return clips


# Plays


def listener_key(request: HttpRequest) -> str | None:
    """Who is playing, as a keyed hash: the account, else the guest id of the signed cookie."""
    if request.user.is_authenticated:
        who = f"user:{request.user.pk}"
    else:
        guest = live.guest_id_from_cookie(request.COOKIES.get(live.GUEST_COOKIE))
        if guest is None:
            return None
        who = f"guest:{guest}"
    return hashlib.sha256(f"{settings.SECRET_KEY}:{who}".encode()).hexdigest()


def count_clip_play(*, clip: Clip, request: HttpRequest) -> bool:
    """Count one play of a clip, once per person or guest per day. True if counted."""
    key = listener_key(request)
    if key is None or clip.state != Clip.State.READY:
        return False
    try:
        with transaction.atomic():
            ReplayPlay.objects.create(
                recording_id=clip.recording_id,
                key=f"{CLIP_KEY_PREFIX}{clip.pk}-{key}"[:32],
                day=timezone.localdate(),
            )
    except IntegrityError:
        return False
    return True


def replay_play_count(recording: Recording) -> int:
    return recording.plays.exclude(key__startswith=CLIP_KEY_PREFIX).count()


def clip_play_counts(clips: list[Clip]) -> dict[int, int]:
    counts: dict[int, int] = {}
    if not clips:
        return counts
    keys = ReplayPlay.objects.filter(
        recording_id__in={c.recording_id for c in clips}, key__startswith=CLIP_KEY_PREFIX
    ).values_list("key", flat=True)
    for key in keys:
        clip_id = key[len(CLIP_KEY_PREFIX) :].split("-", 1)[0]
        if clip_id.isdigit():
            counts[int(clip_id)] = counts.get(int(clip_id), 0) + 1
    return counts
