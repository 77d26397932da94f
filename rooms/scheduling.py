"""Scheduled Spaces and the work that falls due: reminders, auto-cancel and auto-end.

Due work is a `ScheduledJob` row. The room services plan it inside their own transactions
(each calls one function here, after locking the Space):
    room_plan          a scheduled Space: remind the host SPACES_HOST_REMINDER_BEFORE ahead,
                       cancel it SPACES_AUTO_CANCEL_AFTER past its time (a reschedule moves both)
    room_went_live     drop both; tell everyone who pressed "remind me" (email + notification)
    room_cancelled     drop pending work; tell everyone who pressed "remind me"
    room_ended         drop pending work
`hostless_watch` (periodic) starts a SPACES_AUTO_END_AFTER clock for each live Space with no
host or co-host connected, and stops it when one is back; when it runs out the Space ends.

Running. `due_work_run` (periodic, every SPACES_DUE_WORK_INTERVAL) and `due_job_run` (queued
after commit for work due now) call `job_step`, which in ONE transaction locks the Space row,
then the job row, both with SKIP LOCKED (a busy row is left for the next tick), does the work,
writes what it causes (notifications, outbox emails, the room change and its event) and marks
the job done. A worker killed mid-way rolls all of it back: the job is late, never lost and
never done twice. The lock order Space → job → reminders is the services' order too (they lock
the Space first), and the worker never waits for a lock, so the two cannot deadlock.
Emails leave after commit, from the outbox (`accounts.mail`, which states its own guarantee).

On SQLite (`make run`) there are no row locks and SKIP LOCKED is not used: SQLite lets one
writer at a time, which gives the same exclusion for a single machine.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.mail import absolute_url, email_enqueue, emails_enqueue
from accounts.models import Notification, OutboxEmail, User
from accounts.services import notification_create, person_language

from . import services, tasks
from .follows import tell_followers
from .models import Presence, Reminder, Role, Room, ScheduledJob

logger = logging.getLogger(__name__)

Kind = ScheduledJob.Kind
Outcome = ScheduledJob.Outcome
# What `job_step` reports besides an outcome: more of a batch to do, the Space or job busy
# elsewhere, the job already done (or moved later), or a failure that will be retried.
MORE, BUSY, GONE, RETRY = "more", "busy", "gone", "retry"


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


def _duration(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    if seconds >= 90:
        minutes = round(seconds / 60)
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    if seconds >= 60:
        return _("1 minute")
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}


def _skip_locked() -> dict:
    return {"skip_locked": connection.features.has_select_for_update_skip_locked}


def _test_pause() -> None:
    if settings.SPACES_TEST_SEND_DELAY:
        time.sleep(settings.SPACES_TEST_SEND_DELAY)


# Planning: called by rooms.services inside their transaction, with the Space locked.


def _put(room: Room, kind: str, due_at: datetime) -> None:
    """Make the pending job of this kind due at `due_at`, creating it if there is none."""
    if not ScheduledJob.objects.pending().filter(room=room, kind=kind).update(due_at=due_at):
        ScheduledJob.objects.create(room=room, kind=kind, due_at=due_at)


def _drop(room: Room, *kinds: str) -> None:
    pending = ScheduledJob.objects.pending().filter(room=room)
    if kinds:
        pending = pending.filter(kind__in=kinds)
    pending.update(done_at=timezone.now(), outcome=Outcome.OBSOLETE)


def _tell_reminded(room: Room, kind: str) -> None:
    """Tell the people who pressed "remind me", in the background, starting right after commit."""
    if not Reminder.objects.filter(room=room, notified_at__isnull=True).exists():
        return
    _put(room, kind, timezone.now())
    job_id = ScheduledJob.objects.pending().get(room=room, kind=kind).pk
    transaction.on_commit(lambda: tasks.due_job_run.delay(job_id))


def room_plan(*, room: Room) -> None:
    """(Re)plan a scheduled Space's timed work from its start time. Idempotent.

    The host reminder is skipped when its time has passed (they just scheduled it, or moved
    it closer); one already sent is sent again for a new, later start.
    """
    if not room.is_scheduled or room.scheduled_for is None:
        return
    _put(room, Kind.AUTO_CANCEL, room.scheduled_for + _seconds("SPACES_AUTO_CANCEL_AFTER"))
    remind_at = room.scheduled_for - _seconds("SPACES_HOST_REMINDER_BEFORE")
    if remind_at > timezone.now():
        _put(room, Kind.HOST_REMINDER, remind_at)
    else:
        _drop(room, Kind.HOST_REMINDER)


def room_went_live(*, room: Room) -> None:
    """A scheduled Space started: no host reminder or auto-cancel; tell the reminded people."""
    _drop(room, Kind.HOST_REMINDER, Kind.AUTO_CANCEL)
    _tell_reminded(room, Kind.TELL_LIVE)


def room_cancelled(*, room: Room) -> None:
    """A Space was cancelled: its timed work goes; the reminded people are told once."""
    _drop(room)
    _tell_reminded(room, Kind.TELL_CANCELLED)


def room_ended(*, room: Room) -> None:
    """A live Space ended: nothing more is due for it (an unfinished "it is live" goes too)."""
    _drop(room)


# The work itself: each handler gets the locked job and Space and returns an outcome, or None
# when a batch is done and more remains.


def _host_reminder(job: ScheduledJob, room: Room, now: datetime) -> str | None:
    if not room.is_scheduled:
        return Outcome.OBSOLETE
    if now >= room.scheduled_for + _seconds("SPACES_AUTO_CANCEL_AFTER"):
        # The workers were down past the auto-cancel: "starting soon" beside "cancelled" would
        # only confuse the host, so only the cancel (due next) speaks.
        return Outcome.OBSOLETE
    path = reverse("room_detail", args=[room.slug])
    key = f"host-reminder:{job.pk}"
    with translation.override(person_language(room.host)):
        title = room.title
        if room.scheduled_for > now:
            when = _duration(room.scheduled_for - now)
            text = _("Your Space “%(title)s” starts in %(when)s.") % {"title": title, "when": when}
        else:  # the worker was down: late, but the host still has until the auto-cancel
            late = _duration(now - room.scheduled_for)
            text = _("Your Space “%(title)s” was due to start %(late)s ago.") % {
                "title": title,
                "late": late,
            }
        subject = _("Starting soon: %(title)s") % {"title": title}
        body = _(
            "Hi %(name)s,\n\n%(text)s Open it to go live when you are ready:\n\n%(link)s\n\n"
            "Listeners who asked to be reminded are told when you start.\n\n— Spaces\n"
        ) % {"name": room.host.display_name, "text": text, "link": absolute_url(path)}
    notification_create(user=room.host, text=text, url=path, key=key)
    email_enqueue(user=room.host, subject=subject, body=body, key=key)
    return Outcome.DONE


def _auto_cancel(job: ScheduledJob, room: Room, now: datetime) -> str | None:
    if not room.is_scheduled:
        return Outcome.OBSOLETE
    services.room_cancel(room=room, actor=None)
    path = reverse("space_public", args=[room.slug])
    key = f"auto-cancelled:{room.pk}"
    with translation.override(person_language(room.host)):
        late = _duration(_seconds("SPACES_AUTO_CANCEL_AFTER"))
        text = _(
            "Your Space “%(title)s” was cancelled: it did not start within %(late)s of its time."
        ) % {"title": room.title, "late": late}
        subject = _("Cancelled: %(title)s") % {"title": room.title}
        body = _("Hi %(name)s,\n\n%(text)s\n\n%(link)s\n\n— Spaces\n") % {
            "name": room.host.display_name,
            "text": text,
            "link": absolute_url(path),
        }
    notification_create(user=room.host, text=text, url=path, key=key)
    email_enqueue(user=room.host, subject=subject, body=body, key=key)
    return Outcome.DONE


def _anchor_connected(room_ref: OuterRef | int) -> Exists:
    """A socket of someone who is host or co-host in the Space (and has not left it)."""
    return Exists(
        Presence.objects.filter(
            room=room_ref,
            user__participations__room=room_ref,
            user__participations__role__in=(Role.HOST, Role.COHOST),
            user__participations__left_at__isnull=True,
            user__participations__removed_at__isnull=True,
        )
    )


def _end_if_hostless(job: ScheduledJob, room: Room, now: datetime) -> str | None:
    if not room.is_live:
        return Outcome.OBSOLETE
    if Room.objects.filter(pk=room.pk).filter(_anchor_connected(OuterRef("pk"))).exists():
        return Outcome.OBSOLETE  # one came back; the watch starts a new clock when they go
    services.room_end(room=room, actor=None)
    with translation.override(person_language(room.host)):
        quiet = _duration(_seconds("SPACES_AUTO_END_AFTER"))
        text = _(
            "Your Space “%(title)s” ended: no host or co-host was connected for %(quiet)s."
        ) % {"title": room.title, "quiet": quiet}
    notification_create(
        user=room.host,
        text=text,
        url=reverse("space_public", args=[room.slug]),
        key=f"auto-ended:{room.pk}",
    )
    return Outcome.DONE


def _tell(job: ScheduledJob, room: Room, now: datetime) -> str | None:
    """One batch of "it is live" / "it is cancelled": a notification and an email per person,
    and the reminder marked told, all in the job's transaction."""
    live = job.kind == Kind.TELL_LIVE
    if room.state != (Room.State.LIVE if live else Room.State.CANCELLED):
        return Outcome.OBSOLETE
    batch = list(
        Reminder.objects.select_for_update(of=("self",))
        .filter(room=room, notified_at__isnull=True)
        .select_related("user__profile")
        .order_by("pk")[: settings.SPACES_REMINDER_BATCH]
    )
    if not batch:
        return Outcome.DONE
    path = reverse("space_public", args=[room.slug])
    link = absolute_url(path)
    verb = "live" if live else "cancelled"
    notifications, emails = [], []
    for reminder in batch:
        _test_pause()
        person: User = reminder.user
        key = f"space-{verb}:{reminder.pk}"
        with translation.override(person_language(person)):
            text, subject, body = _tell_words(room, person, live=live, link=link)
        notifications.append(Notification(user=person, text=text, url=path, key=key))
        if person.email:
            emails.append(
                OutboxEmail(user=person, to=person.email, subject=subject, body=body, key=key)
            )
    Notification.objects.bulk_create(notifications)
    emails_enqueue(emails=emails)
    Reminder.objects.filter(pk__in=[r.pk for r in batch]).update(notified_at=now)
    return None if len(batch) == settings.SPACES_REMINDER_BATCH else Outcome.DONE


