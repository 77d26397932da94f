"""Every change to a Space, its people, invites and reminders.

Each function is one action: it runs in a transaction, locks the room row first (so seat limits
and role changes in one Space happen one at a time) and then the rows it changes, checks the rule
in `rooms.permissions`, returns early when nothing would change, writes exactly one `RoomEvent`
row, and broadcasts through `rooms.events` after commit. A refused action raises
`ActionRefused(code, message)` and has changed nothing.

Views, the admin, consumers and scheduled jobs all call these; none of them writes by itself.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User

from . import events, follows, questions, scheduling
from .exceptions import ActionRefused, Code
from .models import (
    ON_STAGE,
    Invite,
    Participant,
    Question,
    Reminder,
    Role,
    Room,
    RoomEvent,
    SpaceAccess,
    Topic,
)
from .permissions import Action, check, check_invite_revoke, is_staff_moderator
from .visibility import room_visible_to

# Helpers


def _lock_room(room: Room) -> Room:
    # Lock the Space row only (not its host's user row): every action in a Space queues here.
    return Room.objects.select_for_update(of=("self",)).select_related("host").get(pk=room.pk)


def _lock_row(room: Room, user: User) -> Participant | None:
    return Participant.objects.select_for_update().filter(room=room, user=user).first()


def _log(
    room: Room, verb: str, *, actor: User | None, target: User | None = None, **data: Any
) -> RoomEvent:
    return RoomEvent.objects.create(room=room, verb=verb, actor=actor, target=target, data=data)


def _payload(room: Room, actor: User | None, **fields: Any) -> dict[str, Any]:
    return {"room": room.slug, "actor": actor.pk if actor else None, **fields}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _seat_limit(role: str) -> int:
    return settings.SPACES_MAX_COHOSTS if role == Role.COHOST else settings.SPACES_MAX_SPEAKERS


def _has_seat(room: Room, role: str) -> bool:
    if role not in (Role.COHOST, Role.SPEAKER):
        return True
    taken = Participant.objects.present().filter(room=room, role=role).count()
    return taken < _seat_limit(role)


def _ensure_seat(room: Room, role: str) -> None:
    if not _has_seat(room, role):
        limit = _seat_limit(role)
        if role == Role.COHOST:
            message = _("All %(limit)s co-host seats are taken.") % {"limit": limit}
        else:
            message = _("All %(limit)s speaker seats are taken.") % {"limit": limit}
        raise ActionRefused(Code.LIMIT_REACHED, message)


def _check_account(user: User, *, actor: User | None = None) -> None:
    """Suspended accounts may not host, speak or post; moderation decides who is suspended."""
    from moderation.selectors import stage_refusal  # moderation builds on rooms

    message = stage_refusal(user, actor=actor)
    if message is not None:
        raise ActionRefused(Code.NOT_ALLOWED, message)


def _check_not_blocked(person: User, *blockers: User, asking: bool = False) -> None:
    """Someone the host (or the person inviting) has blocked is not brought on stage."""
    from moderation.selectors import block_refusal

    message = block_refusal(person, blockers=blockers, asking=asking)
    if message is not None:
        raise ActionRefused(Code.NOT_ALLOWED, message)


def _check_visible(room: Room, user: User) -> None:
    """A private Space is only for its host and the people let in (rooms.visibility)."""
    if not room_visible_to(room, user):
        raise ActionRefused(Code.PRIVATE, _("This Space is private. Ask the host to let you in."))


def _check_visibility_value(visibility: str) -> None:
    if visibility not in Room.Visibility.values:
        raise ActionRefused(Code.INVALID, _("Pick public, unlisted or private."))


def _set_role(row: Participant, role: str, now: datetime) -> str:
    """Give `row` a new role; a person arriving on stage starts muted. Returns the old role."""
    previous = row.role
    if previous not in ON_STAGE or role not in ON_STAGE:
        row.is_muted = True
    row.role = role
    row.role_since = now
    row.hand_raised_at = None
    row.save(update_fields=["role", "role_since", "is_muted", "hand_raised_at"])
    return previous


def _role_change(room: Room, actor: User | None, row: Participant, verb: str, previous: str):
    _log(room, verb, actor=actor, target=row.user, role=row.role, previous_role=previous)
    events.emit(
        room.pk,
        verb,
        _payload(room, actor, user=events.person(row.user), role=row.role, previous_role=previous),
    )


def _hand_over(room: Room, leaving: User, now: datetime) -> Participant | None:
    """The host is going: the longest-serving present co-host becomes host, if there is one."""
    successor = (
        Participant.objects.select_for_update(of=("self",))
        .present()
        .filter(room=room, role=Role.COHOST)
        .exclude(user=leaving)
        .select_related("user")
        .order_by("role_since", "id")
        .first()
    )
    if successor is None:
        return None
    successor.role = Role.HOST
    successor.role_since = now
    successor.save(update_fields=["role", "role_since"])
    room.host = successor.user
    room.save(update_fields=["host"])
    return successor


def _clean_fields(
    *, title: str, description: str, topics: Iterable[Topic], scheduled_for: datetime | None
) -> tuple[str, str, list[Topic]]:
    title = (title or "").strip()
    description = (description or "").strip()
    topics = list(dict.fromkeys(topics))
    if not title:
        raise ActionRefused(Code.INVALID, _("Give the Space a title."))
    if len(title) > Room._meta.get_field("title").max_length:
        raise ActionRefused(Code.INVALID, _("The title can have at most 70 characters."))
    if len(description) > Room._meta.get_field("description").max_length:
        raise ActionRefused(Code.INVALID, _("The description can have at most 1000 characters."))
    if len(topics) > Room.MAX_TOPICS:
        raise ActionRefused(
            Code.INVALID, _("Pick at most %(count)s topics.") % {"count": Room.MAX_TOPICS}
        )
    if scheduled_for is not None:
        check_schedule(scheduled_for)
    return title, description, topics


def check_schedule(scheduled_for: datetime, now: datetime | None = None) -> None:
    """A scheduled start must be in the future and at most SPACES_MAX_SCHEDULE_AHEAD_DAYS away."""
    now = now or timezone.now()
    if timezone.is_naive(scheduled_for):
        raise ActionRefused(Code.INVALID, _("The start time needs a time zone."))
    if scheduled_for <= now:
        raise ActionRefused(Code.INVALID, _("Pick a start time in the future."))
    days = settings.SPACES_MAX_SCHEDULE_AHEAD_DAYS
    if scheduled_for > now + timedelta(days=days):
        raise ActionRefused(
            Code.INVALID, _("Spaces can be scheduled at most %(days)s days ahead.") % {"days": days}
        )


# The Space itself


@transaction.atomic
def room_create(
    *,
    host: User,
    title: str,
    description: str = "",
    topics: Iterable[Topic] = (),
    scheduled_for: datetime | None = None,
    guests_may_listen: bool = True,
    visibility: str = Room.Visibility.PUBLIC,
    record: bool = False,
) -> Room:
    """Create a Space: live now with the host on stage (scheduled_for None), or scheduled.

    Logs `room_created`. Broadcasts nothing: nobody is in the Space yet.
    """
    if not host.is_authenticated or not host.is_active:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to host a Space."))
    _check_account(host)
    _check_visibility_value(visibility)
    title, description, topics = _clean_fields(
        title=title, description=description, topics=topics, scheduled_for=scheduled_for
    )
    now = timezone.now()
    live = scheduled_for is None
    room = Room.objects.create(
        host=host,
        title=title,
        description=description,
        state=Room.State.LIVE if live else Room.State.SCHEDULED,
        scheduled_for=scheduled_for,
        started_at=now if live else None,
        guests_may_listen=guests_may_listen,
        visibility=visibility,
        record=bool(record),
    )
    room.topics.set(topics)
    if live:
        Participant.objects.create(
            room=room, user=host, role=Role.HOST, role_since=now, joined_at=now
        )
    scheduling.room_plan(room=room)
    follows.followers_plan(room=room)
    _log(room, "room_created", actor=host, state=room.state)
    return room


@transaction.atomic
def room_update(
    *,
    room: Room,
    actor: User,
    title: str,
    description: str,
    topics: Iterable[Topic],
    scheduled_for: datetime,
    guests_may_listen: bool,
    visibility: str | None = None,
    record: bool | None = None,
) -> Room:
    """Edit a scheduled Space (host or staff). Logs and broadcasts `room_updated`.

    Made private, the Space forgets the reminders of people who were not let in.
    """
    room = _lock_room(room)
    check(actor, Action.EDIT, room)
    visibility = room.visibility if visibility is None else visibility
    _check_visibility_value(visibility)
    if scheduled_for is None:
        raise ActionRefused(Code.INVALID, _("A scheduled Space needs a start time."))
    # A start time left as it was stays acceptable even once it is close or past.
    title, description, topics = _clean_fields(
        title=title,
        description=description,
        topics=topics,
        scheduled_for=None if scheduled_for == room.scheduled_for else scheduled_for,
    )
    old_topics = set(room.topics.values_list("pk", flat=True))
    new_values = {
        "title": title,
        "description": description,
        "scheduled_for": scheduled_for,
        "guests_may_listen": guests_may_listen,
        "visibility": visibility,
        # Recording is chosen before the Space goes live (only scheduled Spaces are edited).
        "record": room.record if record is None else bool(record),
    }
    changed = [name for name, value in new_values.items() if getattr(room, name) != value]
    topics_changed = old_topics != {t.pk for t in topics}
    if not changed and not topics_changed:
        return room
    for name in changed:
        setattr(room, name, new_values[name])
    if changed:
        room.save(update_fields=changed)
    if topics_changed:
        room.topics.set(topics)
        changed.append("topics")
    if "visibility" in changed and room.visibility == Room.Visibility.PRIVATE:
        let_in = SpaceAccess.objects.filter(room=room, status=SpaceAccess.Status.APPROVED)
        Reminder.objects.filter(room=room).exclude(user_id=room.host_id).exclude(
            user_id__in=let_in.values("user_id")
        ).delete()
    scheduling.room_plan(room=room)
    if "visibility" in changed:
        follows.followers_plan(room=room)  # made public: followers not told yet are told now
    _log(room, "room_updated", actor=actor, changed=changed)
    events.emit(
        room.pk,
        "room_updated",
        _payload(
            room,
            actor,
            title=room.title,
            description=room.description,
            topics=sorted(t.slug for t in topics),
            scheduled_for=_iso(room.scheduled_for),
            guests_may_listen=room.guests_may_listen,
        ),
    )
    return room


@transaction.atomic
def room_cancel(*, room: Room, actor: User | None) -> Room:
    """Cancel a scheduled Space (host or staff; None = the system). Logs/broadcasts
    `room_cancelled`."""
    room = _lock_room(room)
    if actor is not None:
        check(actor, Action.CANCEL, room)
    elif not room.is_scheduled:
        raise ActionRefused(Code.WRONG_STATE, _("Only a scheduled Space can be cancelled."))
    room.state = Room.State.CANCELLED
    room.ended_at = timezone.now()
    room.save(update_fields=["state", "ended_at"])
    scheduling.room_cancelled(room=room)
    _log(room, "room_cancelled", actor=actor)
    events.emit(room.pk, "room_cancelled", _payload(room, actor))
    return room


@transaction.atomic
def room_go_live(*, room: Room, actor: User) -> Room:
    """Start a scheduled Space (host or staff). The host is put on stage if they started it.

    Logs and broadcasts `room_live`.
    """
    room = _lock_room(room)
    check(actor, Action.GO_LIVE, room)
    _check_account(room.host, actor=actor)
    now = timezone.now()
    room.state = Room.State.LIVE
    room.started_at = now
    room.save(update_fields=["state", "started_at"])
    if actor.pk == room.host_id:
        Participant.objects.update_or_create(
            room=room,
            user=actor,
            defaults={
                "role": Role.HOST,
                "role_since": now,
                "joined_at": now,
                "left_at": None,
                "is_muted": True,
                "hand_raised_at": None,
            },
        )
    scheduling.room_went_live(room=room)
    follows.followers_plan(room=room)
    _log(room, "room_live", actor=actor)
    events.emit(room.pk, "room_live", _payload(room, actor, started_at=_iso(now)))
    return room


@transaction.atomic
def room_end(*, room: Room, actor: User | None) -> Room:
    """End a live Space (host or staff; None = the system): everyone leaves, open invites
    expire, its recording is assembled after commit. Logs and broadcasts `room_ended`."""
    room = _lock_room(room)
    if actor is not None:
        check(actor, Action.END, room)
    elif not room.is_live:
        raise ActionRefused(Code.WRONG_STATE, _("Only a live Space can be ended."))
    now = timezone.now()
    room.state = Room.State.ENDED
    room.ended_at = now
    room.save(update_fields=["state", "ended_at"])
    Participant.objects.present().filter(room=room).update(left_at=now, hand_raised_at=None)
    Invite.objects.filter(room=room, outcome="").update(
        outcome=Invite.Outcome.EXPIRED, responded_at=now
    )
    scheduling.room_ended(room=room)
    from .recordings import recording_ended  # av and the router load only when needed

    recording_ended(room=room)
    _log(room, "room_ended", actor=actor)
    events.emit(room.pk, "room_ended", _payload(room, actor, ended_at=_iso(now)))
    return room


# Joining and leaving


@transaction.atomic
def participant_join(*, room: Room, user: User) -> Participant:
    """Join a live Space as a listener (the host rejoins as host). Refused when removed.

    Logs `participant_joined`; broadcasts it only for people on stage (listener counts are
    coalesced by the live layer).
    """
    room = _lock_room(room)
    check(user, Action.JOIN, room)
    _check_visible(room, user)
    row = _lock_row(room, user)
    if row is not None and row.is_present:
        return row
    now = timezone.now()
    role = Role.HOST if room.host_id == user.pk else Role.LISTENER
    if row is None:
        row = Participant.objects.create(
            room=room, user=user, role=role, role_since=now, joined_at=now
        )
    else:
        row.role, row.role_since, row.joined_at, row.left_at = role, now, now, None
        row.is_muted, row.hand_raised_at = True, None
        row.save()
    _log(room, "participant_joined", actor=user, target=user, role=role)
    if role in ON_STAGE:
        events.emit(
            room.pk,
            "participant_joined",
            _payload(room, user, user=events.person(user), role=role),
        )
    return row


@transaction.atomic
def participant_leave(*, room: Room, user: User) -> Participant | None:
    """Leave a live Space. Speakers and co-hosts give up their seat (they rejoin as listeners).

    When the host leaves, the longest-serving co-host becomes host (logs and broadcasts
    `host_changed`). With no co-host the Space stays live without a host present: the host may
    come back and carry on, and the scheduler ends Spaces left without a host for too long.
    Otherwise logs `participant_left`, broadcast for people who were on stage.
    """
    room = _lock_room(room)
    check(user, Action.LEAVE, room)
    row = _lock_row(room, user)
    if row is None or not row.is_present:
        return row
    now = timezone.now()
    previous = row.role
    successor = _hand_over(room, user, now) if previous == Role.HOST else None
    row.left_at = now
    row.hand_raised_at = None
    row.is_muted = True
    if previous != Role.HOST or successor is not None:
        row.role, row.role_since = Role.LISTENER, now
    row.save()
    if successor is not None:
        _log(room, "host_changed", actor=user, target=successor.user, reason="host_left")
        events.emit(
            room.pk,
            "host_changed",
            _payload(
                room,
                user,
                user=events.person(successor.user),
                previous_host=events.person(user),
            ),
        )
    else:
        _log(
            room,
            "participant_left",
            actor=user,
            target=user,
            role=previous,
            hostless=previous == Role.HOST,
        )
    if previous in ON_STAGE:
        events.emit(
            room.pk,
            "participant_left",
            _payload(room, user, user=events.person(user), role=previous),
        )
    return row


# Hands


@transaction.atomic
def hand_raise(*, room: Room, user: User, question: str | None = None) -> Participant:
    """A listener asks to speak, optionally with a short question (rooms.questions). Logs and
    broadcasts `hand_raised` (with `question`, or null)."""
    text = questions.clean_text(question)
    room = _lock_room(room)
    check(user, Action.HAND_RAISE, room)
    _check_account(user)
    _check_not_blocked(user, room.host, asking=True)
    row = _lock_row(room, user)
    if row.hand_raised_at is not None:
        return row
    asked = questions.question_open(room=room, author=user, text=text) if text else None
    row.hand_raised_at = timezone.now()
    row.save(update_fields=["hand_raised_at"])
    _log(room, "hand_raised", actor=user, target=user)
    events.emit(
        room.pk,
        "hand_raised",
        _payload(
            room,
            user,
            user=events.person(user),
            question=questions.question_payload(asked) if asked else None,
        ),
    )
    return row


@transaction.atomic
def hand_lower(*, room: Room, user: User) -> Participant | None:
    """Lower one's own hand. Logs and broadcasts `hand_lowered` (by "self")."""
    room = _lock_room(room)
    check(user, Action.HAND_LOWER, room)
    row = _lock_row(room, user)
    if row is None or row.hand_raised_at is None:
        return row
    row.hand_raised_at = None
    row.save(update_fields=["hand_raised_at"])
    questions.question_close(room=room, author_id=user.pk, state=Question.State.WITHDRAWN)
    _log(room, "hand_lowered", actor=user, target=user, by="self")
    events.emit(room.pk, "hand_lowered", _payload(room, user, user=events.person(user), by="self"))
    return row


