"""Celery entry points for Spaces: each takes ids (or nothing), calls one service, and is safe to
run twice. Periodic ones are in CELERY_BEAT_SCHEDULE (settings/base.py)."""

from celery import shared_task

from . import follows, insights, live, scheduling


@shared_task(ignore_result=True)
def due_work_run() -> int:
    """Periodic: claim and run every scheduled job that is due."""
    return scheduling.due_work_run()


@shared_task(ignore_result=True)
def due_job_run(job_id: int) -> str:
    """Run one job that fell due now (queued after the commit that created it)."""
    return scheduling.due_job_run(job_id=job_id)


@shared_task(ignore_result=True)
def hostless_watch() -> None:
    """Periodic: start or stop the auto-end clock of live Spaces without a host connected."""
    scheduling.hostless_watch()


@shared_task(ignore_result=True)
def presence_sweep() -> int:
    """Periodic: forget sockets whose heartbeat stopped, so counts are right after a crash."""
    return len(live.presence_sweep())


@shared_task(ignore_result=True)
def follow_digest_send() -> int:
    """Periodic (daily): one email per person with follow alerts waiting for their digest."""
    return follows.digest_send()


@shared_task(ignore_result=True)
def insights_sample() -> int:
    """Periodic: sample how many listen to each live Space, for the hosts' insights."""
    return insights.sample()


@shared_task(ignore_result=True)
def cut_clip(clip_id: int) -> None:
    """Cut one clip out of its recording (queued after the commit that asked for it)."""
    from .recordings import clip_cut as cut

    cut(clip_id=clip_id)