def _tell_words(room: Room, person: User, *, live: bool, link: str) -> tuple[str, str, str]:
    """The notification, subject and body telling `person`, in the active language."""
    names = {"title": room.title, "host": room.host.display_name}
    if live:
        text = _("“%(title)s” is live now.") % names
        subject = _("Live now: %(title)s") % names
        says = _("“%(title)s”, hosted by %(host)s, is live now. Listen here:") % names
    else:
        text = _("“%(title)s” was cancelled.") % names
        subject = _("Cancelled: %(title)s") % names
        says = _("“%(title)s”, hosted by %(host)s, was cancelled. The Space's page:") % names
    body = _(
        "Hi %(name)s,\n\n%(says)s\n\n%(link)s\n\n"
        "You get this because you asked to be reminded of this Space.\n\n— Spaces\n"
    ) % {"name": person.display_name, "says": says, "link": link}
    return text, subject, body


HANDLERS = {
    Kind.HOST_REMINDER: _host_reminder,
    Kind.AUTO_CANCEL: _auto_cancel,
    Kind.TELL_LIVE: _tell,
    Kind.TELL_CANCELLED: _tell,
    Kind.END_IF_HOSTLESS: _end_if_hostless,
    Kind.TELL_FOLLOWERS: tell_followers,
}