@transaction.atomic
def hand_accept(*, room: Room, user: User, actor: User) -> Participant:
    """Host, co-host or staff bring a listener with a raised hand on stage as a speaker (muted).

    Logs and broadcasts `hand_accepted`. Refused when the hand is down or seats are full.
    """
    room = _lock_room(room)
    check(actor, Action.HAND_ACCEPT, room, target=user)
    _check_account(user, actor=actor)
    _check_not_blocked(user, actor, room.host)
    row = _lock_row(room, user)
    if row.hand_raised_at is None:
        raise ActionRefused(Code.WRONG_STATE, _("Their hand is not raised."))
    _ensure_seat(room, Role.SPEAKER)
    previous = _set_role(row, Role.SPEAKER, timezone.now())
    _role_change(room, actor, row, "hand_accepted", previous)
    questions.question_close(room=room, author_id=user.pk, state=Question.State.ANSWERED)
    return row


@transaction.atomic
def hand_decline(*, room: Room, user: User, actor: User) -> Participant:
    """Host, co-host or staff lower a listener's hand. Logs and broadcasts `hand_lowered`
    (by "declined")."""
    room = _lock_room(room)
    check(actor, Action.HAND_DECLINE, room, target=user)
    row = _lock_row(room, user)
    if row.hand_raised_at is None:
        return row
    row.hand_raised_at = None
    row.save(update_fields=["hand_raised_at"])
    questions.question_close(room=room, author_id=user.pk, state=Question.State.WITHDRAWN)
    _log(room, "hand_declined", actor=actor, target=user)
    events.emit(
        room.pk, "hand_lowered", _payload(room, actor, user=events.person(user), by="declined")
    )
    return row


