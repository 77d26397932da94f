"""Product email (reminders, cancellations) through an outbox table.

Deciding to email and sending are separate steps:
1. `email_enqueue` writes an `OutboxEmail` row inside the caller's transaction (the same one that
   marks the reminder told), and queues `accounts.tasks.email_send` after commit.
2. `email_send` claims the row with a conditional UPDATE (committed before anything is sent),
   hands the message to the email backend, then records `sent_at`.
3. `email_retry` (a periodic task) sends rows whose claim is older than
   SPACES_EMAIL_RETRY_AFTER and still unsent: a queued task lost with a killed worker, or a
   worker killed while sending.

Delivery guarantee, honestly: the decision to email is exactly-once (a database transaction).
Sending is exactly-once unless a worker dies in the instant between the mail server accepting
the message and the `sent_at` UPDATE committing; that message is sent again after
SPACES_EMAIL_RETRY_AFTER (at-least-once), with the same Message-ID so mail clients can fold
the duplicate. A send never happens twice at the same time: the claim is a row update that only
one worker can win per retry period. After SPACES_EMAIL_MAX_ATTEMPTS failed tries a row stays
unsent with its last error, for staff to see in the admin.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sites.models import Site
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import OutboxEmail, User

logger = logging.getLogger(__name__)


def absolute_url(path: str) -> str:
    """A link for an email: the site's domain (`ensure_site`) and the configured scheme."""
    scheme = getattr(settings, "ACCOUNT_DEFAULT_HTTP_PROTOCOL", "http")
    return f"{scheme}://{Site.objects.get_current().domain}{path}"


def email_enqueue(*, user: User, subject: str, body: str, key: str) -> OutboxEmail | None:
    """Decide to email `user`. Idempotent on `key`: a second call for the same fact sends
    nothing. Sending is queued after the surrounding transaction commits. Returns the new row,
    or None when this fact was already mailed (or the person has no address)."""
    if not user.email:
        return None
    email, created = OutboxEmail.objects.get_or_create(
        key=key, defaults={"user": user, "to": user.email, "subject": subject, "body": body}
    )
    if not created:
        return None
    _queue_send([email.pk])
    return email


def emails_enqueue(*, emails: list[OutboxEmail]) -> list[OutboxEmail]:
    """`email_enqueue` for many rows at once (built by the caller, keys all new)."""
    created = OutboxEmail.objects.bulk_create(emails)
    _queue_send([email.pk for email in created])
    return created


def _queue_send(ids: list[int]) -> None:
    from .tasks import email_send as email_send_task

    def queue() -> None:
        for email_id in ids:
            email_send_task.delay(email_id)

    transaction.on_commit(queue)


def _message_id(email: OutboxEmail) -> str:
    domain = Site.objects.get_current().domain.split(":", 1)[0] or "localhost"
    return f"<spaces.outbox.{email.pk}@{domain}>"


def email_send(*, email_id: int, now: datetime | None = None) -> bool:
    """Send one outbox email unless it was sent or someone is sending it. Returns True if sent.

    Runs outside a transaction on purpose: the claim must be committed before the send.
    """
    now = now or timezone.now()
    retry_before = now - timedelta(seconds=settings.SPACES_EMAIL_RETRY_AFTER)
    claimed = (
        OutboxEmail.objects.filter(
            pk=email_id, sent_at=None, attempts__lt=settings.SPACES_EMAIL_MAX_ATTEMPTS
        )
        .filter(Q(attempted_at=None) | Q(attempted_at__lte=retry_before))
        .update(attempted_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return False
    email = OutboxEmail.objects.get(pk=email_id)
    if settings.SPACES_TEST_SEND_DELAY:
        time.sleep(settings.SPACES_TEST_SEND_DELAY)
    message = EmailMessage(
        subject=email.subject,
        body=email.body,
        to=[email.to],
        headers={"Message-ID": _message_id(email)},
    )
    try:
        message.send()
    except Exception as error:
        logger.exception("Could not send email %s", email_id)
        OutboxEmail.objects.filter(pk=email_id).update(last_error=repr(error)[:2000])
        return False
    # The at-least-once window: a crash before this UPDATE commits sends the message again.
    OutboxEmail.objects.filter(pk=email_id).update(sent_at=timezone.now(), last_error="")
    return True


def email_retry(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send unsent emails whose last try (or creation) is older than SPACES_EMAIL_RETRY_AFTER.
    Returns how many went out."""
    now = now or timezone.now()
    retry_before = now - timedelta(seconds=settings.SPACES_EMAIL_RETRY_AFTER)
    stale = (
        OutboxEmail.objects.filter(sent_at=None, attempts__lt=settings.SPACES_EMAIL_MAX_ATTEMPTS)
        .annotate(last_try=Coalesce("attempted_at", "created_at"))
        .filter(last_try__lte=retry_before)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(email_send(email_id=email_id, now=now) for email_id in list(stale))