def _retry_after(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))


def job_step(*, job_id: int, now: datetime | None = None) -> str:
    """Claim one due job and do it (or one batch of it) in one transaction.

    Returns its outcome ("done", "obsolete", "failed"), or MORE (a batch done, more remain),
    BUSY (Space or job locked by someone else: left for the next tick), GONE (done already or
    not due) or RETRY (it raised: rolled back, tried again later, up to SPACES_JOB_MAX_ATTEMPTS).
    """
    at = now or timezone.now()
    room_id = ScheduledJob.objects.filter(pk=job_id).values_list("room_id", flat=True).first()
    if room_id is None:
        return GONE
    with transaction.atomic():
        room = (
            Room.objects.select_for_update(of=("self",), **_skip_locked())
            .select_related("host__profile")
            .filter(pk=room_id)
            .first()
        )
        if room is None:
            return BUSY
        job = (
            ScheduledJob.objects.select_for_update(**_skip_locked())
            .filter(pk=job_id, done_at__isnull=True, due_at__lte=at)
            .first()
        )
        if job is None:
            return GONE
        try:
            with transaction.atomic():
                outcome = HANDLERS[job.kind](job, room, at)
        except Exception as error:
            logger.exception("Scheduled job %s (%s) failed", job.pk, job.kind)
            job.attempts += 1
            job.last_error = repr(error)[:2000]
            if job.attempts >= settings.SPACES_JOB_MAX_ATTEMPTS:
                job.done_at, job.outcome = at, Outcome.FAILED
            else:
                job.due_at = at + _retry_after(job.attempts)
            job.save(update_fields=["attempts", "last_error", "done_at", "outcome", "due_at"])
            return job.outcome or RETRY
        if outcome is None:
            return MORE
        job.done_at, job.outcome = at, outcome
        job.save(update_fields=["done_at", "outcome"])
        return outcome