# Invites


def _invite_action(role: str) -> Action:
    if role == Role.SPEAKER:
        return Action.INVITE_SPEAKER
    if role == Role.COHOST:
        return Action.INVITE_COHOST
    raise ActionRefused(Code.INVALID, _("People can be invited to speak or to co-host."))


def _open_invite_refusal(invite: Invite, user: User, now: datetime) -> None:
    if invite.invitee_id != user.pk:
        raise ActionRefused(Code.NOT_ALLOWED, _("This invite is for someone else."))
    if invite.outcome == Invite.Outcome.REVOKED:
        raise ActionRefused(Code.INVITE_REVOKED, _("This invite was withdrawn."))
    if invite.outcome in (Invite.Outcome.ACCEPTED, Invite.Outcome.DECLINED):
        if invite.outcome == Invite.Outcome.ACCEPTED:
            raise ActionRefused(Code.INVITE_USED, _("You already accepted this invite."))
        raise ActionRefused(Code.INVITE_USED, _("You already declined this invite."))
    if invite.outcome == Invite.Outcome.EXPIRED or invite.expires_at <= now:
        raise ActionRefused(Code.INVITE_EXPIRED, _("This invite has expired."))


@transaction.atomic
def invite_create(*, room: Room, invitee: User, inviter: User, role: str = Role.SPEAKER) -> Invite:
    """Invite a listener to speak (host, co-host, staff) or a listener or speaker to co-host
    (host, staff). An open invite for the same role is returned as is; one for another role is
    withdrawn. Expires after SPACES_INVITE_TTL seconds.

    Logs `invite_sent`; sends `invite_received` to the invitee.
    """
    room = _lock_room(room)
    action = _invite_action(role)
    check(inviter, action, room, target=invitee)
    _check_account(invitee, actor=inviter)
    _check_not_blocked(invitee, inviter, room.host)
    _ensure_seat(room, role)
    now = timezone.now()
    open_invites = Invite.objects.select_for_update().filter(
        room=room, invitee=invitee, outcome="", expires_at__gt=now
    )
    for existing in open_invites:
        if existing.role == role:
            return existing
    open_invites.update(outcome=Invite.Outcome.REVOKED, responded_at=now)
    invite = Invite.objects.create(
        room=room,
        invitee=invitee,
        inviter=inviter,
        role=role,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SPACES_INVITE_TTL),
    )
    _log(room, "invite_sent", actor=inviter, target=invitee, invite=invite.pk, role=role)
    events.emit_to_user(
        room.pk,
        invitee.pk,
        "invite_received",
        _payload(
            room,
            inviter,
            invite=invite.pk,
            role=role,
            inviter=events.person(inviter),
            expires_at=_iso(invite.expires_at),
        ),
    )
    return invite


