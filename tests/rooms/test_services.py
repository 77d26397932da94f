from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from rooms import services
from rooms.exceptions import ActionRefused
from rooms.models import Invite, Participant, Reminder, Room, RoomEvent
from tests.factories import (
    InviteFactory,
    ParticipantFactory,
    RoomFactory,
    TopicFactory,
    UserFactory,
)

from .conftest import grant_moderation, snapshot

pytestmark = pytest.mark.django_db


def role_of(room, user):
    return Participant.objects.get(room=room, user=user).role


@contextmanager
def refused(code):
    """The action inside is refused with `code`."""
    with pytest.raises(ActionRefused) as info:
        yield info
    assert info.value.code == code, info.value.message


# Creating, editing and ending a Space


def test_a_space_started_now_is_live_with_its_host_on_stage(user):
    topics = [TopicFactory(slug="music"), TopicFactory(slug="news")]
    room = services.room_create(host=user, title="  Jazz hour ", topics=topics)
    assert room.state == "live" and room.started_at is not None
    assert room.title == "Jazz hour"
    assert role_of(room, user) == "host"
    assert Participant.objects.get(room=room, user=user).is_muted  # mic opens only on request
    assert set(room.topics.values_list("slug", flat=True)) == {"music", "news"}
    assert list(room.events.values_list("verb", flat=True)) == ["room_created"]


def test_a_scheduled_space_waits_with_nobody_in_it(user):
    when = timezone.now() + timedelta(days=3)
    room = services.room_create(host=user, title="Later", scheduled_for=when)
    assert room.state == "scheduled" and room.scheduled_for == when
    assert not room.participants.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "x" * 71}, "at most 70"),
        ({"title": "   "}, "title"),
        ({"description": "d" * 1001}, "1000"),
        ({"scheduled_for": "past"}, "future"),
        ({"scheduled_for": "too far"}, "14 days"),
        ({"topics": 4}, "at most 3"),
    ],
)
def test_invalid_spaces_are_refused_and_nothing_is_created(user, fields, message):
    kwargs = {"host": user, "title": "Fine"}
    kwargs.update(fields)
    if fields.get("scheduled_for") == "past":
        kwargs["scheduled_for"] = timezone.now() - timedelta(minutes=1)
    elif fields.get("scheduled_for") == "too far":
        kwargs["scheduled_for"] = timezone.now() + timedelta(days=14, minutes=1)
    if "topics" in fields:
        kwargs["topics"] = [TopicFactory() for _ in range(fields["topics"])]
    with refused("invalid") as info:
        services.room_create(**kwargs)
    assert message in info.value.message
    assert not Room.objects.exists()


def test_schedule_limit_is_a_setting(user):
    with override_settings(SPACES_MAX_SCHEDULE_AHEAD_DAYS=30):
        room = services.room_create(
            host=user, title="Far", scheduled_for=timezone.now() + timedelta(days=20)
        )
    assert room.is_scheduled


def test_editing_a_scheduled_space(scheduled_space, django_capture_on_commit_callbacks, broadcasts):
    music = TopicFactory(slug="music")
    when = timezone.now() + timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_update(
            room=scheduled_space,
            actor=scheduled_space.host,
            title="Renamed",
            description="New words",
            topics=[music],
            scheduled_for=when,
            guests_may_listen=False,
        )
    scheduled_space.refresh_from_db()
    assert (scheduled_space.title, scheduled_space.scheduled_for) == ("Renamed", when)
    assert not scheduled_space.guests_may_listen
    event = scheduled_space.events.get()
    assert event.verb == "room_updated"
    assert set(event.data["changed"]) == {
        "title",
        "description",
        "scheduled_for",
        "guests_may_listen",
        "topics",
    }
    [(_, sent)] = broadcasts
    assert sent["type"] == "room_updated" and sent["topics"] == ["music"]


