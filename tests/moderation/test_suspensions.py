"""Suspensions: what a suspended person can no longer do, that they are told why, and that it
ends on time by itself."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from moderation import selectors, services, tasks
from moderation.exceptions import ModerationRefused
from moderation.models import ModerationAction, Suspension
from rooms import events
from rooms import posts as room_posts
from rooms import services as room_services
from rooms.exceptions import ActionRefused, Code
from rooms.models import Participant, Room
from tests.factories import (
    ParticipantFactory,
    RoomFactory,
    ScheduledRoomFactory,
    SuspensionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"  # UserFactory's


def sign_in(client, user):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})


@pytest.fixture
def sent(monkeypatch):
    """What reached the channel layer, once transactions commit: (group, message)."""
    messages: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        events, "group_send", lambda group, message: messages.append((group, message))
    )
    return messages


def suspend(person, moderator, days=3, reason="spam", **kwargs):
    return services.suspension_create(
        user=person,
        until=timezone.now() + timedelta(days=days),
        reason=reason,
        actor=moderator,
        **kwargs,
    )


def test_the_explanation_names_the_end_and_the_reason(user):
    until = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert selectors.explain(until, "spam") == (
        "Your account is suspended until 3 Dec 2026 14:00 UTC: spam."
    )


def test_suspending_signs_the_person_out_everywhere(client, moderator, user):
    client.force_login(user)
    other_browser = type(client)()
    other_browser.force_login(user)
    someone_else = type(client)()
    someone_else.force_login(UserFactory())
    assert Session.objects.count() == 3

    suspend(user, moderator)

    assert Session.objects.count() == 1
    response = client.get(reverse("profile_edit"))
    assert response.status_code == 302 and reverse("account_login") in response.url


def test_a_suspended_person_cannot_sign_in_and_is_told_why_and_until_when(client, moderator, user):
    suspension = suspend(user, moderator, reason="Repeated spam in Spaces")
    response = sign_in(client, user)
    assert response.status_code == 403
    body = response.content.decode()
    assert "Your account is suspended until" in body
    assert selectors.format_moment(suspension.until) in body
    assert "Repeated spam in Spaces" in body
    assert "_auth_user_id" not in client.session


def test_the_suspension_ends_on_time_even_if_no_job_ran(client, moderator, user, monkeypatch):
    suspend(user, moderator, days=1)
    assert sign_in(client, user).status_code == 403

    later = timezone.now() + timedelta(days=1, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert selectors.suspension_of(user) is None
    response = sign_in(client, user)
    assert response.status_code == 302 and response.url == reverse("home")
    assert Suspension.objects.get().ended_at is None  # the job records it later


def test_the_expiry_job_records_the_end_once(moderator, user):
    suspension = suspend(user, moderator)
    Suspension.objects.filter(pk=suspension.pk).update(until=timezone.now() - timedelta(seconds=1))
    still_running = SuspensionFactory()

    assert tasks.expire_suspensions() == 1
    assert tasks.expire_suspensions() == 0
    suspension.refresh_from_db()
    assert suspension.ended_at == suspension.until
    ended = ModerationAction.objects.filter(kind="expire")
    assert [(e.actor, e.target_user) for e in ended] == [(None, user)]
    still_running.refresh_from_db()
    assert still_running.ended_at is None


def test_lifting_lets_them_sign_in_at_once(client, moderator, user):
    suspension = suspend(user, moderator)
    services.suspension_lift(suspension=suspension, actor=moderator)
    services.suspension_lift(suspension=suspension, actor=moderator)  # no-op
    assert sign_in(client, user).status_code == 302
    assert list(ModerationAction.objects.values_list("kind", flat=True)) == ["lift", "suspend"]


def test_a_suspended_person_leaves_live_spaces_and_their_sockets_close(
    moderator, user, sent, django_capture_on_commit_callbacks
):
    hosted = RoomFactory(host=user)
    cohost = ParticipantFactory(room=hosted, role="cohost").user
    listening = ParticipantFactory(user=user).room
    with django_capture_on_commit_callbacks(execute=True):
        suspension = suspend(user, moderator, reason="spam")

    # Their own Space passes to the co-host; they are out of the other one.
    hosted.refresh_from_db()
    assert hosted.host == cohost and hosted.state == "live"
    assert not Participant.objects.present().filter(user=user).exists()
    assert Participant.objects.filter(room=listening, user=user).get().left_at is not None
    closes = [m for group, m in sent if group == events.person_group(user.pk)]
    assert closes == [
        {
            "type": "person.close",
            "room_id": None,
            "code": "suspended",
            "message": selectors.explain(suspension.until, "spam"),
        }
    ]


def test_nothing_is_broadcast_when_the_suspension_is_refused(
    moderator, user, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ModerationRefused):
        suspend(user, moderator, reason="  ")
    assert sent == [] and not Suspension.objects.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"reason": ""}, "Give a reason; the person will see it."),
        ({"days": -1}, "A suspension must end in the future."),
    ],
)
def test_a_suspension_needs_a_reason_and_an_end_in_the_future(moderator, user, change, message):
    with pytest.raises(ModerationRefused) as refused:
        suspend(user, moderator, **change)
    assert refused.value.message == message


def test_staff_cannot_suspend_themselves(moderator):
    with pytest.raises(ModerationRefused):
        suspend(moderator, moderator)


def test_suspending_again_changes_the_end_and_same_values_change_nothing(moderator, user):
    first = suspend(user, moderator, days=1)
    same = services.suspension_create(user=user, until=first.until, reason="spam", actor=moderator)
    assert same.pk == first.pk and ModerationAction.objects.count() == 1
    longer = suspend(user, moderator, days=30, reason="more spam")
    assert longer.pk == first.pk and Suspension.objects.count() == 1
    assert selectors.suspension_of(user).reason == "more spam"
    entry = ModerationAction.objects.first()
    assert entry.data["previous"]["reason"] == "spam"


# What a suspended person cannot do in Spaces (checked by the room services).


@pytest.fixture
def suspended(moderator):
    person = UserFactory()
    suspend(person, moderator, reason="spam")
    return person


def test_a_suspended_person_cannot_host(suspended):
    with pytest.raises(ActionRefused) as refused:
        room_services.room_create(host=suspended, title="Back again")
    assert refused.value.code == Code.NOT_ALLOWED
    assert refused.value.message.startswith("Your account is suspended until")
    room = ScheduledRoomFactory(host=suspended)
    with pytest.raises(ActionRefused):
        room_services.room_go_live(room=room, actor=suspended)
    assert Room.objects.get(pk=room.pk).state == "scheduled"


def test_a_suspended_person_cannot_speak_or_post(suspended):
    room = RoomFactory()
    # Rows as they might be left by a socket that was already open.
    ParticipantFactory(room=room, user=suspended)
    with pytest.raises(ActionRefused):
        room_services.hand_raise(room=room, user=suspended)
    with pytest.raises(ActionRefused) as refused:
        room_services.invite_create(room=room, invitee=suspended, inviter=room.host)
    assert "account is suspended until" in refused.value.message
    with pytest.raises(ActionRefused):
        room_services.speaker_promote(room=room, user=suspended, actor=room.host)
    with pytest.raises(ActionRefused):
        room_posts.post_create(room=room, author=suspended, text="hello")


def test_once_it_ends_they_may_speak_again(suspended):
    Suspension.objects.update(until=timezone.now() - timedelta(minutes=1))
    room = RoomFactory()
    ParticipantFactory(room=room, user=suspended)
    assert room_services.hand_raise(room=room, user=suspended).hand_raised_at is not None
