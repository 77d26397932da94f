"""Scheduled Spaces: reminders, auto-cancel and auto-end, with the clock passed in (`now=`).

Celery runs eagerly here; tests/rooms/test_scheduling_worker.py proves the same on a real worker.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, OutboxEmail
from rooms import scheduling, services, tasks
from rooms.models import Presence, Reminder, Room, RoomEvent, ScheduledJob
from tests.factories import ParticipantFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

Kind = ScheduledJob.Kind


def pending(room, kind):
    return ScheduledJob.objects.pending().filter(room=room, kind=kind).first()


def schedule(host, minutes=60, **fields):
    start = timezone.now() + timedelta(minutes=minutes)
    return services.room_create(host=host, title="Tomorrow's talk", scheduled_for=start, **fields)


def subscribe(room, count):
    people = UserFactory.create_batch(count)
    for person in people:
        services.reminder_set(room=room, user=person)
    return people


def mails_to(person):
    return [m for m in mail.outbox if m.to == [person.email]]


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run what services queue after commit (eager Celery tasks), as production would."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


# Planning


def test_scheduling_a_space_plans_the_host_reminder_and_the_auto_cancel(user):
    room = schedule(user)
    assert pending(room, Kind.HOST_REMINDER).due_at == room.scheduled_for - timedelta(minutes=10)
    assert pending(room, Kind.AUTO_CANCEL).due_at == room.scheduled_for + timedelta(minutes=30)


def test_a_space_started_now_plans_nothing(user):
    room = services.room_create(host=user, title="Now")
    assert not ScheduledJob.objects.filter(room=room).exists()


def test_rescheduling_moves_the_pending_work_to_the_new_time(user):
    room = schedule(user)
    later = room.scheduled_for + timedelta(hours=2)
    services.room_update(
        room=room,
        actor=user,
        title=room.title,
        description="",
        topics=[],
        scheduled_for=later,
        guests_may_listen=True,
    )
    assert pending(room, Kind.HOST_REMINDER).due_at == later - timedelta(minutes=10)
    assert pending(room, Kind.AUTO_CANCEL).due_at == later + timedelta(minutes=30)
    assert ScheduledJob.objects.filter(room=room).count() == 2  # moved, not added


def test_moving_the_start_within_ten_minutes_drops_the_host_reminder(user):
    room = schedule(user)
    soon = timezone.now() + timedelta(minutes=5)
    services.room_update(
        room=room,
        actor=user,
        title=room.title,
        description="",
        topics=[],
        scheduled_for=soon,
        guests_may_listen=True,
    )
    assert pending(room, Kind.HOST_REMINDER) is None
    assert pending(room, Kind.AUTO_CANCEL).due_at == soon + timedelta(minutes=30)


@override_settings(
    SPACES_HOST_REMINDER_BEFORE=60, SPACES_AUTO_CANCEL_AFTER=120, SPACES_AUTO_END_AFTER=30
)
def test_the_periods_are_settings(user):
    room = schedule(user)
    assert pending(room, Kind.HOST_REMINDER).due_at == room.scheduled_for - timedelta(minutes=1)
    assert pending(room, Kind.AUTO_CANCEL).due_at == room.scheduled_for + timedelta(minutes=2)
    live = RoomFactory()
    now = timezone.now()
    scheduling.hostless_watch(now=now)
    assert pending(live, Kind.END_IF_HOSTLESS).due_at == now + timedelta(seconds=30)


# The host's reminder


def test_the_host_is_reminded_once_ten_minutes_before(user):
    room = schedule(user)
    assert scheduling.due_work_run(now=room.scheduled_for - timedelta(minutes=11)) == 0
    assert not Notification.objects.exists()

    scheduling.due_work_run(now=room.scheduled_for - timedelta(minutes=10))
    scheduling.due_work_run(now=room.scheduled_for - timedelta(minutes=5))

    note = Notification.objects.get(user=user)
    assert note.text == "Your Space “Tomorrow's talk” starts in 10 minutes."
    assert note.url == reverse("room_detail", args=[room.slug])
    outbox = OutboxEmail.objects.get(user=user)
    assert outbox.subject == "Starting soon: Tomorrow's talk"
    assert f"/rooms/{room.slug}/" in outbox.body
    assert pending(room, Kind.HOST_REMINDER) is None


def test_a_host_reminder_that_ran_late_says_so(user):
    room = schedule(user)
    scheduling.due_work_run(now=room.scheduled_for + timedelta(minutes=3))
    assert Notification.objects.get(user=user).text == (
        "Your Space “Tomorrow's talk” was due to start 3 minutes ago."
    )


def test_a_host_reminder_already_sent_is_sent_again_for_a_later_start(user):
    room = schedule(user, minutes=15)
    scheduling.due_work_run(now=room.scheduled_for - timedelta(minutes=10))
    later = room.scheduled_for + timedelta(hours=1)
    services.room_update(
        room=room,
        actor=user,
        title=room.title,
        description="",
        topics=[],
        scheduled_for=later,
        guests_may_listen=True,
    )
    scheduling.due_work_run(now=later - timedelta(minutes=10))
    assert Notification.objects.filter(user=user).count() == 2


# Telling the people who pressed "remind me"


def test_going_live_tells_everyone_who_asked_once_with_the_public_link(user, commits):
    room = schedule(user)
    people = subscribe(room, 3)
    services.reminder_clear(room=room, user=people[2])

    commits(services.room_go_live, room=room, actor=user)

    link = f"http://example.com/s/{room.slug}/"
    for person in people[:2]:
        [email] = mails_to(person)
        assert email.subject == "Live now: Tomorrow's talk"
        assert link in email.body
        assert email.extra_headers["Message-ID"].startswith("<spaces.outbox.")
        note = Notification.objects.get(user=person)
        assert (note.text, note.url) == ("“Tomorrow's talk” is live now.", f"/s/{room.slug}/")
    assert not mails_to(people[2]) and not Notification.objects.filter(user=people[2]).exists()
    assert not Reminder.objects.filter(room=room, notified_at=None).exists()
    assert OutboxEmail.objects.filter(sent_at=None).count() == 0

    # Nothing runs twice: the periodic worker and a repeated task find nothing to do.
    scheduling.due_work_run(now=timezone.now() + timedelta(hours=2))
    job = ScheduledJob.objects.get(room=room, kind=Kind.TELL_LIVE)
    tasks.due_job_run(job.pk)
    assert len(mail.outbox) == 2 and Notification.objects.count() == 2
    outcomes = dict(ScheduledJob.objects.filter(room=room).values_list("kind", "outcome"))
    assert outcomes == {
        Kind.HOST_REMINDER: "obsolete",
        Kind.AUTO_CANCEL: "obsolete",
        Kind.TELL_LIVE: "done",
    }


@override_settings(SPACES_REMINDER_BATCH=2)
def test_many_reminders_go_out_in_batches_each_person_once(user, commits):
    room = schedule(user)
    people = subscribe(room, 5)
    commits(services.room_go_live, room=room, actor=user)
    assert sorted(len(mails_to(p)) for p in people) == [1] * 5
    assert Notification.objects.filter(user__in=people).count() == 5


def test_cancelling_tells_the_subscribers_once(user, commits):
    room = schedule(user)
    people = subscribe(room, 2)
    commits(services.room_cancel, room=room, actor=user)
    for person in people:
        [email] = mails_to(person)
        assert email.subject == "Cancelled: Tomorrow's talk"
        assert Notification.objects.get(user=person).text == "“Tomorrow's talk” was cancelled."
    scheduling.due_work_run(now=timezone.now() + timedelta(days=2))
    assert len(mail.outbox) == 2
    # The host is never reminded of a cancelled Space, and it is not cancelled again.
    assert not Notification.objects.filter(user=user).exists()
    assert RoomEvent.objects.filter(room=room, verb="room_cancelled").count() == 1


def test_a_failing_batch_is_rolled_back_and_retried_later(
    user, commits, monkeypatch, django_capture_on_commit_callbacks
):
    room = schedule(user)
    people = subscribe(room, 2)

    def broken(**kwargs):
        raise ConnectionError("database hiccup")

    monkeypatch.setattr(scheduling, "emails_enqueue", broken)
    commits(services.room_go_live, room=room, actor=user)
    job = ScheduledJob.objects.get(room=room, kind=Kind.TELL_LIVE)
    assert job.done_at is None and job.attempts == 1 and "hiccup" in job.last_error
    assert not Notification.objects.exists()  # the notifications went with the rollback
    assert not Reminder.objects.filter(room=room).exclude(notified_at=None).exists()

    monkeypatch.undo()
    scheduling.due_work_run(now=timezone.now())  # not yet: it waits before the next try
    assert not Notification.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.due_work_run(now=job.due_at + timedelta(seconds=1))
    assert sorted(len(mails_to(p)) for p in people) == [1, 1]
    assert Notification.objects.count() == 2


@override_settings(SPACES_JOB_MAX_ATTEMPTS=2)
def test_a_job_that_keeps_failing_stops_and_keeps_its_error(user, monkeypatch):
    room = schedule(user, minutes=30)
    monkeypatch.setattr(scheduling, "notification_create", lambda **kw: 1 / 0)
    due = room.scheduled_for - timedelta(minutes=10)
    scheduling.due_work_run(now=due)
    scheduling.due_work_run(now=due + timedelta(minutes=5))  # the retry, before the cancel
    job = ScheduledJob.objects.get(room=room, kind=Kind.HOST_REMINDER)
    assert (job.outcome, job.attempts) == ("failed", 2)
    assert "ZeroDivisionError" in job.last_error


# Auto-cancel


def test_a_space_not_started_thirty_minutes_after_its_time_is_cancelled(user, commits):
    room = schedule(user)
    people = subscribe(room, 2)
    scheduling.due_work_run(now=room.scheduled_for + timedelta(minutes=29))
    assert Room.objects.get(pk=room.pk).state == "scheduled"

    commits(scheduling.due_work_run, now=room.scheduled_for + timedelta(minutes=30))

    room.refresh_from_db()
    assert room.state == "cancelled"
    event = RoomEvent.objects.get(room=room, verb="room_cancelled")
    assert event.actor is None  # the system did it
    for person in people:
        assert [m.subject for m in mails_to(person)] == ["Cancelled: Tomorrow's talk"]
    host_note = Notification.objects.get(user=user, key__startswith="auto-cancelled")
    assert "did not start within 30 minutes" in host_note.text
    assert [m.subject for m in mails_to(user)] == ["Cancelled: Tomorrow's talk"]


def test_after_a_long_worker_outage_the_host_hears_of_the_cancel_only(user, commits):
    room = schedule(user)
    # The workers were down from before the reminder until past the auto-cancel.
    commits(scheduling.due_work_run, now=room.scheduled_for + timedelta(minutes=45))
    assert Room.objects.get(pk=room.pk).state == "cancelled"
    assert [m.subject for m in mails_to(user)] == ["Cancelled: Tomorrow's talk"]
    notes = Notification.objects.filter(user=user).values_list("text", flat=True)
    assert [text.split(":")[0] for text in notes] == ["Your Space “Tomorrow's talk” was cancelled"]


def test_a_space_that_went_live_is_never_auto_cancelled(user, commits):
    room = schedule(user)
    commits(services.room_go_live, room=room, actor=user)
    scheduling.due_work_run(now=room.scheduled_for + timedelta(hours=1))
    assert Room.objects.get(pk=room.pk).state == "live"


# Auto-end


def connect(room, person):
    return Presence.objects.create(room=room, user=person, channel_name=f"c.{person.pk}.{room.pk}")


def test_a_live_space_without_host_or_co_host_for_five_minutes_ends(user):
    room = RoomFactory(host=user)
    listener = ParticipantFactory(room=room).user
    connect(room, listener)  # listeners alone do not keep a Space going
    start = timezone.now()
    scheduling.hostless_watch(now=start)
    scheduling.hostless_watch(now=start + timedelta(minutes=1))  # the clock is not restarted
    scheduling.due_work_run(now=start + timedelta(minutes=4, seconds=59))
    assert Room.objects.get(pk=room.pk).state == "live"

    scheduling.due_work_run(now=start + timedelta(minutes=5))

    room.refresh_from_db()
    assert room.state == "ended"
    assert RoomEvent.objects.get(room=room, verb="room_ended").actor is None
    note = Notification.objects.get(user=user)
    assert "no host or co-host was connected for 5 minutes" in note.text


def test_the_clock_stops_when_the_host_or_a_co_host_comes_back(user):
    room = RoomFactory(host=user)
    cohost = ParticipantFactory(room=room, role="cohost").user
    start = timezone.now()
    scheduling.hostless_watch(now=start)
    connect(room, cohost)
    scheduling.hostless_watch(now=start + timedelta(minutes=2))
    scheduling.due_work_run(now=start + timedelta(minutes=10))
    assert Room.objects.get(pk=room.pk).state == "live"
    assert ScheduledJob.objects.get(room=room).outcome == "obsolete"

    # They go again: a fresh five minutes from then.
    Presence.objects.filter(room=room).delete()
    scheduling.hostless_watch(now=start + timedelta(minutes=10))
    scheduling.due_work_run(now=start + timedelta(minutes=14))
    assert Room.objects.get(pk=room.pk).state == "live"
    scheduling.due_work_run(now=start + timedelta(minutes=15))
    assert Room.objects.get(pk=room.pk).state == "ended"


def test_a_host_who_came_back_between_ticks_keeps_the_space(user):
    room = RoomFactory(host=user)
    start = timezone.now()
    scheduling.hostless_watch(now=start)
    connect(room, user)  # back before the watch looked again; the clock checks when it runs
    scheduling.due_work_run(now=start + timedelta(minutes=6))
    assert Room.objects.get(pk=room.pk).state == "live"


def test_a_host_who_left_the_space_does_not_keep_it_going(user):
    room = RoomFactory(host=user)
    connect(room, user)
    services.participant_leave(room=room, user=user)  # left, socket still open
    start = timezone.now()
    scheduling.hostless_watch(now=start)
    scheduling.due_work_run(now=start + timedelta(minutes=5))
    assert Room.objects.get(pk=room.pk).state == "ended"


def test_ending_a_space_drops_its_clock(user):
    room = RoomFactory(host=user)
    scheduling.hostless_watch(now=timezone.now())
    services.room_end(room=room, actor=user)
    assert ScheduledJob.objects.get(room=room).outcome == "obsolete"


# Periodic tasks


def test_stale_sockets_are_swept_by_the_periodic_task(user):
    room = RoomFactory(host=user)
    fresh, stale = connect(room, user), connect(room, UserFactory())
    Presence.objects.filter(pk=stale.pk).update(last_seen=timezone.now() - timedelta(hours=1))
    assert tasks.presence_sweep() == 1
    assert list(Presence.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_the_beat_schedule_runs_the_claimer_and_the_sweeps():
    from django.conf import settings

    from spaces_project.celery import app

    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "rooms.tasks.due_work_run",
        "rooms.tasks.hostless_watch",
        "rooms.tasks.presence_sweep",
        "accounts.tasks.email_retry",
    } <= tasks_scheduled
    app.loader.import_default_modules()
    assert tasks_scheduled <= set(app.tasks)