def test_saving_an_unchanged_space_writes_nothing(scheduled_space):
    room = scheduled_space
    services.room_update(
        room=room,
        actor=room.host,
        title=room.title,
        description=room.description,
        topics=[],
        scheduled_for=room.scheduled_for,
        guests_may_listen=room.guests_may_listen,
    )
    assert not room.events.exists()


def test_going_live_puts_the_host_on_stage(scheduled_space):
    room = services.room_go_live(room=scheduled_space, actor=scheduled_space.host)
    assert room.state == "live" and room.started_at
    assert role_of(room, room.host) == "host"


def test_staff_can_start_a_space_the_host_then_joins_as_host(scheduled_space):
    staff = grant_moderation(UserFactory(is_staff=True))
    room = services.room_go_live(room=scheduled_space, actor=staff)
    assert not room.participants.exists()
    assert services.participant_join(room=room, user=room.host).role == "host"
    assert services.participant_join(room=room, user=staff).role == "listener"


def test_ending_empties_the_space_and_closes_invites(live_space):
    room = live_space.room
    invite = services.invite_create(room=room, invitee=live_space.listener, inviter=live_space.host)
    services.room_end(room=room, actor=live_space.host)
    room.refresh_from_db()
    assert room.state == "ended" and room.ended_at
    assert not Participant.objects.present().filter(room=room).exists()
    invite.refresh_from_db()
    assert invite.outcome == "expired"
    with refused("wrong_state"):
        services.participant_join(room=room, user=UserFactory())


def test_the_system_may_end_or_cancel_a_space(live_space, scheduled_space):
    services.room_end(room=live_space.room, actor=None)
    services.room_cancel(room=scheduled_space, actor=None)
    assert live_space.room.events.first().actor is None
    with refused("wrong_state"):
        services.room_end(room=live_space.room, actor=None)


# Joining, leaving, removal


def test_joining_twice_changes_nothing(live_space):
    person = UserFactory()
    first = services.participant_join(room=live_space.room, user=person)
    again = services.participant_join(room=live_space.room, user=person)
    assert first.pk == again.pk
    assert live_space.room.events.filter(verb="participant_joined").count() == 1


def test_leaving_gives_up_a_seat_on_stage(live_space):
    room, speaker = live_space.room, live_space.speaker
    services.participant_leave(room=room, user=speaker)
    row = Participant.objects.get(room=room, user=speaker)
    assert row.left_at and row.role == "listener"
    assert services.participant_join(room=room, user=speaker).role == "listener"


def test_removed_people_cannot_come_back(live_space):
    room = live_space.room
    services.participant_remove(room=room, user=live_space.speaker, actor=live_space.cohost)
    with refused("removed"):
        services.participant_join(room=room, user=live_space.speaker)
    # Removing again is a no-op.
    before = snapshot(room)
    services.participant_remove(room=room, user=live_space.speaker, actor=live_space.host)
    assert snapshot(room) == before


def test_people_not_in_the_space_cannot_be_acted_on(live_space):
    stranger = UserFactory()
    with refused("not_in_space"):
        services.speaker_promote(room=live_space.room, user=stranger, actor=live_space.host)
    with refused("not_in_space"):
        services.participant_remove(room=live_space.room, user=stranger, actor=live_space.host)


# Host hand-over


def test_when_the_host_leaves_the_longest_serving_co_host_takes_over(live_space):
    room, host = live_space.room, live_space.host
    Participant.objects.filter(room=room, user=live_space.cohost).update(
        role_since=timezone.now() - timedelta(minutes=30)
    )
    newer = ParticipantFactory(room=room, role="cohost").user
    services.participant_leave(room=room, user=host)
    room.refresh_from_db()
    assert room.host == live_space.cohost
    assert role_of(room, live_space.cohost) == "host"
    assert role_of(room, newer) == "cohost"
    event = room.events.first()
    assert (event.verb, event.actor, event.target) == ("host_changed", host, live_space.cohost)
    # The old host comes back as a listener; the new host runs the Space.
    assert services.participant_join(room=room, user=host).role == "listener"
    services.room_end(room=room, actor=live_space.cohost)