@transaction.atomic
def invite_accept(*, invite: Invite, user: User) -> Participant:
    """The invitee takes the offered role. Single-use; refused once expired, answered or
    withdrawn, when its sender may no longer invite, or when seats are full.

    Logs and broadcasts `invite_accepted`.
    """
    room = _lock_room(invite.room)
    invite = (
        Invite.objects.select_for_update(of=("self",)).select_related("inviter").get(pk=invite.pk)
    )
    now = timezone.now()
    _open_invite_refusal(invite, user, now)
    check(user, Action.INVITE_RESPOND, room)
    try:
        check(invite.inviter, _invite_action(invite.role), room, target=user)
    except ActionRefused as refused:
        if refused.code == Code.WRONG_STATE:
            raise ActionRefused(Code.WRONG_STATE, _("You already have a seat on stage.")) from None
        raise ActionRefused(
            Code.INVITE_REVOKED, _("The person who invited you can no longer do that.")
        ) from None
    _check_account(user)
    _check_not_blocked(user, invite.inviter, room.host)
    _ensure_seat(room, invite.role)
    row = _lock_row(room, user)
    previous = _set_role(row, invite.role, now)
    invite.outcome = Invite.Outcome.ACCEPTED
    invite.responded_at = now
    invite.save(update_fields=["outcome", "responded_at"])
    _log(
        room,
        "invite_accepted",
        actor=user,
        target=invite.inviter,
        invite=invite.pk,
        role=row.role,
        previous_role=previous,
    )
    events.emit(
        room.pk,
        "invite_accepted",
        _payload(room, user, user=events.person(user), role=row.role, previous_role=previous),
    )
    return row


