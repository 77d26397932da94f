"""The rule matrix: every kind of person × every action in a Space.

Allowed actions change the Space, write exactly one event-log row and broadcast after commit;
refused ones raise ActionRefused with a stable code and change nothing; "noop" means allowed but
already so (no row, no broadcast).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms import permissions, services
from rooms.exceptions import ActionRefused
from rooms.models import RoomEvent
from rooms.permissions import Action
from tests.factories import ParticipantFactory, UserFactory

from .conftest import grant_moderation, snapshot

pytestmark = pytest.mark.django_db

ROLES = ["host", "cohost", "speaker", "listener", "outsider", "removed", "staff", "staff_without"]

NA = "not_allowed"
NIS = "not_in_space"
RM = "removed"

# What each action does: the service call, on the people of the `live_space` fixture.
LIVE_ACTIONS = {
    "join": lambda s, a: services.participant_join(room=s.room, user=a),
    "leave": lambda s, a: services.participant_leave(room=s.room, user=a),
    "hand_raise": lambda s, a: services.hand_raise(room=s.room, user=a),
    "hand_accept": lambda s, a: services.hand_accept(room=s.room, user=s.hand, actor=a),
    "hand_decline": lambda s, a: services.hand_decline(room=s.room, user=s.hand, actor=a),
    "invite_speaker": lambda s, a: services.invite_create(
        room=s.room, invitee=s.listener, inviter=a, role="speaker"
    ),
    "invite_cohost": lambda s, a: services.invite_create(
        room=s.room, invitee=s.speaker, inviter=a, role="cohost"
    ),
    "speaker_promote": lambda s, a: services.speaker_promote(room=s.room, user=s.listener, actor=a),
    "cohost_promote": lambda s, a: services.cohost_promote(room=s.room, user=s.speaker, actor=a),
    "move_to_audience": lambda s, a: services.participant_move_to_audience(
        room=s.room, user=s.speaker, actor=a
    ),
    "cohost_remove": lambda s, a: services.cohost_remove(room=s.room, user=s.cohost, actor=a),
    "mute": lambda s, a: services.speaker_mute(room=s.room, user=s.speaker, actor=a),
    "unmute_other": lambda s, a: services.speaker_unmute(room=s.room, user=s.cohost, actor=a),
    "remove": lambda s, a: services.participant_remove(room=s.room, user=s.listener, actor=a),
    "end": lambda s, a: services.room_end(room=s.room, actor=a),
}

# Expected outcome per role, in ROLES order.
LIVE_MATRIX = {
    "join":             ["noop", "noop", "noop", "noop", "ok",  RM, "ok", "ok"],
    "leave":            ["ok",   "ok",   "ok",   "ok",   NIS,   RM, NIS,  NIS],
    "hand_raise":       [NA,     NA,     NA,     "ok",   NIS,   RM, NIS,  NIS],
    "hand_accept":      ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "hand_decline":     ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "invite_speaker":   ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "invite_cohost":    ["ok",   NA,     NA,     NA,     NA,    RM, "ok", NA],
    "speaker_promote":  ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "cohost_promote":   ["ok",   NA,     NA,     NA,     NA,    RM, "ok", NA],
    "move_to_audience": ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "cohost_remove":    ["ok",   NA,     NA,     NA,     NA,    RM, "ok", NA],
    "mute":             ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "unmute_other":     [NA,     NA,     NA,     NA,     NA,    RM, NA,   NA],
    "remove":           ["ok",   "ok",   NA,     NA,     NA,    RM, "ok", NA],
    "end":              ["ok",   NA,     NA,     NA,     NA,    RM, "ok", NA],
}  # fmt: skip

# The log row and broadcasts an allowed action produces.
LOGGED = {
    "join": ("participant_joined", []),
    "leave": ("participant_left", ["participant_left"]),
    "hand_raise": ("hand_raised", ["hand_raised"]),
    "hand_accept": ("hand_accepted", ["hand_accepted"]),
    "hand_decline": ("hand_declined", ["hand_lowered"]),
    "invite_speaker": ("invite_sent", ["invite_received"]),
    "invite_cohost": ("invite_sent", ["invite_received"]),
    "speaker_promote": ("speaker_promoted", ["speaker_promoted"]),
    "cohost_promote": ("cohost_promoted", ["cohost_promoted"]),
    "move_to_audience": ("moved_to_audience", ["moved_to_audience"]),
    "cohost_remove": ("cohost_removed", ["cohost_removed"]),
    "mute": ("speaker_muted", ["speaker_muted"]),
    "remove": ("participant_removed", ["participant_removed"]),
    "end": ("room_ended", ["room_ended"]),
}
LOGGED_BY_ROLE = {
    ("leave", "host"): ("host_changed", ["host_changed", "participant_left"]),
    ("leave", "listener"): ("participant_left", []),
}


def make_actor(space, role):
    """Someone with `role` in the Space, other than the people actions are done to."""
    room = space.room
    if role == "host":
        return space.host
    if role in ("cohost", "speaker", "listener"):
        return ParticipantFactory(room=room, role=role).user
    if role == "removed":
        now = timezone.now()
        return ParticipantFactory(room=room, removed_at=now, left_at=now).user
    if role == "staff":
        return grant_moderation(UserFactory(is_staff=True))
    if role == "staff_without":
        return UserFactory(is_staff=True)
    return UserFactory()


def assert_outcome(space, actor, do, expected, capture):
    before = snapshot(space.room)
    events_before = RoomEvent.objects.count()
    if expected in ("ok", "noop"):
        with capture(execute=True) as callbacks:
            do(space, actor)
        if expected == "noop":
            assert snapshot(space.room) == before
            assert callbacks == []
            return None
        assert snapshot(space.room) != before
        assert RoomEvent.objects.count() == events_before + 1
        return callbacks
    with capture(execute=True) as callbacks, pytest.raises(ActionRefused) as refused:
        do(space, actor)
    assert refused.value.code == expected, refused.value.message
    assert refused.value.message
    assert snapshot(space.room) == before
    assert callbacks == []
    return None


CASES = [
    pytest.param(action, role, LIVE_MATRIX[action][i], id=f"{action}-{role}")
    for action in LIVE_MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("action", "role", "expected"), CASES)
def test_live_space_rules(
    live_space, broadcasts, django_capture_on_commit_callbacks, action, role, expected
):
    actor = make_actor(live_space, role)
    assert_outcome(
        live_space,
        actor,
        LIVE_ACTIONS[action],
        expected,
        django_capture_on_commit_callbacks,
    )
    if expected == "ok":
        verb, sent = LOGGED_BY_ROLE.get((action, role), LOGGED[action])
        assert RoomEvent.objects.filter(room=live_space.room).first().verb == verb
        assert [event["type"] for _, event in broadcasts] == sent
        assert all(e["v"] == 1 and e["room"] == live_space.room.slug for _, e in broadcasts)
        assert all(e["actor"] == actor.pk for _, e in broadcasts)
    else:
        assert broadcasts == []


SCHEDULED_ROLES = ["host", "outsider", "staff", "staff_without"]
SCHEDULED_ACTIONS = {
    "go_live": lambda s, a: services.room_go_live(room=s.room, actor=a),
    "edit": lambda s, a: services.room_update(
        room=s.room,
        actor=a,
        title="A new title",
        description="",
        topics=[],
        scheduled_for=s.room.scheduled_for,
        guests_may_listen=True,
    ),
    "cancel": lambda s, a: services.room_cancel(room=s.room, actor=a),
    "remind": lambda s, a: services.reminder_set(room=s.room, user=a),
}
SCHEDULED_MATRIX = {
    "go_live": ["ok", NA, "ok", NA],
    "edit":    ["ok", NA, "ok", NA],
    "cancel":  ["ok", NA, "ok", NA],
    "remind":  ["ok", "ok", "ok", "ok"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("action", "role", "expected"),
    [
        pytest.param(action, role, SCHEDULED_MATRIX[action][i], id=f"{action}-{role}")
        for action in SCHEDULED_MATRIX
        for i, role in enumerate(SCHEDULED_ROLES)
    ],
)
def test_scheduled_space_rules(
    scheduled_space, django_capture_on_commit_callbacks, action, role, expected
):
    class Scene:
        room = scheduled_space
        host = scheduled_space.host

    actor = make_actor(Scene, role)
    assert_outcome(
        Scene, actor, SCHEDULED_ACTIONS[action], expected, django_capture_on_commit_callbacks
    )


@pytest.mark.parametrize("action", sorted(LIVE_ACTIONS))
def test_nothing_happens_in_an_ended_space(live_space, action):
    services.room_end(room=live_space.room, actor=live_space.host)
    before = snapshot(live_space.room)
    with pytest.raises(ActionRefused) as refused:
        LIVE_ACTIONS[action](live_space, live_space.host)
    assert refused.value.code == "wrong_state"
    assert snapshot(live_space.room) == before


@pytest.mark.parametrize("action", sorted(SCHEDULED_ACTIONS))
def test_scheduled_only_actions_are_refused_once_live(live_space, action):
    live_space.room.scheduled_for = timezone.now() + timedelta(hours=1)
    with pytest.raises(ActionRefused) as refused:
        SCHEDULED_ACTIONS[action](live_space, live_space.host)
    assert refused.value.code == "wrong_state"


def test_can_answers_from_the_database(live_space):
    room = live_space.room
    assert permissions.can(live_space.host, Action.END, room)
    assert not permissions.can(live_space.cohost, Action.END, room)
    assert permissions.can(live_space.cohost, Action.MUTE, room, target=live_space.speaker)
    assert not permissions.can(live_space.cohost, Action.MUTE, room, target=live_space.host)
    services.participant_move_to_audience(room=room, user=live_space.cohost, actor=live_space.host)
    # The same person, one query later: no longer a co-host.
    assert not permissions.can(live_space.cohost, Action.MUTE, room, target=live_space.speaker)


def test_people_on_stage_mute_and_unmute_themselves(live_space):
    room, speaker = live_space.room, live_space.speaker
    assert services.speaker_mute(room=room, user=speaker, actor=speaker).is_muted
    assert not services.speaker_unmute(room=room, user=speaker, actor=speaker).is_muted


def test_listeners_have_no_microphone(live_space):
    with pytest.raises(ActionRefused) as refused:
        services.speaker_unmute(
            room=live_space.room, user=live_space.listener, actor=live_space.listener
        )
    assert refused.value.code == "wrong_state"


def test_co_hosts_cannot_act_on_each_other_or_on_the_host(live_space):
    room = live_space.room
    other = ParticipantFactory(room=room, role="cohost", is_muted=False).user
    for do in (
        lambda: services.speaker_mute(room=room, user=other, actor=live_space.cohost),
        lambda: services.participant_remove(room=room, user=other, actor=live_space.cohost),
        lambda: services.participant_move_to_audience(
            room=room, user=other, actor=live_space.cohost
        ),
        lambda: services.participant_remove(
            room=room, user=live_space.host, actor=live_space.cohost
        ),
    ):
        with pytest.raises(ActionRefused) as refused:
            do()
        assert refused.value.code == "not_allowed"


def test_speakers_and_co_hosts_may_step_down_but_the_host_may_not(live_space):
    room = live_space.room
    services.participant_move_to_audience(
        room=room, user=live_space.speaker, actor=live_space.speaker
    )
    services.participant_move_to_audience(
        room=room, user=live_space.cohost, actor=live_space.cohost
    )
    roles = dict(room.participants.values_list("user_id", "role"))
    assert roles[live_space.speaker.pk] == roles[live_space.cohost.pk] == "listener"
    with pytest.raises(ActionRefused) as refused:
        services.participant_move_to_audience(
            room=room, user=live_space.host, actor=live_space.host
        )
    assert refused.value.code == "not_allowed"


def test_guests_may_do_nothing(live_space):
    from django.contrib.auth.models import AnonymousUser

    for action in (Action.JOIN, Action.HAND_RAISE, Action.END):
        assert not permissions.can(AnonymousUser(), action, live_space.room)
    assert permissions.standing_of(AnonymousUser(), live_space.room) == "guest"


def test_inactive_staff_lose_their_powers(live_space):
    staff = grant_moderation(UserFactory(is_staff=True))
    assert permissions.can(staff, Action.END, live_space.room)
    type(staff).objects.filter(pk=staff.pk).update(is_active=False)
    # The same object, still "active" in memory: the answer comes from the database.
    assert not permissions.can(staff, Action.END, live_space.room)


def test_moderation_through_a_group_and_revoked_at_once(live_space):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="Spaces test moderators")
    group.permissions.add(Permission.objects.get(codename="moderate_room"))
    staff = UserFactory(is_staff=True)
    assert not permissions.can(staff, Action.END, live_space.room)
    staff.groups.add(group)
    assert permissions.can(staff, Action.END, live_space.room)
    staff.groups.remove(group)
    assert not permissions.can(staff, Action.END, live_space.room)


def test_superusers_moderate_without_the_explicit_permission(live_space):
    admin = UserFactory(is_staff=True, is_superuser=True)
    services.participant_remove(room=live_space.room, user=live_space.speaker, actor=admin)
    assert live_space.room.participants.get(user=live_space.speaker).removed_at is not None