def test_without_co_hosts_the_space_stays_live_until_the_host_returns(live_space):
    room, host = live_space.room, live_space.host
    services.cohost_remove(room=room, user=live_space.cohost, actor=host)
    services.participant_leave(room=room, user=host)
    room.refresh_from_db()
    assert room.is_live and room.host == host
    assert not Participant.objects.present().filter(room=room, role="host").exists()
    assert room.events.first().data == {"role": "host", "hostless": True}
    # Nobody else gained host powers meanwhile.
    with refused("not_allowed"):
        services.room_end(room=room, actor=live_space.speaker)
    assert services.participant_join(room=room, user=host).role == "host"


def test_staff_removing_the_host_hands_the_space_to_a_co_host(live_space):
    staff = grant_moderation(UserFactory(is_staff=True))
    services.participant_remove(room=live_space.room, user=live_space.host, actor=staff)
    live_space.room.refresh_from_db()
    assert live_space.room.host == live_space.cohost
    with refused("removed"):
        services.participant_join(room=live_space.room, user=live_space.host)


# Seat limits


def test_a_third_co_host_is_refused(live_space):
    room, host = live_space.room, live_space.host
    services.cohost_promote(room=room, user=live_space.speaker, actor=host)
    before = snapshot(room)
    with refused("limit_reached") as info:
        services.cohost_promote(room=room, user=live_space.listener, actor=host)
    assert "2 co-host" in info.value.message
    assert snapshot(room) == before


def test_an_eleventh_speaker_is_refused_by_every_route(live_space):
    room, host = live_space.room, live_space.host
    for _ in range(9):
        ParticipantFactory(room=room, role="speaker")
    assert Participant.objects.on_stage().filter(room=room, role="speaker").count() == 10
    invite = InviteFactory(room=room, invitee=live_space.listener)
    before = snapshot(room)
    with refused("limit_reached"):
        services.speaker_promote(room=room, user=live_space.listener, actor=host)
    with refused("limit_reached"):
        services.hand_accept(room=room, user=live_space.hand, actor=host)
    with refused("limit_reached"):
        services.invite_accept(invite=invite, user=live_space.listener)
    with refused("limit_reached"):
        services.invite_create(room=room, invitee=live_space.hand, inviter=host)
    assert snapshot(room) == before
    # A seat frees up when a speaker leaves.
    services.participant_leave(room=room, user=live_space.speaker)
    assert services.hand_accept(room=room, user=live_space.hand, actor=host).role == "speaker"


@override_settings(SPACES_MAX_SPEAKERS=1)
def test_seat_limits_are_settings(live_space):
    with refused("limit_reached"):
        services.speaker_promote(
            room=live_space.room, user=live_space.listener, actor=live_space.host
        )


def test_a_removed_co_host_stays_on_stage_only_if_a_speaker_seat_is_free(live_space):
    room, host = live_space.room, live_space.host
    assert services.cohost_remove(room=room, user=live_space.cohost, actor=host).role == "speaker"
    services.cohost_promote(room=room, user=live_space.listener, actor=host)
    for _ in range(9):
        ParticipantFactory(room=room, role="speaker")
    assert (
        services.cohost_remove(room=room, user=live_space.listener, actor=host).role == "listener"
    )


# Hands


def test_raised_hand_accepted_brings_the_listener_on_stage_muted(live_space):
    room = live_space.room
    row = services.hand_accept(room=room, user=live_space.hand, actor=live_space.cohost)
    assert (row.role, row.is_muted, row.hand_raised_at) == ("speaker", True, None)