@transaction.atomic
def invite_decline(*, invite: Invite, user: User) -> Invite:
    """The invitee says no. Logs `invite_declined` and tells the inviter."""
    room = _lock_room(invite.room)
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    now = timezone.now()
    _open_invite_refusal(invite, user, now)
    check(user, Action.INVITE_RESPOND, room)
    invite.outcome = Invite.Outcome.DECLINED
    invite.responded_at = now
    invite.save(update_fields=["outcome", "responded_at"])
    _log(room, "invite_declined", actor=user, target=invite.inviter, invite=invite.pk)
    events.emit_to_user(
        room.pk,
        invite.inviter_id,
        "invite_declined",
        _payload(room, user, invite=invite.pk, user=events.person(user)),
    )
    return invite


@transaction.atomic
def invite_revoke(*, invite: Invite, actor: User) -> Invite:
    """Withdraw an open invite (its sender, or whoever may send such invites). Logs
    `invite_revoked` and tells the invitee."""
    room = _lock_room(invite.room)
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    if invite.outcome == Invite.Outcome.REVOKED:
        return invite
    check_invite_revoke(actor, room, invite)
    if invite.outcome:
        used = {
            Invite.Outcome.ACCEPTED: _("This invite was already accepted."),
            Invite.Outcome.DECLINED: _("This invite was already declined."),
        }
        message = used.get(invite.outcome, _("This invite was already expired."))
        raise ActionRefused(Code.INVITE_USED, message)
    invite.outcome = Invite.Outcome.REVOKED
    invite.responded_at = timezone.now()
    invite.save(update_fields=["outcome", "responded_at"])
    _log(room, "invite_revoked", actor=actor, target=invite.invitee, invite=invite.pk)
    events.emit_to_user(
        room.pk, invite.invitee_id, "invite_revoked", _payload(room, actor, invite=invite.pk)
    )
    return invite


