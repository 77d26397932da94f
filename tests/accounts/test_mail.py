"""The outbox: a decided email goes out once; a send that died is tried again later."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts import mail as outbox
from accounts.models import OutboxEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(user, django_capture_on_commit_callbacks):
    """An email decided but not yet sent (its queued task has not run)."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        row = outbox.email_enqueue(user=user, subject="Live now: Jazz", body="Listen", key="k1")
    assert len(queued) == 1  # sending is queued after commit
    return row


def test_it_is_sent_once_with_a_stable_message_id(decided, user):
    assert outbox.email_send(email_id=decided.pk)
    assert not outbox.email_send(email_id=decided.pk)
    [message] = mail.outbox
    assert message.to == [user.email] and message.subject == "Live now: Jazz"
    assert message.extra_headers["Message-ID"] == f"<spaces.outbox.{decided.pk}@example.com>"
    decided.refresh_from_db()
    assert decided.sent_at is not None and decided.attempts == 1


def test_the_same_fact_is_mailed_once(decided, user):
    assert outbox.email_enqueue(user=user, subject="Again", body="x", key="k1") is None
    assert OutboxEmail.objects.count() == 1


def test_the_task_queued_after_commit_sends_it(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.email_enqueue(user=user, subject="Live now: Jazz", body="Listen", key="k2")
    assert len(mail.outbox) == 1


def test_a_send_cut_short_is_retried_after_the_retry_period(decided):
    # A worker claimed it and died before sending: nobody else sends it meanwhile.
    OutboxEmail.objects.filter(pk=decided.pk).update(attempted_at=timezone.now(), attempts=1)
    assert outbox.email_retry() == 0
    assert not outbox.email_send(email_id=decided.pk)

    later = timezone.now() + timedelta(minutes=6)
    assert outbox.email_retry(now=later) == 1
    assert outbox.email_retry(now=later + timedelta(minutes=6)) == 0
    assert len(mail.outbox) == 1


def test_a_queued_task_that_was_lost_is_made_up_by_the_retry(decided):
    assert outbox.email_retry() == 0  # too fresh: its task may still be in the queue
    assert outbox.email_retry(now=timezone.now() + timedelta(minutes=6)) == 1
    assert len(mail.outbox) == 1


@override_settings(
    EMAIL_BACKEND="tests.accounts.test_mail.BrokenBackend", SPACES_EMAIL_MAX_ATTEMPTS=2
)
def test_a_failing_server_is_tried_a_few_times_then_left_with_its_error(decided):
    assert not outbox.email_send(email_id=decided.pk)
    assert outbox.email_retry(now=timezone.now() + timedelta(minutes=6)) == 0
    assert outbox.email_retry(now=timezone.now() + timedelta(hours=1)) == 0
    decided.refresh_from_db()
    assert decided.sent_at is None and decided.attempts == 2
    assert "connection refused" in decided.last_error


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("connection refused")
