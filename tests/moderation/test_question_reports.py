"""Reporting a question on a raised hand: the form shows it, the report keeps its text (even
after the host removes it) and is about its author."""

import pytest
from django.test import Client
from django.urls import reverse

from moderation.models import Report
from rooms import questions, services
from tests.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db


def test_a_question_is_reported_with_its_text_kept_after_removal():
    room = RoomFactory(title="Open floor")
    asker = ParticipantFactory(room=room).user
    reporter = ParticipantFactory(room=room).user
    services.hand_raise(room=room, user=asker, question="Buy cheap followers at example.com")
    question = room.questions.get()
    url = reverse("space_report", args=[room.slug]) + f"?question={question.pk}"
    client = Client()
    client.force_login(reporter)
    form = client.get(url).content.decode()
    assert "Report this question" in form and "Buy cheap followers" in form

    questions.question_remove(room=room, question_id=question.pk, actor=room.host)
    client.post(url, {"category": "spam", "text": ""})
    report = Report.objects.get()
    assert report.accused == asker and report.target_key == f"question:{question.pk}"
    assert report.snapshot["question"]["text"] == "Buy cheap followers at example.com"


def test_a_question_from_another_space_cannot_be_reported_here():
    room, other = RoomFactory(), RoomFactory()
    asker = ParticipantFactory(room=other).user
    services.hand_raise(room=other, user=asker, question="Elsewhere")
    question = other.questions.get()
    url = reverse("space_report", args=[room.slug]) + f"?question={question.pk}"
    assert Client().get(url).status_code == 404
