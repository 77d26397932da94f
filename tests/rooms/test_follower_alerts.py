"""Followers are told when a host goes live or schedules a public Space: a bell notification,
an email if they chose one (every time or a daily digest), once per Space, in small
transactions however many followers there are. Celery runs eagerly here."""

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import Follow, Notification, OutboxEmail, Profile, User
from accounts.services import follow_create
from rooms import follows, scheduling, services
from rooms.models import FollowerAlert, ScheduledJob
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def follower(host, email="never", **kwargs):
    person = UserFactory(**kwargs)
    Profile.objects.filter(user=person).update(follow_email=email)
    follow_create(follower=person, followee=host)
    return person


def go_live_now(host, **fields):
    return services.room_create(host=host, title="Night shift stories", **fields)


def test_followers_hear_the_host_went_live_by_bell_and_by_email_if_they_asked(commits):
    host = UserFactory(profile="Hana Host")
    every, never = follower(host, "every"), follower(host, "never")
    bystander = UserFactory()
    room = commits(go_live_now, host)
    for person in (every, never):
        bell = Notification.objects.get(user=person)
        assert "Hana Host" in bell.text and "Night shift stories" in bell.text
        assert bell.url == f"/rooms/{room.slug}/"
    assert not Notification.objects.filter(user=bystander).exists()
    [email] = [m for m in mail.outbox if m.to == [every.email]]
    assert "Hana Host" in email.subject and f"/s/{room.slug}/" in email.body
    assert not [m for m in mail.outbox if m.to == [never.email]]


def test_a_follower_is_told_once_per_space_even_when_it_is_scheduled_then_goes_live(commits):
    host = UserFactory()
    fan = follower(host, "every")
    start = timezone.now() + timedelta(hours=2)
    room = commits(services.room_create, host=host, title="Later", scheduled_for=start)
    assert "scheduled" in Notification.objects.get(user=fan).text
    commits(services.room_go_live, room=room, actor=host)
    follows.followers_plan(room=room)
    scheduling.due_work_run()
    assert Notification.objects.filter(user=fan).count() == 1
    assert FollowerAlert.objects.filter(user=fan).count() == 1
    assert len([m for m in mail.outbox if m.to == [fan.email]]) == 1


def test_unlisted_and_private_spaces_are_not_announced(commits):
    host = UserFactory()
    fan = follower(host)
    commits(go_live_now, host, visibility="unlisted")
    commits(go_live_now, host, visibility="private")
    assert not Notification.objects.filter(user=fan).exists()


def many_followers(host, count):
    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(username=f"fan{n}", email=f"fan{n}@example.org", password=password)
            for n in range(count)
        ]
    )
    Follow.objects.bulk_create([Follow(follower=u, followee=host) for u in users])
    return users


@override_settings(SPACES_FOLLOWER_BATCH=100)
def test_thousands_of_followers_are_told_in_small_transactions_exactly_once_across_a_crash(
    monkeypatch,
):
    host = UserFactory()
    fans = many_followers(host, 2000)
    room = go_live_now(host)  # no commit callbacks: the job waits for the worker
    job = ScheduledJob.objects.get(room=room, kind=ScheduledJob.Kind.TELL_FOLLOWERS)

    # Each step is one committed batch: 100 people told, the rest still waiting.
    assert scheduling.job_step(job_id=job.pk) == scheduling.MORE
    assert Notification.objects.filter(key=f"follow:{room.pk}").count() == 100

    # A worker dies in the middle of a batch: that batch is rolled back, nothing half-told.
    real = follows.emails_enqueue
    calls = {"n": 0}

    def crash_on_third(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("worker lost")
        return real(**kwargs)

    monkeypatch.setattr(follows, "emails_enqueue", crash_on_third)
    results = [scheduling.job_step(job_id=job.pk) for _ in range(3)]
    assert results == [scheduling.MORE, scheduling.MORE, scheduling.RETRY]
    assert Notification.objects.filter(key=f"follow:{room.pk}").count() == 300
    monkeypatch.setattr(follows, "emails_enqueue", real)

    # Restarted later, the job finishes; everyone is told exactly once.
    later = timezone.now() + timedelta(hours=1)
    assert scheduling.due_job_run(job_id=job.pk, now=later) == ScheduledJob.Outcome.DONE
    told = Notification.objects.filter(key=f"follow:{room.pk}")
    assert told.count() == 2000
    assert set(told.values_list("user_id", flat=True)) == {u.pk for u in fans}
    assert FollowerAlert.objects.filter(room=room).count() == 2000
    # Run again: nobody is told twice.
    follows.followers_plan(room=room)
    scheduling.due_work_run(now=later)
    assert told.count() == 2000


def test_daily_digest_followers_get_one_email_listing_the_spaces(commits):
    host, other_host = UserFactory(profile="Dana"), UserFactory(profile="Omar")
    fan = follower(host, "daily")
    follow_create(follower=fan, followee=other_host)
    first = commits(go_live_now, host)
    second = commits(services.room_create, host=other_host, title="Omar's hour")
    assert not [m for m in mail.outbox if m.to == [fan.email]]  # not right away
    assert Notification.objects.filter(user=fan).count() == 2
    assert commits(follows.digest_send) == 1
    [digest] = [m for m in mail.outbox if m.to == [fan.email]]
    assert first.title in digest.body and second.title in digest.body
    assert f"/s/{second.slug}/" in digest.body
    assert commits(follows.digest_send) == 0
    assert OutboxEmail.objects.filter(user=fan).count() == 1