def test_hands_go_up_and_down(live_space):
    room, listener = live_space.room, live_space.listener
    assert services.hand_raise(room=room, user=listener).hand_raised_at
    assert services.hand_lower(room=room, user=listener).hand_raised_at is None
    services.hand_lower(room=room, user=listener)  # already down: nothing to log
    assert list(room.events.values_list("verb", flat=True)) == ["hand_lowered", "hand_raised"]


def test_accepting_a_lowered_hand_is_refused(live_space):
    with refused("wrong_state"):
        services.hand_accept(room=live_space.room, user=live_space.listener, actor=live_space.host)


def test_declining_a_hand_lowers_it(live_space):
    row = services.hand_decline(room=live_space.room, user=live_space.hand, actor=live_space.host)
    assert row.hand_raised_at is None and row.role == "listener"


# Muting


def test_hosts_mute_but_never_unmute_others(live_space):
    room = live_space.room
    services.speaker_mute(room=room, user=live_space.speaker, actor=live_space.host)
    with refused("not_allowed"):
        services.speaker_unmute(room=room, user=live_space.speaker, actor=live_space.host)
    staff = grant_moderation(UserFactory(is_staff=True))
    with refused("not_allowed"):
        services.speaker_unmute(room=room, user=live_space.speaker, actor=staff)
    assert services.speaker_unmute(room=room, user=live_space.speaker, actor=live_space.speaker)


def test_staff_may_mute_the_host_co_hosts_may_not(live_space):
    room = live_space.room
    services.speaker_unmute(room=room, user=live_space.host, actor=live_space.host)
    with refused("not_allowed"):
        services.speaker_mute(room=room, user=live_space.host, actor=live_space.cohost)
    staff = grant_moderation(UserFactory(is_staff=True))
    assert services.speaker_mute(room=room, user=live_space.host, actor=staff).is_muted


# Invites


def test_accepting_an_invite_to_speak(live_space):
    room = live_space.room
    invite = services.invite_create(
        room=room, invitee=live_space.listener, inviter=live_space.cohost
    )
    assert invite.expires_at - invite.created_at == timedelta(minutes=10)
    row = services.invite_accept(invite=invite, user=live_space.listener)
    assert row.role == "speaker"
    invite.refresh_from_db()
    assert invite.outcome == "accepted" and invite.responded_at


def test_an_invite_to_co_host_from_the_host(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.speaker, inviter=live_space.host, role="cohost"
    )
    assert services.invite_accept(invite=invite, user=live_space.speaker).role == "cohost"


def test_invites_are_single_use(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.host
    )
    services.invite_accept(invite=invite, user=live_space.listener)
    services.participant_move_to_audience(
        room=live_space.room, user=live_space.listener, actor=live_space.host
    )
    before = snapshot(live_space.room)
    with refused("invite_used"):
        services.invite_accept(invite=invite, user=live_space.listener)
    with refused("invite_used"):
        services.invite_decline(invite=invite, user=live_space.listener)
    assert snapshot(live_space.room) == before


def test_expired_invites_are_refused_and_change_nothing(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.host
    )
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = snapshot(live_space.room)
    with refused("invite_expired"):
        services.invite_accept(invite=invite, user=live_space.listener)
    assert snapshot(live_space.room) == before
    assert role_of(live_space.room, live_space.listener) == "listener"


@override_settings(SPACES_INVITE_TTL=5)
def test_invite_lifetime_is_a_setting(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.host
    )
    assert invite.expires_at - invite.created_at == timedelta(seconds=5)


def test_invites_are_bound_to_their_invitee_and_room(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.host
    )
    with refused("not_allowed"):
        services.invite_accept(invite=invite, user=live_space.hand)
    other_room = RoomFactory()
    ParticipantFactory(room=other_room, user=live_space.listener)
    services.invite_accept(invite=invite, user=live_space.listener)
    assert role_of(other_room, live_space.listener) == "listener"
    assert role_of(live_space.room, live_space.listener) == "speaker"


