"""Celery entry points for Spaces: each takes ids (or nothing), calls one service, and is safe to
run twice. Periodic ones are in CELERY_BEAT_SCHEDULE (settings/base.py)."""

from celery import shared_task

from . import follows, insights, live, recordings, scheduling


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


# Recordings and clips (rooms/recordings.py). Failures are retried; the last failure marks the
# recording or clip as failed.


@shared_task(bind=True, ignore_result=True, max_retries=3)
def recording_assemble(self, recording_id: int) -> str:
    """Assemble an ended Space's replay (VOD playlist and .m4a); safe to run again."""
    last_try = self.request.retries >= self.max_retries
    try:
        return recordings.recording_assemble(recording_id=recording_id, last_try=last_try)
    except Exception as error:
        if last_try:
            raise
        raise self.retry(exc=error, countdown=10 * 2**self.request.retries) from error


@shared_task(bind=True, ignore_result=True, max_retries=3)
def cut_clip(self, clip_id: int) -> str:
    """Cut a clip from its recording's segments; safe to run again."""
    last_try = self.request.retries >= self.max_retries
    try:
        return recordings.clip_cut(clip_id=clip_id, last_try=last_try)
    except Exception as error:
        if last_try:
            raise
        raise self.retry(exc=error, countdown=5 * 2**self.request.retries) from error


@shared_task(ignore_result=True, autoretry_for=(Exception,), max_retries=5, retry_backoff=10)
def recording_files_remove(recording_id: int) -> int:
    """Remove every file of a deleted or taken-down recording from storage."""
    return recordings.recording_files_remove(recording_id=recording_id)


@shared_task(ignore_result=True, autoretry_for=(Exception,), max_retries=5, retry_backoff=10)
def clip_files_remove(clip_id: int) -> int:
    """Remove a deleted or taken-down clip's file from storage."""
    return recordings.clip_files_remove(clip_id=clip_id)


@shared_task(ignore_result=True)
def recordings_sweep() -> int:
    """Periodic: assemble recordings of ended Spaces that nothing assembled (a lost task, a
    media process that died)."""
    return len(recordings.recordings_sweep())


@shared_task(ignore_result=True)
def recordings_expire() -> int:
    """Periodic: delete the recordings past SPACES_RECORDING_RETENTION_DAYS."""
    return len(recordings.recordings_expire())