def due_job_run(*, job_id: int, now: datetime | None = None) -> str:
    """Run one job to the end (every batch), unless someone else holds it. Idempotent."""
    while (result := job_step(job_id=job_id, now=now)) == MORE:
        pass
    return result


def due_work_run(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Run every job that is due, oldest first, at most `limit` steps. Returns the steps run.

    `now` stands in for the clock (tests); the default is the real time at each step.
    """
    steps, busy = 0, set()
    while steps < limit:
        at = now or timezone.now()
        job_id = (
            ScheduledJob.objects.pending()
            .filter(due_at__lte=at)
            .exclude(pk__in=busy)
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if job_id is None:
            break
        if job_step(job_id=job_id, now=now) == BUSY:
            busy.add(job_id)
        steps += 1
    return steps


def hostless_watch(*, now: datetime | None = None) -> None:
    """Start the auto-end clock for live Spaces with no host or co-host connected; stop it for
    Spaces where one is back (a clock being run right now is left alone: it checks again)."""
    now = now or timezone.now()
    hostless = set(
        Room.objects.filter(state=Room.State.LIVE)
        .exclude(_anchor_connected(OuterRef("pk")))
        .values_list("pk", flat=True)
    )
    clocks = dict(
        ScheduledJob.objects.pending()
        .filter(kind=Kind.END_IF_HOSTLESS)
        .values_list("room_id", "pk")
    )
    due_at = now + _seconds("SPACES_AUTO_END_AFTER")
    ScheduledJob.objects.bulk_create(
        [
            ScheduledJob(room_id=room_id, kind=Kind.END_IF_HOSTLESS, due_at=due_at)
            for room_id in sorted(hostless - clocks.keys())
        ],
        ignore_conflicts=True,
    )
    stopped = [job_id for room_id, job_id in clocks.items() if room_id not in hostless]
    if stopped:
        with transaction.atomic():
            free = list(
                ScheduledJob.objects.select_for_update(**_skip_locked())
                .filter(pk__in=stopped, done_at__isnull=True)
                .values_list("pk", flat=True)
            )
            ScheduledJob.objects.filter(pk__in=free).update(done_at=now, outcome=Outcome.OBSOLETE)
