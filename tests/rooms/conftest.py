from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from rooms import events
from rooms.models import Invite, Participant, Reminder, Room, RoomEvent
from tests.factories import ParticipantFactory, RoomFactory, ScheduledRoomFactory, UserFactory


def grant_moderation(user):
    user.user_permissions.add(Permission.objects.get(codename="moderate_room"))
    # Fresh object: Django caches permissions on the instance.
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def staff_moderator(db):
    """Staff with the permission to act as host in any Space, and to use the admin."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="rooms",
            codename__in=["moderate_room", "view_room", "view_participant", "view_roomevent"],
        )
    )
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def staff_plain(db):
    """Staff without the Spaces permission: in a Space they are like anyone else."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="rooms", codename__in=["view_room", "view_participant"]
        )
    )
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def live_space(db):
    """A live Space with a host, a co-host, an unmuted speaker, a listener with a raised hand
    and a quiet listener."""
    room = RoomFactory(title="Engines at dawn")
    now = timezone.now()
    return SimpleNamespace(
        room=room,
        host=room.host,
        cohost=ParticipantFactory(room=room, role="cohost").user,
        speaker=ParticipantFactory(room=room, role="speaker", is_muted=False).user,
        hand=ParticipantFactory(room=room, hand_raised_at=now).user,
        listener=ParticipantFactory(room=room).user,
    )


@pytest.fixture
def scheduled_space(db):
    return ScheduledRoomFactory(title="Tomorrow's talk")


@pytest.fixture
def broadcasts(monkeypatch):
    """What reached the channel layer: (group, event) pairs, once transactions commit. Use with
    `django_capture_on_commit_callbacks(execute=True)` around the action under test."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        events, "group_send", lambda group, message: sent.append((group, message["event"]))
    )
    return sent


def snapshot(room: Room):
    """Everything an action could change in a Space, to prove a refused one changed nothing."""
    room = Room.objects.get(pk=room.pk)
    return (
        (room.state, room.host_id, room.title, room.started_at, room.ended_at, room.scheduled_for),
        sorted(
            Participant.objects.filter(room=room).values_list(
                "user_id", "role", "is_muted", "hand_raised_at", "left_at", "removed_at"
            )
        ),
        sorted(Invite.objects.filter(room=room).values_list("id", "role", "outcome")),
        sorted(Reminder.objects.filter(room=room).values_list("user_id", flat=True)),
        RoomEvent.objects.filter(room=room).count(),
    )