# Roles


def _promote(room: Room, user: User, actor: User, action: Action, role: Role, verb: str):
    """Bring someone up to `role` (speaker or co-host): one seat, muted until they unmute."""
    room = _lock_room(room)
    check(actor, action, room, target=user)
    _check_account(user, actor=actor)
    _check_not_blocked(user, actor, room.host)
    row = _lock_row(room, user)
    if row.role == role:
        return row
    _ensure_seat(room, role)
    previous = _set_role(row, role, timezone.now())
    _role_change(room, actor, row, verb, previous)
    return row


@transaction.atomic
def speaker_promote(*, room: Room, user: User, actor: User) -> Participant:
    """Host, co-host or staff bring a listener on stage as a speaker (muted until they unmute).

    Logs and broadcasts `speaker_promoted`. Refused when speaker seats are full.
    """
    return _promote(room, user, actor, Action.SPEAKER_PROMOTE, Role.SPEAKER, "speaker_promoted")


@transaction.atomic
def cohost_promote(*, room: Room, user: User, actor: User) -> Participant:
    """The host (or staff) names a listener or speaker co-host. Logs and broadcasts
    `cohost_promoted`. Refused when co-host seats are full."""
    return _promote(room, user, actor, Action.COHOST_PROMOTE, Role.COHOST, "cohost_promoted")


