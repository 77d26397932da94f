"""Background work: staff emails (exactly once per report), flagging at the threshold, and the
periodic expiry job's registration."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from moderation import services, tasks
from moderation.models import ModerationAction, Report
from moderation.selectors import ReportTarget
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(moderator, staff_without_group):
    """Who should hear of reports: the moderator and a superuser; not the rest."""
    superuser = UserFactory(is_staff=True, is_superuser=True, email="root@example.org")
    UserFactory(is_staff=False, email="member@example.org")
    gone = UserFactory(is_staff=True, is_active=False, is_superuser=True, email="gone@example.org")
    assert gone
    return {moderator.email, superuser.email}


def report(space, reporter=None, ip="ip-1", on_commit=None, **fields):
    target = ReportTarget(type="space", room=space.room, person=space.host)
    with on_commit(execute=True):
        outcome = services.report_create(
            target=target,
            category=fields.get("category", "spam"),
            text=fields.get("text", ""),
            reporter=reporter,
            guest_key="" if reporter else f"cookie-{ip}",
            ip_hash="" if reporter else ip,
        )
    return outcome.report


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_staff_with_moderation_rights_get_one_email_per_report(
    space, staff, django_capture_on_commit_callbacks
):
    new = report(space, text="Loud spam", on_commit=django_capture_on_commit_callbacks)
    assert recipients() == sorted(staff)
    message = mail.outbox[0]
    assert "New report" in message.subject and "Night talk" in message.subject
    assert "Loud spam" in message.body
    assert f"/admin/moderation/report/{new.pk}/change/" in message.body

    # The task runs again (a retry, a second worker): nothing more goes out.
    assert tasks.notify_new_report(new.pk) == 0
    tasks.notify_new_report.delay(new.pk)
    assert len(mail.outbox) == len(staff)
    assert Report.objects.get(pk=new.pk).notified_at is not None


def test_a_failed_send_can_be_retried(
    space, staff, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(services, "_send_to_moderators", broken)
    with pytest.raises(ConnectionRefusedError):
        report(space, on_commit=django_capture_on_commit_callbacks)
    new = Report.objects.get()
    assert new.notified_at is None
    monkeypatch.undo()
    assert tasks.notify_new_report(new.pk) == len(staff)
    assert tasks.notify_new_report(new.pk) == 0


def test_enough_different_reporters_flag_the_target_and_staff_hear_once(
    space, staff, django_capture_on_commit_callbacks
):
    on_commit = django_capture_on_commit_callbacks
    assert settings.MODERATION_FLAG_THRESHOLD == 3
    first = report(space, ip="ip-1", on_commit=on_commit)
    report(space, reporter=UserFactory(), on_commit=on_commit)
    assert not Report.objects.filter(flagged=True).exists()
    mail.outbox.clear()

    third = report(space, ip="ip-3", on_commit=on_commit)
    assert set(Report.objects.values_list("flagged", flat=True)) == {True}
    flagged_mail = [m for m in mail.outbox if "Flagged" in m.subject]
    assert len(flagged_mail) == len(staff)
    assert "3 or more people reported this within 24 hours" in flagged_mail[0].body
    assert ModerationAction.objects.filter(kind="flag", actor=None).count() == 1

    # The jobs run again, and a fourth person reports: flagged, but no second flag email.
    tasks.check_report_threshold(third.pk)
    tasks.notify_flagged(third.pk)
    mail.outbox.clear()
    fourth = report(space, ip="ip-4", on_commit=on_commit)
    assert Report.objects.get(pk=fourth.pk).flagged
    assert not [m for m in mail.outbox if "Flagged" in m.subject]
    assert ModerationAction.objects.filter(kind="flag").count() == 1
    assert Report.objects.get(pk=first.pk).flagged


def test_the_same_reporter_or_old_reports_do_not_reach_the_threshold(
    space, django_capture_on_commit_callbacks
):
    on_commit = django_capture_on_commit_callbacks
    old = report(space, ip="ip-1", on_commit=on_commit)
    Report.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    report(space, ip="ip-2", on_commit=on_commit)
    # A guest clearing their cookie is still the same address: one reporter.
    again = report(space, ip="ip-2", on_commit=on_commit)
    assert Report.objects.count() == 2 and again.ip_hash == "ip-2"
    report(space, ip="ip-3", on_commit=on_commit)
    assert not Report.objects.filter(flagged=True).exists()
    report(space, ip="ip-5", on_commit=on_commit)
    # Three recent reporters: every open report about the Space rises, the old one too.
    assert Report.objects.filter(flagged=True).count() == 4


def test_the_expiry_job_is_scheduled():
    entry = settings.CELERY_BEAT_SCHEDULE["moderation-expire-suspensions"]
    assert entry["task"] == tasks.expire_suspensions.name == "moderation.tasks.expire_suspensions"
