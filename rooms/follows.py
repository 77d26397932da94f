"""Telling a host's followers that they went live or scheduled a public Space.

`followers_plan` (called by the room services inside their transaction, with the Space
locked) puts one `tell_followers` job on the Space and queues it after commit. The job runs
through the due-work machinery (rooms.scheduling.job_step): each step is ONE short
transaction that takes the next SPACES_FOLLOWER_BATCH followers after the last one told,
writes their `FollowerAlert` rows, bell notifications and, for those who want every email,
outbox emails. A follower is told at most once per Space (the alert's unique constraint), and a
worker killed mid-batch rolls that batch back, so it is told exactly once when the job runs
again. 50,000 followers are 50,000 / batch short transactions, never one long one.

People who chose a daily digest get their alerts in one email a day (`digest_send`).
Only public Spaces are announced: unlisted and private ones are for people with the link.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.mail import absolute_url, emails_enqueue
from accounts.models import Follow, Notification, OutboxEmail, Profile, PushSubscription, User
from accounts.services import person_language

from .models import FollowerAlert, Room, ScheduledJob


def followers_plan(*, room: Room) -> None:
    """A public Space went live or was scheduled: tell its host's followers, in the background.

    Idempotent: a Space has at most one pending job of this kind, and people already told are
    skipped."""
    if room.visibility != Room.Visibility.PUBLIC or room.is_over:
        return
    if not Follow.objects.filter(followee_id=room.host_id).exists():
        return
    kind = ScheduledJob.Kind.TELL_FOLLOWERS
    job = ScheduledJob.objects.pending().filter(room=room, kind=kind).first()
    if job is None:
        job = ScheduledJob.objects.create(room=room, kind=kind, due_at=timezone.now())
    job_id = job.pk

    def queue() -> None:
        from . import tasks  # tasks → scheduling → this module

        tasks.due_job_run.delay(job_id)

    transaction.on_commit(queue)


def tell_followers(job: ScheduledJob, room: Room, now: datetime) -> str | None:
    """One batch: the next followers (by id) after the last one told. Returns None while more
    remain, "done" at the end, "obsolete" if the Space is over or no longer public."""
    if room.is_over or room.visibility != Room.Visibility.PUBLIC:
        return ScheduledJob.Outcome.OBSOLETE
    size = settings.SPACES_FOLLOWER_BATCH
    # Told people are the alerts of this Space; the next batch starts after the highest id.
    last = FollowerAlert.objects.filter(room=room).aggregate(last=Max("user_id"))["last"] or 0
    batch = list(
        User.objects.filter(following__followee_id=room.host_id, pk__gt=last, is_active=True)
        .select_related("profile")
        .order_by("pk")[:size]
    )
    if not batch:
        return ScheduledJob.Outcome.DONE
    why = FollowerAlert.Why.LIVE if room.is_live else FollowerAlert.Why.SCHEDULED
    # Followers are signed in: the bell leads into the room; the email to the public link.
    path = reverse("room_detail", args=[room.slug])
    link = absolute_url(reverse("space_public", args=[room.slug]))
    alerts, notifications, emails = [], [], []
    for person in batch:
        choice = getattr(
            getattr(person, "profile", None), "follow_email", Profile.FollowEmail.NEVER
        )
        alerts.append(
            FollowerAlert(
                room=room, user=person, why=why, digest_due=choice == Profile.FollowEmail.DAILY
            )
        )
        with translation.override(person_language(person)):
            text, subject, body = _words(room, person, live=room.is_live, link=link)
        key = f"follow:{room.pk}"
        notifications.append(Notification(user=person, text=text, url=path, key=key))
        if choice == Profile.FollowEmail.EVERY_TIME and person.email:
            emails.append(
                OutboxEmail(
                    user=person,
                    to=person.email,
                    subject=subject,
                    body=body,
                    key=f"{key}:{person.pk}",
                )
            )
    # The constraint makes a second telling fail the whole batch rather than repeat it.
    FollowerAlert.objects.bulk_create(alerts)
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)
    emails_enqueue(emails=emails)
    _queue_push(room, [p.pk for p in batch], path)
    return None if len(batch) == size else ScheduledJob.Outcome.DONE


def _queue_push(room: Room, user_ids: list[int], path: str) -> None:
    """After the batch commits, a Web Push to those of them whose browsers allowed it."""
    pushed = list(
        PushSubscription.objects.filter(user_id__in=user_ids)
        .values_list("user_id", flat=True)
        .distinct()
    )
    if not pushed:
        return
    text = _("%(host)s is live: “%(title)s”.") % {
        "host": room.host.display_name,
        "title": room.title,
    }
    if not room.is_live:
        text = _("%(host)s scheduled a Space") % {"host": room.host.display_name}

    def queue() -> None:
        from accounts.tasks import push_notify

        push_notify.delay(pushed, text, path)

    transaction.on_commit(queue)


def _words(room: Room, person: User, *, live: bool, link: str) -> tuple[str, str, str]:
    """The notification, email subject and body, in the active language."""
    names = {"title": room.title, "host": room.host.display_name}
    if live:
        text = _("%(host)s is live: “%(title)s”.") % names
        subject = _("%(host)s is live on Spaces") % names
        says = _("%(host)s, whom you follow, is live now: “%(title)s”. Listen here:") % names
    else:
        names["when"] = room.scheduled_for.strftime("%Y-%m-%d %H:%M UTC")
        text = _("%(host)s scheduled “%(title)s” for %(when)s.") % names
        subject = _("%(host)s scheduled a Space") % names
        says = _("%(host)s, whom you follow, scheduled “%(title)s” for %(when)s:") % names
    body = _(
        "Hi %(name)s,\n\n%(says)s\n\n%(link)s\n\n"
        "You get this because you follow %(host)s. Change how often we email you on your "
        "profile page.\n\n— Spaces\n"
    ) % {"name": person.display_name, "says": says, "link": link, "host": room.host.display_name}
    return text, subject, body


def digest_send(*, now: datetime | None = None, people: int = 500) -> int:
    """Queue one digest email for each person (up to `people`) with alerts waiting for their
    daily digest, listing the Spaces, and clear those alerts, in one transaction per person.
    Returns how many emails were queued. Periodic (daily)."""
    now = now or timezone.now()
    sent = 0
    waiting = (
        FollowerAlert.objects.filter(digest_due=True)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")[:people]
    )
    for user_id in list(waiting):
        with transaction.atomic():
            alerts = list(
                FollowerAlert.objects.select_for_update(of=("self",))
                .filter(user_id=user_id, digest_due=True)
                .select_related("room__host__profile", "user__profile")
                .order_by("created_at", "pk")
            )
            if not alerts:
                continue
            person = alerts[0].user
            FollowerAlert.objects.filter(pk__in=[a.pk for a in alerts]).update(digest_due=False)
            if not person.email:
                continue
            with translation.override(person_language(person)):
                lines = [
                    f"- {a.room.title} ({a.room.host.display_name}): "
                    + absolute_url(reverse("space_public", args=[a.room.slug]))
                    for a in alerts
                ]
                subject = _("Your daily Spaces digest")
                body = _(
                    "Hi %(name)s,\n\nPeople you follow went live or scheduled Spaces:\n\n"
                    "%(lines)s\n\n— Spaces\n"
                ) % {"name": person.display_name, "lines": "\n".join(lines)}
            key = f"follow-digest:{user_id}:{alerts[-1].pk}"
            emails_enqueue(
                emails=[
                    OutboxEmail(user=person, to=person.email, subject=subject, body=body, key=key)
                ]
            )
            sent += 1
    return sent