@transaction.atomic
def participant_move_to_audience(*, room: Room, user: User, actor: User) -> Participant:
    """Move a speaker or co-host back to the audience: by someone above them, or themselves.

    Logs and broadcasts `moved_to_audience`.
    """
    room = _lock_room(room)
    check(actor, Action.MOVE_TO_AUDIENCE, room, target=user)
    row = _lock_row(room, user)
    if row.role == Role.LISTENER:
        return row
    previous = _set_role(row, Role.LISTENER, timezone.now())
    _role_change(room, actor, row, "moved_to_audience", previous)
    return row


@transaction.atomic
def cohost_remove(*, room: Room, user: User, actor: User) -> Participant:
    """The host (or staff) takes co-hosting away: they stay on stage as a speaker when a
    speaker seat is free, else go to the audience. Logs and broadcasts `cohost_removed`."""
    room = _lock_room(room)
    check(actor, Action.COHOST_REMOVE, room, target=user)
    row = _lock_row(room, user)
    role = Role.SPEAKER if _has_seat(room, Role.SPEAKER) else Role.LISTENER
    previous = _set_role(row, role, timezone.now())
    _role_change(room, actor, row, "cohost_removed", previous)
    return row


@transaction.atomic
def speaker_mute(*, room: Room, user: User, actor: User) -> Participant:
    """Mute someone on stage: themselves, or by someone above them (host, co-host, staff).

    Logs and broadcasts `speaker_muted`. The audio router drops muted speakers.
    """
    room = _lock_room(room)
    check(actor, Action.MUTE, room, target=user)
    row = _lock_row(room, user)
    if row is None or not row.is_present or row.is_muted:
        return row
    row.is_muted = True
    row.save(update_fields=["is_muted"])
    _log(room, "speaker_muted", actor=actor, target=user)
    events.emit(
        room.pk, "speaker_muted", _payload(room, actor, user=events.person(user), muted=True)
    )
    return row


@transaction.atomic
def speaker_unmute(*, room: Room, user: User, actor: User) -> Participant:
    """Unmute oneself. Nobody may unmute someone else. Logs and broadcasts `speaker_unmuted`."""
    room = _lock_room(room)
    check(actor, Action.UNMUTE, room, target=user)
    row = _lock_row(room, user)
    if row is None or not row.is_present or not row.is_muted:
        return row
    row.is_muted = False
    row.save(update_fields=["is_muted"])
    _log(room, "speaker_unmuted", actor=actor, target=user)
    events.emit(
        room.pk, "speaker_unmuted", _payload(room, actor, user=events.person(user), muted=False)
    )
    return row


@transaction.atomic
def participant_remove(*, room: Room, user: User, actor: User) -> Participant:
    """Remove someone from a live Space; they may not rejoin it. Host and co-hosts remove
    people below them; staff may remove anyone, the host included (then the longest-serving
    co-host takes over, as when the host leaves).

    Logs `participant_removed` and broadcasts it (and `host_changed` after a hand-over).
    """
    room = _lock_room(room)
    check(actor, Action.REMOVE, room, target=user)
    row = _lock_row(room, user)
    now = timezone.now()
    if row is None:  # the host of a Space they never joined
        row = Participant(room=room, user=user, role=Role.HOST, role_since=now, joined_at=now)
    if row.removed_at is not None:
        return row
    previous = row.role
    successor = _hand_over(room, user, now) if room.host_id == user.pk else None
    row.role, row.role_since = Role.LISTENER, now
    row.is_muted, row.hand_raised_at = True, None
    row.removed_at = now
    row.left_at = row.left_at or now
    row.save()
    new_host = successor.user.pk if successor else None
    _log(
        room,
        "participant_removed",
        actor=actor,
        target=user,
        previous_role=previous,
        new_host=new_host,
    )
    events.emit(room.pk, "participant_removed", _payload(room, actor, user=events.person(user)))
    if successor is not None:
        events.emit(
            room.pk,
            "host_changed",
            _payload(
                room,
                actor,
                user=events.person(successor.user),
                previous_host=events.person(user),
            ),
        )
    return row


# Reminders


@transaction.atomic
def reminder_set(*, room: Room, user: User) -> Reminder:
    """Ask to be reminded when a scheduled Space goes live. Logs `reminder_set`; no broadcast."""
    room = _lock_room(room)
    check(user, Action.REMIND, room)
    _check_visible(room, user)
    reminder = Reminder.objects.filter(room=room, user=user).first()
    if reminder is not None:
        return reminder
    reminder = Reminder.objects.create(room=room, user=user)
    _log(room, "reminder_set", actor=user, target=user)
    return reminder


