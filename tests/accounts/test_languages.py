"""Mail sent without a request (reminders, the host's notices) is written in the language the
person last used the site in: remembered at sign-in and when they use the switcher."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, OutboxEmail
from rooms import scheduling, services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FR = {"HTTP_ACCEPT_LANGUAGE": "fr"}


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def test_signing_in_and_switching_remember_the_language(client):
    person = UserFactory(email="lea@example.org")
    client.post(
        reverse("account_login"),
        {"login": "lea@example.org", "password": "a-long-test-password"},
        **FR,
    )
    person.profile.refresh_from_db()
    assert person.profile.language == "fr"
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    person.profile.refresh_from_db()
    assert person.profile.language == "en"
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    person.profile.refresh_from_db()
    assert person.profile.language == "en"  # an unknown code changes nothing


def test_reminders_are_written_in_each_persons_language(commits):
    host = UserFactory(profile="Hôte")
    host.profile.language = "fr"
    host.profile.save()
    start = timezone.now() + timedelta(minutes=60)
    room = services.room_create(host=host, title="La matinale", scheduled_for=start)
    scheduling.due_work_run(now=start - timedelta(minutes=10))
    note = Notification.objects.get(user=host)
    assert note.text == "Votre Space « La matinale » commence dans 10 minutes."
    assert OutboxEmail.objects.get(user=host).subject == "Bientôt : La matinale"

    french, english = UserFactory.create_batch(2)
    french.profile.language = "fr"
    french.profile.save()
    for person in (french, english):
        services.reminder_set(room=room, user=person)
    commits(services.room_go_live, room=room, actor=host)
    [to_french] = [m for m in mail.outbox if m.to == [french.email]]
    [to_english] = [m for m in mail.outbox if m.to == [english.email]]
    assert to_french.subject == "En direct : La matinale"
    assert "Bonjour" in to_french.body and "animé par Hôte" in to_french.body
    assert to_english.subject == "Live now: La matinale"
    assert "hosted by Hôte" in to_english.body
