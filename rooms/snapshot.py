"""Reads for the live room's socket: the snapshot on connect and the viewer's own state.

A fixed number of queries however many people are in the Space.
"""

from django.db.models import Q
from django.utils import timezone

from accounts.models import User

from . import events
from .models import ON_STAGE, Invite, Participant, Post, Role, Room
from .permissions import (
    MODERATORS,
    PRESENT,
    Action,
    Standing,
    is_staff_moderator,
    refusal,
    standing_from_row,
)

# The live room's snapshot: everything a socket needs on connect, in a handful of queries.


def _avatar(user) -> str | None:
    profile = getattr(user, "profile", None)
    return profile.avatar.url if profile is not None and profile.avatar else None


def _person(user) -> dict:
    return {"id": user.pk, "name": user.display_name, "avatar": _avatar(user)}


person_payload = _person


# What the client may offer as buttons, by the viewer's standing (the server checks again).
_ACTING = {
    "hand_accept": (Action.HAND_ACCEPT, Standing.LISTENER),
    "invite": (Action.INVITE_SPEAKER, Standing.LISTENER),
    "invite_revoke": (Action.INVITE_SPEAKER, Standing.LISTENER),
    "promote_speaker": (Action.SPEAKER_PROMOTE, Standing.LISTENER),
    "promote_cohost": (Action.COHOST_PROMOTE, Standing.SPEAKER),
    "mute": (Action.MUTE, Standing.SPEAKER),
    "move_to_audience": (Action.MOVE_TO_AUDIENCE, Standing.SPEAKER),
    "cohost_remove": (Action.COHOST_REMOVE, Standing.COHOST),
    "remove": (Action.REMOVE, Standing.LISTENER),
}


def viewer_state(*, room_id: int, viewer, room: Room | None = None) -> dict:
    """The viewer's own role, pending invite and the actions they may take."""
    room = room if room is not None else Room.objects.get(pk=room_id)
    user = None
    row = None
    if viewer.user_id is not None:
        user = User.objects.select_related("profile").get(pk=viewer.user_id)
        row = Participant.objects.filter(room=room, user=user).first()
    standing = standing_from_row(user.pk, room, row) if user is not None else Standing.GUEST
    staff = is_staff_moderator(user)
    may: list[str] = ["react"] if room.state == Room.State.LIVE else []

    def allowed(action, target=None) -> bool:
        return (
            refusal(action, room_state=room.state, actor=standing, staff=staff, target=target)
            is None
        )

    if user is not None and room.state == Room.State.LIVE:
        if standing in PRESENT:
            may += ["post", "leave"]
        if row is not None and row.hand_raised_at is not None and standing in PRESENT:
            may.append("hand_lower")
        elif allowed(Action.HAND_RAISE):
            may.append("hand_raise")
        for name, (action, target) in _ACTING.items():
            if allowed(action, target):
                may.append(name)
        if staff or standing in MODERATORS:
            may += ["post_pin", "post_delete", "question_remove"]
        if standing in PRESENT:
            may.append("question_upvote")
        if allowed(Action.END):
            may.append("end")
    invite = None
    if user is not None:
        pending = (
            Invite.objects.filter(
                room=room, invitee=user, outcome="", expires_at__gt=timezone.now()
            )
            .select_related("inviter__profile")
            .first()
        )
        if pending is not None:
            invite = {"id": pending.pk, "role": pending.role, "inviter": _person(pending.inviter)}
    return {
        "user": _person(user) if user is not None else None,
        "guest": user is None,
        "role": standing.value,
        "muted": row.is_muted if row is not None else True,
        "may": may,
        "invite": invite,
    }


def room_snapshot(*, room_id: int, viewer, listeners: int | None = None) -> dict:
    """The `snapshot` event a socket receives on connect (docs/protocol.md).

    `listeners` is the count last broadcast in this process, if known: counting presence rows
    on every join costs O(listeners) per join, and the count is coalesced to a tick anyway.
    """
    from . import live, posts, questions

    room = Room.objects.select_related("host__profile").get(pk=room_id)
    present = list(
        Participant.objects.present()
        .filter(room=room)
        .filter(Q(role__in=ON_STAGE) | Q(hand_raised_at__isnull=False))
        .select_related("user__profile")
        .order_by("role_since")
    )
    order = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2}
    stage = sorted((p for p in present if p.role in ON_STAGE), key=lambda p: order[p.role])
    hands = sorted(
        (p for p in present if p.role == Role.LISTENER and p.hand_raised_at is not None),
        key=lambda p: p.hand_raised_at,
    )
    asked, answered = questions.room_questions(room=room, viewer_id=viewer.user_id)
    feed = list(
        Post.objects.filter(room=room, deleted_at=None)
        .exclude(author_id__in=viewer.hidden_authors)
        .select_related("author__profile")
        .order_by("-created_at")[:50]
    )
    return {
        "v": events.VERSION,
        "type": "snapshot",
        # Read with the room row, before the rest: the snapshot reflects at least this event.
        "seq": room.event_seq,
        "room": {
            "id": room.pk,
            "slug": room.slug,
            "title": room.title,
            "state": room.state,
            "host": _person(room.host),
            "guests_may_listen": room.guests_may_listen,
            "started_at": room.started_at.isoformat() if room.started_at else None,
            "scheduled_for": room.scheduled_for.isoformat() if room.scheduled_for else None,
            "host_present": live.host_present(room.pk),
        },
        "stage": [
            {
                "user": _person(p.user),
                "role": p.role,
                "muted": p.is_muted,
                # recorded Spaces: None until they choose (host and co-hosts always are)
                "recording_consent": p.recording_consent,
            }
            for p in stage
        ],
        "hands": [
            {
                "user": _person(p.user),
                "raised_at": p.hand_raised_at.isoformat(),
                "question": asked.get(p.user_id),
            }
            for p in hands
        ],
        "answered": answered,
        "listeners": live.listener_count(room.pk) if listeners is None else listeners,
        "audience": live.audience(room.pk),
        "posts": [posts.post_payload(post) for post in reversed(feed)],
        "you": viewer_state(room_id=room_id, viewer=viewer, room=room),
    }
