"""Celery entry points for accounts: each takes ids, calls one service and is safe to repeat."""

from celery import shared_task

from . import mail


@shared_task(ignore_result=True)
def email_send(email_id: int) -> bool:
    """Send one outbox email (queued after the transaction that decided to send it)."""
    return mail.email_send(email_id=email_id)


@shared_task(ignore_result=True)
def email_retry() -> int:
    """Periodic: send emails whose worker died or whose send failed a while ago."""
    return mail.email_retry()
