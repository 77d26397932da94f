"""Who may do what in a Space. The one place the rules live; views, admin, consumers and
services all ask here, and the answer comes from the database, never from a client.

Standing: everyone has one in a Space — host, co-host, speaker, listener (present
participants), outsider (signed in, not in the Space), removed, or guest (no account). The host
is whoever `Room.host` names, even while away from a live Space. Staff (`is_staff`) who are
active and have `rooms.moderate_room` (or are superusers) may do any host action, in any Space.
A suspended or deactivated account has no power at all: whatever its standing, every action but
leaving (and lowering a hand) is refused, so a suspended host cannot act from a socket that
missed its close (`check` reads the account from the database each time).

The rules, for a live Space:
- anyone signed in and not removed may join; present people may leave and lower their own hand;
  listeners raise a hand;
- host and co-hosts accept or decline raised hands, invite listeners to speak, bring listeners
  on stage, mute people on stage below them, move speakers back to the audience and remove
  people below them;
- only the host names co-hosts (directly or by invite) and removes them; only the host ends it;
- people on stage mute and unmute themselves; nobody may unmute someone else;
- speakers and co-hosts may step down to the audience themselves;
- staff with the permission act as a host above every role (they may also remove the host).
For a scheduled Space: the host (or staff) edits, cancels or takes it live; anyone signed in
may set a reminder.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission
from django.db.models import Exists, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .exceptions import ActionRefused, Code
from .models import Participant, Role, Room


class Standing(StrEnum):
    HOST = Role.HOST.value
    COHOST = Role.COHOST.value
    SPEAKER = Role.SPEAKER.value
    LISTENER = Role.LISTENER.value
    OUTSIDER = "outsider"
    REMOVED = "removed"
    GUEST = "guest"


PRESENT = frozenset({Standing.HOST, Standing.COHOST, Standing.SPEAKER, Standing.LISTENER})
ON_STAGE = frozenset({Standing.HOST, Standing.COHOST, Standing.SPEAKER})
MODERATORS = frozenset({Standing.HOST, Standing.COHOST})
RANK = {Standing.HOST: 3, Standing.COHOST: 2, Standing.SPEAKER: 1, Standing.LISTENER: 0}
STAFF_RANK = 4


class Action(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    HAND_RAISE = "hand_raise"
    HAND_LOWER = "hand_lower"
    HAND_ACCEPT = "hand_accept"
    HAND_DECLINE = "hand_decline"
    INVITE_SPEAKER = "invite_speaker"
    INVITE_COHOST = "invite_cohost"
    INVITE_RESPOND = "invite_respond"
    SPEAKER_PROMOTE = "speaker_promote"
    COHOST_PROMOTE = "cohost_promote"
    MOVE_TO_AUDIENCE = "move_to_audience"
    COHOST_REMOVE = "cohost_remove"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    END = "end"
    GO_LIVE = "go_live"
    EDIT = "edit"
    CANCEL = "cancel"
    REMIND = "remind"


SCHEDULED_ACTIONS = frozenset({Action.GO_LIVE, Action.EDIT, Action.CANCEL, Action.REMIND})
# Actions on another person, and the standings that person must have for the action to apply.
TARGET_STANDINGS: dict[Action, frozenset[Standing]] = {
    Action.HAND_ACCEPT: frozenset({Standing.LISTENER}),
    Action.HAND_DECLINE: frozenset({Standing.LISTENER}),
    Action.INVITE_SPEAKER: frozenset({Standing.LISTENER}),
    Action.INVITE_COHOST: frozenset({Standing.LISTENER, Standing.SPEAKER}),
    Action.SPEAKER_PROMOTE: frozenset({Standing.LISTENER, Standing.SPEAKER}),
    Action.COHOST_PROMOTE: frozenset({Standing.LISTENER, Standing.SPEAKER, Standing.COHOST}),
    Action.MOVE_TO_AUDIENCE: frozenset({Standing.LISTENER, Standing.SPEAKER, Standing.COHOST}),
    Action.COHOST_REMOVE: frozenset({Standing.COHOST}),
    Action.MUTE: ON_STAGE,
    Action.UNMUTE: ON_STAGE,
    Action.REMOVE: PRESENT | {Standing.REMOVED},
}
# Who may act on others: host only, or host and co-hosts (staff always may).
HOST_ONLY = frozenset({Standing.HOST})
ACTING_ON_OTHERS: dict[Action, frozenset[Standing]] = {
    Action.HAND_ACCEPT: MODERATORS,
    Action.HAND_DECLINE: MODERATORS,
    Action.INVITE_SPEAKER: MODERATORS,
    Action.INVITE_COHOST: HOST_ONLY,
    Action.SPEAKER_PROMOTE: MODERATORS,
    Action.COHOST_PROMOTE: HOST_ONLY,
    Action.MOVE_TO_AUDIENCE: MODERATORS,
    Action.COHOST_REMOVE: HOST_ONLY,
    Action.MUTE: MODERATORS,
    Action.REMOVE: MODERATORS,
}
# Where acting on someone also needs a higher rank than theirs (a co-host can't mute a co-host).
OUTRANK = frozenset({Action.MOVE_TO_AUDIENCE, Action.MUTE, Action.REMOVE})

MESSAGES = {
    Code.NOT_SIGNED_IN: gettext_lazy("Sign in to do that."),
    Code.REMOVED: gettext_lazy("You were removed from this Space."),
    Code.NOT_ALLOWED: gettext_lazy("Your role in this Space does not allow that."),
}


@dataclass(frozen=True)
class Refusal:
    code: Code
    message: str

    def error(self) -> ActionRefused:
        return ActionRefused(self.code, self.message)


def _refuse(code: Code, message: str | None = None) -> Refusal:
    return Refusal(code, str(message or MESSAGES[code]))


def refusal(
    action: Action,
    *,
    room_state: str,
    actor: Standing,
    staff: bool = False,
    target: Standing | None = None,
    is_self: bool = False,
) -> Refusal | None:
    """The rule table, on standings alone: why `actor` may not do `action`, or None if it may.

    Pure, so pages can ask it for every person they show without further queries. Whether a
    change is needed at all (already a speaker, already muted) and seat limits are the
    services' business.
    """
    if actor == Standing.GUEST:
        return _refuse(Code.NOT_SIGNED_IN)
    if actor == Standing.REMOVED:
        return _refuse(Code.REMOVED)
    needed = Room.State.SCHEDULED if action in SCHEDULED_ACTIONS else Room.State.LIVE
    if room_state != needed:
        if needed == Room.State.SCHEDULED:
            return _refuse(Code.WRONG_STATE, _("That only works while the Space is scheduled."))
        return _refuse(Code.WRONG_STATE, _("That only works while the Space is live."))

    if action in (Action.JOIN, Action.REMIND):
        return None
    if action in (Action.GO_LIVE, Action.EDIT, Action.CANCEL, Action.END):
        if actor == Standing.HOST or staff:
            return None
        return _refuse(Code.NOT_ALLOWED, _("Only the host can do that."))
    if action in (Action.LEAVE, Action.HAND_LOWER, Action.INVITE_RESPOND):
        if actor in PRESENT:
            return None
        return _refuse(Code.NOT_IN_SPACE, _("Join the Space first."))
    if action == Action.HAND_RAISE:
        if actor == Standing.LISTENER:
            return None
        if actor in ON_STAGE:
            return _refuse(Code.NOT_ALLOWED, _("You are already on stage."))
        return _refuse(Code.NOT_IN_SPACE, _("Join the Space first."))

    # The rest act on a person: possibly oneself.
    if target is None:
        raise ValueError(f"{action} needs a target")
    if is_self:
        return _self_refusal(action, actor)
    if action == Action.UNMUTE:
        # Nobody opens someone else's microphone, not even staff.
        return _refuse(Code.NOT_ALLOWED, _("Only they can unmute themselves."))
    allowed_roles = ACTING_ON_OTHERS[action]
    if not staff and actor not in allowed_roles:
        if allowed_roles == HOST_ONLY:
            return _refuse(Code.NOT_ALLOWED, _("Only the host can do that."))
        return _refuse(Code.NOT_ALLOWED, _("Only the host and co-hosts can do that."))
    if target in (Standing.OUTSIDER, Standing.GUEST) or (
        target == Standing.REMOVED and action != Action.REMOVE
    ):
        return _refuse(Code.NOT_IN_SPACE, _("That person is not in this Space."))
    if target == Standing.HOST and not (staff and action in (Action.MUTE, Action.REMOVE)):
        return _refuse(Code.NOT_ALLOWED, _("Nobody can do that to the host."))
    if action in OUTRANK and target in RANK:
        rank = STAFF_RANK if staff else RANK[actor]
        if rank <= RANK[target]:
            return _refuse(Code.NOT_ALLOWED, _("Only someone above them can do that."))
    if target not in TARGET_STANDINGS[action]:
        return _refuse(Code.WRONG_STATE, _wrong_target_message(action))
    return None


def _self_refusal(action: Action, actor: Standing) -> Refusal | None:
    if actor not in PRESENT:
        return _refuse(Code.NOT_IN_SPACE, _("Join the Space first."))
    if action in (Action.MUTE, Action.UNMUTE):
        if actor in ON_STAGE:
            return None
        return _refuse(Code.WRONG_STATE, _("Only people on stage have a microphone."))
    if action == Action.MOVE_TO_AUDIENCE:
        if actor == Standing.HOST:
            return _refuse(Code.NOT_ALLOWED, _("The host stays on stage; leave to hand over."))
        return None
    return _refuse(Code.NOT_ALLOWED, _("You can't do that to yourself."))


def _wrong_target_message(action: Action) -> str:
    return {
        Action.HAND_ACCEPT: _("Only listeners raise hands."),
        Action.HAND_DECLINE: _("Only listeners raise hands."),
        Action.INVITE_SPEAKER: _("Only listeners can be invited to speak."),
        Action.INVITE_COHOST: _("Only listeners and speakers can be invited to co-host."),
        Action.SPEAKER_PROMOTE: _("Only listeners can be brought up to speak."),
        Action.COHOST_PROMOTE: _("Only listeners and speakers can become co-hosts."),
        Action.MOVE_TO_AUDIENCE: _("They are not on stage."),
        Action.COHOST_REMOVE: _("They are not a co-host."),
        Action.MUTE: _("They are not on stage."),
        Action.UNMUTE: _("They are not on stage."),
    }.get(action, _("That does not apply to them."))


# Reading standings from the database.


def is_staff_moderator(user) -> bool:
    """Staff who may act as host in any Space: active staff (`is_staff`), and superuser or
    holding `rooms.moderate_room` (directly or through a group). Asked of the database every
    time, not of the user object, so a long-lived socket loses the power as soon as it is taken
    away. The permission alone (without `is_staff`) gives no power in Spaces."""
    if user is None or not user.is_authenticated:
        return False
    codename = Q(codename="moderate_room", content_type__app_label="rooms")
    granted = Permission.objects.filter(codename & (Q(user=user.pk) | Q(group__user=user.pk)))
    return (
        get_user_model()
        ._default_manager.filter(pk=user.pk, is_active=True, is_staff=True)
        .filter(Q(is_superuser=True) | Q(Exists(granted)))
        .exists()
    )


# What a person without their account's powers may still do: step out.
POWERLESS_MAY = frozenset({Action.LEAVE, Action.HAND_LOWER})


def account_refusal(user) -> Refusal | None:
    """Why this account has no powers now (deactivated or suspended), from the database."""
    from moderation.selectors import suspension_of  # moderation builds on rooms

    if not get_user_model()._default_manager.filter(pk=user.pk, is_active=True).exists():
        return _refuse(Code.NOT_ALLOWED, "This account is deactivated.")
    suspension = suspension_of(user)
    if suspension is not None:
        return _refuse(Code.NOT_ALLOWED, suspension.explanation)
    return None


def standing_of(user, room: Room, participant: Participant | None = None) -> Standing:
    """The user's standing in the room. Pass their Participant row when already loaded
    (None is taken to mean "not loaded"; use `standing_from_row` if you know there is none)."""
    if user is None or not user.is_authenticated:
        return Standing.GUEST
    if participant is None:
        participant = Participant.objects.filter(room=room, user=user).first()
    return standing_from_row(user.pk, room, participant)


def standing_from_row(user_id: int, room: Room, participant: Participant | None) -> Standing:
    if participant is not None and participant.removed_at is not None:
        return Standing.REMOVED
    if room.host_id == user_id:
        return Standing.HOST
    if participant is not None and participant.left_at is None:
        return Standing(participant.role)
    return Standing.OUTSIDER


def check(actor, action: Action, room: Room, target=None) -> None:
    """Raise ActionRefused if `actor` may not do `action` in `room` (to `target`, a user)."""
    if actor is None or isinstance(actor, AnonymousUser) or not actor.is_authenticated:
        raise _refuse(Code.NOT_SIGNED_IN).error()
    if action not in POWERLESS_MAY and (lost := account_refusal(actor)) is not None:
        raise lost.error()
    rows = {
        p.user_id: p
        for p in Participant.objects.filter(
            room=room, user_id__in=[actor.pk] + ([target.pk] if target is not None else [])
        )
    }
    found = refusal(
        action,
        room_state=room.state,
        actor=standing_from_row(actor.pk, room, rows.get(actor.pk)),
        staff=is_staff_moderator(actor),
        target=None if target is None else standing_from_row(target.pk, room, rows.get(target.pk)),
        is_self=target is not None and target.pk == actor.pk,
    )
    if found is not None:
        raise found.error()


def check_invite_revoke(actor, room: Room, invite) -> None:
    """Its sender may withdraw an invite, and so may whoever may send that kind of invite."""
    if actor is None or not actor.is_authenticated:
        raise _refuse(Code.NOT_SIGNED_IN).error()
    if (lost := account_refusal(actor)) is not None:
        raise lost.error()
    if invite.inviter_id == actor.pk or is_staff_moderator(actor):
        return
    standing = standing_of(actor, room)
    allowed = HOST_ONLY if invite.role == Role.COHOST else MODERATORS
    if standing == Standing.REMOVED:
        raise _refuse(Code.REMOVED).error()
    if standing not in allowed:
        message = _("Only the host and co-hosts can withdraw invites.")
        raise _refuse(Code.NOT_ALLOWED, message).error()


def can(actor, action: Action, room: Room, target=None) -> bool:
    """May `actor` do `action` in `room` (to `target`)? Seat limits are not considered."""
    try:
        check(actor, action, room, target)
    except ActionRefused:
        return False
    return True
