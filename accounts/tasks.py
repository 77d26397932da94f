"""Celery entry points for accounts: each takes ids, calls one service and is safe to repeat."""

from celery import shared_task

from . import mail, services


@shared_task(ignore_result=True)
def email_send(email_id: int) -> bool:
    """Send one outbox email (queued after the transaction that decided to send it)."""
    return mail.email_send(email_id=email_id)


@shared_task(ignore_result=True)
def email_retry() -> int:
    """Periodic: send emails whose worker died or whose send failed a while ago."""
    return mail.email_retry()


@shared_task(ignore_result=True)
def push_notify(user_ids: list[int], text: str, url: str) -> int:
    """Push one notification to these people's browsers (queued after the commit that told
    them in the site)."""
    return services.push_notify(user_ids=user_ids, text=text, url=url)