@transaction.atomic
def reminder_clear(*, room: Room, user: User) -> None:
    """Take back "remind me". Logs `reminder_cleared`; no broadcast."""
    room = _lock_room(room)
    check(user, Action.REMIND, room)
    deleted, _kinds = Reminder.objects.filter(room=room, user=user).delete()
    if deleted:
        _log(room, "reminder_cleared", actor=user, target=user)


# Who may enter a private Space


def _notify(user: User, words, url: str, key: str) -> None:
    """A bell notification, `words()` written in the person's own language."""
    from accounts.services import notification_create, person_language

    with translation.override(person_language(user)):
        text = words()
    notification_create(user=user, text=text, url=url, key=key)


def _blocked_either_way(one: User, other: User) -> bool:
    from moderation.models import Block  # moderation builds on rooms

    return Block.objects.filter(
        Q(blocker=one, blocked=other) | Q(blocker=other, blocked=one)
    ).exists()


def _check_decider(room: Room, actor: User) -> None:
    if not actor.is_authenticated:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to do that."))
    if room.host_id != actor.pk and not is_staff_moderator(actor):
        raise ActionRefused(Code.NOT_ALLOWED, _("Only the host decides who comes in."))


@transaction.atomic
def access_request(*, room: Room, user: User) -> SpaceAccess | None:
    """Ask to be let into a private Space. Tells the host (a bell notification) once.

    Returns None when there is nothing to ask (the Space is not private, or they may already
    come in); refused for guests, after the host declined, and between people who blocked each
    other. Logs `access_requested`; no broadcast (nobody in the Space needs to know).
    """
    if not user.is_authenticated:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to ask to join."))
    room = _lock_room(room)
    if room.is_over:
        raise ActionRefused(Code.WRONG_STATE, _("This Space is over."))
    if room_visible_to(room, user):
        return None
    if _blocked_either_way(user, room.host):
        raise ActionRefused(Code.NOT_ALLOWED, _("You can't join this Space."))
    access = SpaceAccess.objects.select_for_update().filter(room=room, user=user).first()
    if access is not None:
        if access.status == SpaceAccess.Status.DECLINED:
            raise ActionRefused(Code.NOT_ALLOWED, _("The host declined your request."))
        return access
    access = SpaceAccess.objects.create(room=room, user=user, status=SpaceAccess.Status.REQUESTED)
    _log(room, "access_requested", actor=user, target=user)
    _notify(
        room.host,
        lambda: (
            _("%(name)s (@%(handle)s) asks to join your private Space “%(title)s”.")
            % {"name": user.display_name, "handle": user.username, "title": room.title}
        ),
        f"/rooms/{room.slug}/",
        f"access_request:{room.pk}:{user.pk}",
    )
    return access


@transaction.atomic
def access_decide(*, room: Room, actor: User, user: User, approve: bool) -> SpaceAccess:
    """The host (or staff) lets someone into a private Space — answering their request, or
    inviting them directly — or declines (which also takes back an earlier yes).

    A person let in is told with a bell notification. Logs `access_approved`/`access_declined`.
    """
    room = _lock_room(room)
    _check_decider(room, actor)
    if room.visibility != Room.Visibility.PRIVATE:
        raise ActionRefused(Code.WRONG_STATE, _("Only private Spaces need letting in."))
    if user.pk == room.host_id:
        raise ActionRefused(Code.INVALID, _("The host is always in."))
    status = SpaceAccess.Status.APPROVED if approve else SpaceAccess.Status.DECLINED
    if approve and _blocked_either_way(user, room.host):
        raise ActionRefused(Code.NOT_ALLOWED, _("You can't let this person in."))
    access = SpaceAccess.objects.select_for_update().filter(room=room, user=user).first()
    if access is not None and access.status == status:
        return access
    now = timezone.now()
    if access is None:
        access = SpaceAccess(room=room, user=user)
    access.status, access.decided_at, access.decided_by = status, now, actor
    access.save()
    _log(room, f"access_{status}", actor=actor, target=user)
    if approve:
        _notify(
            user,
            lambda: (
                _("%(host)s let you into the private Space “%(title)s”.")
                % {"host": room.host.display_name, "title": room.title}
            ),
            f"/rooms/{room.slug}/",
            f"access_approved:{room.pk}:{user.pk}",
        )
    return access
