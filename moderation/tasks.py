"""Background work for moderation. Each task takes ids, calls one service and is idempotent:
running it twice sends no second email and writes no second audit row. Queued with
`transaction.on_commit` by the services."""

from celery import shared_task
from django.utils import timezone

from . import services
from .models import Suspension


@shared_task
def notify_new_report(report_id: int) -> int:
    """Email staff with moderation rights about a new report (once per report)."""
    return services.report_notify_staff(report_id=report_id)


@shared_task
def check_report_threshold(report_id: int) -> bool:
    """Flag the report's target when enough different people reported it recently."""
    return services.report_flag_check(report_id=report_id)


@shared_task
def notify_flagged(report_id: int) -> int:
    """Email staff, once, that a target was flagged."""
    return services.report_notify_flag(report_id=report_id)


@shared_task
def expire_suspensions() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): record suspensions that ran out, with their audit row.
    They stopped counting on time anyway; this keeps the log complete."""
    due = Suspension.objects.filter(
        ended_at__isnull=True, lifted_at__isnull=True, until__lte=timezone.now()
    ).values_list("pk", flat=True)
    ended = 0
    for suspension_id in list(due):
        suspension = services.suspension_expire(suspension_id=suspension_id)
        ended += suspension is not None and suspension.ended_at is not None
    return ended