def test_declining_tells_the_inviter(live_space, django_capture_on_commit_callbacks, broadcasts):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.cohost
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_decline(invite=invite, user=live_space.listener)
    [(group, sent)] = broadcasts
    assert group == f"room.{live_space.room.pk}.user.{live_space.cohost.pk}"
    assert sent["type"] == "invite_declined" and sent["invite"] == invite.pk
    assert role_of(live_space.room, live_space.listener) == "listener"


def test_a_withdrawn_invite_cannot_be_accepted(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.cohost
    )
    with refused("not_allowed"):
        services.invite_revoke(invite=invite, actor=live_space.speaker)
    services.invite_revoke(invite=invite, actor=live_space.host)
    with refused("invite_revoked"):
        services.invite_accept(invite=invite, user=live_space.listener)


def test_an_invite_dies_with_its_senders_power(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.cohost
    )
    services.participant_move_to_audience(
        room=live_space.room, user=live_space.cohost, actor=live_space.host
    )
    with refused("invite_revoked"):
        services.invite_accept(invite=invite, user=live_space.listener)


def test_inviting_again_keeps_one_open_invite(live_space):
    room, host, listener = live_space.room, live_space.host, live_space.listener
    first = services.invite_create(room=room, invitee=listener, inviter=host)
    assert services.invite_create(room=room, invitee=listener, inviter=live_space.cohost) == first
    assert room.events.filter(verb="invite_sent").count() == 1
    # Offering a different role withdraws the first.
    services.invite_create(room=room, invitee=listener, inviter=host, role="cohost")
    first.refresh_from_db()
    assert first.outcome == "revoked"
    with refused("invalid"):
        services.invite_create(room=room, invitee=listener, inviter=host, role="host")


def test_an_invite_once_on_stage_is_refused(live_space):
    invite = services.invite_create(
        room=live_space.room, invitee=live_space.listener, inviter=live_space.host
    )
    services.speaker_promote(room=live_space.room, user=live_space.listener, actor=live_space.host)
    with refused("wrong_state"):
        services.invite_accept(invite=invite, user=live_space.listener)


# Reminders


def test_reminders_are_set_once_and_cleared(scheduled_space, user):
    services.reminder_set(room=scheduled_space, user=user)
    services.reminder_set(room=scheduled_space, user=user)
    assert Reminder.objects.filter(room=scheduled_space, user=user).count() == 1
    services.reminder_clear(room=scheduled_space, user=user)
    services.reminder_clear(room=scheduled_space, user=user)
    assert not Reminder.objects.exists()
    assert list(scheduled_space.events.values_list("verb", flat=True)) == [
        "reminder_cleared",
        "reminder_set",
    ]


def test_every_change_is_logged_with_who_what_whom(live_space):
    services.speaker_promote(
        room=live_space.room, user=live_space.listener, actor=live_space.cohost
    )
    event = RoomEvent.objects.get(room=live_space.room)
    assert (event.actor, event.verb, event.target) == (
        live_space.cohost,
        "speaker_promoted",
        live_space.listener,
    )
    assert event.data == {"role": "speaker", "previous_role": "listener"}
    assert event.created_at


def test_a_space_whose_start_is_near_can_still_be_renamed(scheduled_space):
    soon = timezone.now() + timedelta(seconds=1)
    Room.objects.filter(pk=scheduled_space.pk).update(scheduled_for=soon - timedelta(minutes=5))
    scheduled_space.refresh_from_db()
    room = services.room_update(
        room=scheduled_space,
        actor=scheduled_space.host,
        title="Starting any minute",
        description="",
        topics=[],
        scheduled_for=scheduled_space.scheduled_for,
        guests_may_listen=True,
    )
    assert room.title == "Starting any minute"
    with refused("invalid"):
        services.room_update(
            room=room,
            actor=room.host,
            title=room.title,
            description="",
            topics=[],
            scheduled_for=timezone.now() - timedelta(hours=1),
            guests_may_listen=True,
        )
