"""Scheduled Spaces on a real Celery worker (with beat) and the real Redis broker.

The worker is a separate process on the test database, with short periods from its environment
(the test process plans with the same ones). Mail is written to files the test reads. The
worker runs in its own process group so SIGKILL takes it down whole, as a crashed machine would.
"""

import contextlib
import email
import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Notification, OutboxEmail
from rooms import live, scheduling, services
from rooms.exceptions import ActionRefused
from rooms.models import Presence, Reminder, Room, RoomEvent, ScheduledJob
from tests.factories import UserFactory
from tests.servers import mail_messages, process_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CELERY = str(Path(settings.BASE_DIR) / ".venv" / "bin" / "celery")
# Seconds. The test process plans with these too (see `periods`).
PERIODS = {
    "SPACES_DUE_WORK_INTERVAL": 0.5,
    "SPACES_PRESENCE_SWEEP_INTERVAL": 0.5,
    "SPACES_HOST_REMINDER_BEFORE": 2,
    "SPACES_AUTO_CANCEL_AFTER": 3,
    "SPACES_AUTO_END_AFTER": 2,
    "SPACES_PRESENCE_STALE_SECONDS": 1,
    "SPACES_EMAIL_RETRY_AFTER": 2,
}


class Worker:
    """`celery worker --beat` as its own process group, on the test database and Redis."""

    def __init__(self, directory: Path, **extra: str) -> None:
        self.directory = directory
        self.mail_dir = directory / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.env = process_env(
            self.mail_dir,
            CELERY_TASK_ALWAYS_EAGER="0",
            **{**{name: str(value) for name, value in PERIODS.items()}, **extra},
        )
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Worker":
        self.starts += 1
        self.log = self.directory / f"worker-{self.starts}.log"
        self.process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "spaces_project",
                "worker",
                "--beat",
                "-s",
                str(self.directory / "beat-schedule"),
                "-l",
                "info",
                "--concurrency=1",
                "-n",
                f"test-{os.getpid()}-{self.starts}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: " ready." in self.log.read_text(), 30, self.describe)
        return self

    def kill(self) -> None:
        """SIGKILL the worker, its pool child and beat at once: nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def mails(self) -> list[email.message.Message]:
        return [email.message_from_string(m.strip()) for m in mail_messages(self.mail_dir)]

    def mails_to(self, person) -> list[email.message.Message]:
        return [m for m in self.mails() if m["To"] == person.email]

    def describe(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else "(no log)"


def wait_for(condition, timeout: float, describe=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s\n{describe()}")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def periods(settings):
    for name, value in PERIODS.items():
        setattr(settings, name, value)


@pytest.fixture(autouse=True)
def through_the_broker():
    """Tasks queued by this process go to Redis, to the worker, not run in place."""
    from spaces_project.celery import app

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory):
    running = Worker(tmp_path_factory.mktemp("worker")).start()
    yield running
    running.stop()


def in_seconds(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def reminded(room, count: int):
    people = UserFactory.create_batch(count)
    for person in people:
        services.reminder_set(room=room, user=person)
    return people


# These two come first: no shared worker may be running while they take the queue or the Space.


def test_work_on_a_busy_space_is_left_for_the_next_tick_not_waited_for():
    """SKIP LOCKED: while a request holds the Space, the worker moves on instead of blocking."""
    assert connection.features.has_select_for_update_skip_locked
    host = UserFactory()
    room = services.room_create(host=host, title="Busy", scheduled_for=in_seconds(3600))
    ScheduledJob.objects.filter(room=room).update(due_at=timezone.now())
    job = ScheduledJob.objects.get(room=room, kind=ScheduledJob.Kind.HOST_REMINDER)
    locked, release = threading.Event(), threading.Event()

    def hold_the_space():
        try:
            with transaction.atomic():
                Room.objects.select_for_update().get(pk=room.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_space)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        assert scheduling.job_step(job_id=job.pk) == scheduling.BUSY
        assert time.monotonic() - started < 1
    finally:
        release.set()
        holder.join()
    assert scheduling.job_step(job_id=job.pk) == "done"


def test_killing_the_worker_mid_batch_delivers_each_reminder_exactly_once(tmp_path):
    # Each reminder and each email takes 0.1 s and reminders go 5 to a transaction, so the
    # kills land inside the work: once while telling people, once while mailing them.
    # The host is not connected here; that must not end the Space (and its telling) meanwhile.
    crashing = Worker(
        tmp_path,
        SPACES_TEST_SEND_DELAY="0.1",
        SPACES_REMINDER_BATCH="5",
        SPACES_AUTO_END_AFTER="3600",
    )
    host = UserFactory()
    room = services.room_create(host=host, title="Big night", scheduled_for=in_seconds(3600))
    people = reminded(room, 20)
    told = Notification.objects.filter(user__in=people).count
    try:
        crashing.start()
        services.room_go_live(room=room, actor=host)

        wait_for(lambda: told() >= 5, 15, crashing.describe)
        crashing.kill()
        assert told() < 20, "the kill should land while people are being told"
        assert told() % 5 == 0  # a batch is told whole or not at all

        crashing.start()
        wait_for(lambda: told() == 20, 20, crashing.describe)
        mailed = len(crashing.mails())
        wait_for(lambda: len(crashing.mails()) >= mailed + 2, 15, crashing.describe)
        crashing.kill()
        assert len(crashing.mails()) < 20, "the kill should land while mail goes out"

        crashing.start()
        wait_for(lambda: len(crashing.mails()) >= 20, 30, crashing.describe)
        time.sleep(3)  # past SPACES_EMAIL_RETRY_AFTER: anything doubtful would be resent now
    finally:
        crashing.stop()

    for person in people:
        assert len(crashing.mails_to(person)) == 1, person.email
        assert Notification.objects.filter(user=person).count() == 1
    assert len(crashing.mails()) == 20
    assert not OutboxEmail.objects.filter(sent_at=None).exists()
    job = ScheduledJob.objects.get(room=room, kind=ScheduledJob.Kind.TELL_LIVE)
    assert job.outcome == "done"


# On one worker shared by the module.


def test_reminders_are_delivered_once_when_due(worker):
    host = UserFactory()
    room = services.room_create(host=host, title="Launch day", scheduled_for=in_seconds(3.5))
    people = reminded(room, 3)

    # The host's reminder, 2 s (SPACES_HOST_REMINDER_BEFORE) before the start.
    wait_for(lambda: worker.mails_to(host), 10, worker.describe)
    [to_host] = worker.mails_to(host)
    assert to_host["Subject"] == "Starting soon: Launch day"
    # the worker marks the row sent just after the mail server took it
    wait_for(
        lambda: OutboxEmail.objects.filter(to=host.email, sent_at__isnull=False).exists(),
        10,
        worker.describe,
    )
    sent = OutboxEmail.objects.get(to=host.email).sent_at
    assert sent >= room.scheduled_for - timedelta(seconds=2)

    services.room_go_live(room=room, actor=host)
    wait_for(lambda: all(worker.mails_to(p) for p in people), 10, worker.describe)
    time.sleep(1.5)  # three more ticks: nothing is sent again

    for person in people:
        [message] = worker.mails_to(person)
        assert message["Subject"] == "Live now: Launch day"
        assert f"/s/{room.slug}/" in message.get_payload()
        assert Notification.objects.filter(user=person).count() == 1
    assert len(worker.mails_to(host)) == 1
    assert not RoomEvent.objects.filter(room=room, verb="room_cancelled").exists()
    assert not Reminder.objects.filter(room=room, notified_at=None).exists()
    with contextlib.suppress(ActionRefused):  # leave nothing due behind (unless auto-ended)
        services.room_end(room=room, actor=host)


def test_rescheduling_moves_the_host_reminder_and_the_auto_cancel(worker):
    host = UserFactory()
    room = services.room_create(host=host, title="Moved talk", scheduled_for=in_seconds(4))
    people = reminded(room, 2)
    new_start = in_seconds(7)
    services.room_update(
        room=room,
        actor=host,
        title=room.title,
        description="",
        topics=[],
        scheduled_for=new_start,
        guests_may_listen=True,
    )

    # Nothing at the old reminder time (start - 2 s).
    time.sleep(max(0.0, (room.scheduled_for - timezone.now()).total_seconds()))
    assert not worker.mails_to(host)
    wait_for(lambda: worker.mails_to(host), 10, worker.describe)
    wait_for(
        lambda: OutboxEmail.objects.filter(to=host.email, sent_at__isnull=False).exists(),
        10,
        worker.describe,
    )
    assert OutboxEmail.objects.get(to=host.email).sent_at >= new_start - timedelta(seconds=2)

    # Not started 3 s (SPACES_AUTO_CANCEL_AFTER) after the new start: cancelled, by nobody.
    wait_for(lambda: Room.objects.get(pk=room.pk).state == "cancelled", 15, worker.describe)
    cancelled = Room.objects.get(pk=room.pk)
    assert new_start + timedelta(seconds=3) <= cancelled.ended_at
    assert cancelled.ended_at <= new_start + timedelta(seconds=6)
    assert RoomEvent.objects.get(room=room, verb="room_cancelled").actor is None

    wait_for(lambda: all(worker.mails_to(p) for p in people), 10, worker.describe)
    time.sleep(1.5)
    for person in people:
        assert [m["Subject"] for m in worker.mails_to(person)] == ["Cancelled: Moved talk"]
        assert Notification.objects.filter(user=person).count() == 1
    assert sorted(m["Subject"] for m in worker.mails_to(host)) == [
        "Cancelled: Moved talk",
        "Starting soon: Moved talk",
    ]


def test_a_cancelled_space_tells_its_subscribers_once(worker):
    host = UserFactory()
    room = services.room_create(host=host, title="Called off", scheduled_for=in_seconds(3600))
    people = reminded(room, 3)
    services.room_cancel(room=room, actor=host)
    with pytest.raises(ActionRefused):
        services.room_cancel(room=room, actor=host)

    wait_for(lambda: all(worker.mails_to(p) for p in people), 10, worker.describe)
    time.sleep(1.5)
    for person in people:
        assert [m["Subject"] for m in worker.mails_to(person)] == ["Cancelled: Called off"]
        assert Notification.objects.filter(user=person).count() == 1
    assert not worker.mails_to(host)


def test_a_live_space_whose_host_vanished_is_swept_and_ended(worker):
    host = UserFactory()
    room = services.room_create(host=host, title="Late show")
    Presence.objects.create(room=room, user=host, channel_name="host-socket")

    # Heartbeats for longer than sweep + auto-end take (3 s): the Space stays live.
    viewer = live.Viewer(room_id=room.pk, channel_name="host-socket", user_id=host.pk)
    for _ in range(15):
        live.viewer_touch(viewer=viewer)
        time.sleep(0.3)
    assert Room.objects.get(pk=room.pk).state == "live"
    last_heartbeat = Presence.objects.get(channel_name="host-socket").last_seen

    # The host's process died: no heartbeat, no disconnect. Swept after 1 s, ended 2 s later.
    wait_for(lambda: not Presence.objects.filter(room=room).exists(), 10, worker.describe)
    wait_for(lambda: Room.objects.get(pk=room.pk).state == "ended", 10, worker.describe)
    ended = Room.objects.get(pk=room.pk).ended_at
    assert last_heartbeat + timedelta(seconds=3) <= ended <= last_heartbeat + timedelta(seconds=7)
    assert RoomEvent.objects.get(room=room, verb="room_ended").actor is None
    assert Notification.objects.get(user=host).key == f"auto-ended:{room.pk}"
