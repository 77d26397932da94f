import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Notification
from accounts.services import notification_create, notifications_mark_read
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def tell(person, text, key):
    return notification_create(user=person, text=text, url="/s/abc/", key=key)


def test_the_bell_shows_how_many_are_unread(client_for, user):
    tell(user, "“Jazz hour” is live now.", "a")
    tell(user, "“News” was cancelled.", "b")
    tell(UserFactory(), "Someone else's", "c")
    page = client_for(user).get(reverse("home")).content.decode()
    assert 'data-testid="nav-notifications" aria-label="Notifications, 2 unread"' in page


def test_the_same_fact_is_told_once(user):
    first = tell(user, "“Jazz hour” is live now.", "space-live:1")
    again = tell(user, "“Jazz hour” is live now.", "space-live:1")
    assert first.pk == again.pk and Notification.objects.count() == 1


def test_no_bell_for_guests(client):
    assert "nav-notifications" not in client.get(reverse("home")).content.decode()


def test_the_page_lists_them_newest_first_and_marks_them_read(client_for, user):
    tell(user, "“Jazz hour” is live now.", "a")
    tell(user, "“News” was cancelled.", "b")
    tell(UserFactory(), "Someone else's", "c")
    client = client_for(user)

    page = client.get(reverse("notifications")).content.decode()

    assert page.index("News") < page.index("Jazz hour")
    assert 'href="/s/abc/"' in page and "Someone else" not in page
    assert page.count("notification-unread") == 2
    # Reading the page changes nothing (a GET is never a state change) ...
    assert Notification.objects.filter(user=user, read_at=None).count() == 2
    assert client.get(reverse("notifications")).content.decode().count("notification-unread") == 2
    # ... the "Mark as read" button does.
    assert 'data-testid="mark-read"' in page
    newest = Notification.objects.filter(user=user).latest("pk").pk
    done = client.post(reverse("notifications"), {"up_to": newest})
    assert done.status_code == 302
    assert not Notification.objects.filter(user=user, read_at=None).exists()
    again = client.get(reverse("notifications")).content.decode()
    assert "notification-unread" not in again
    assert 'aria-label="Notifications"' in again  # no unread count any more


def test_the_page_needs_sign_in(client):
    assert client.get(reverse("notifications")).status_code == 302


def test_the_unread_count_costs_one_query(client_for, user):
    tell(user, "“Jazz hour” is live now.", "a")
    client = client_for(user)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("profile_edit"))
    counts = [q["sql"] for q in queries if "accounts_notification" in q["sql"]]
    assert len(counts) == 1


def test_one_that_arrives_while_the_page_is_open_stays_unread(user):
    shown = tell(user, "“Jazz hour” is live now.", "a")
    newer = tell(user, "“News” was cancelled.", "b")
    assert notifications_mark_read(user=user, up_to_id=shown.pk) == 1
    newer.refresh_from_db()
    assert newer.read_at is None
