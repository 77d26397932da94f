"""Display names and @handles: asked at sign-up, never taken from the email, changed on the
profile with a rate limit; the operator's one command to create an admin who can sign in."""

import importlib
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-signup-password-1"


def sign_up(client, *, email="new@example.org", handle="new_person", name="New Person"):
    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(
        reverse("account_signup"), {**data, "username": handle, "display_name": name}
    )


def test_sign_up_page_asks_for_a_display_name_and_a_handle(client):
    page = client.get(reverse("account_signup")).content.decode()
    assert 'name="display_name"' in page
    assert 'name="username"' in page
    assert "Handle" in page


@pytest.mark.parametrize(
    ("handle", "error"),
    [
        ("ab", "3"),
        ("has space", "3 to 20"),
        ("élodie", "3 to 20"),
        ("x" * 21, "3 to 20"),
        ("12345", "at least one letter"),
        ("admin", "reserved"),
        ("Support", "reserved"),
    ],
)
def test_sign_up_refuses_a_bad_handle_and_creates_nothing(client, handle, error):
    response = sign_up(client, handle=handle)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not User.objects.filter(email="new@example.org").exists()


def test_handles_are_unique_ignoring_case(client):
    UserFactory(username="radio_ada")
    response = sign_up(client, handle="Radio_ADA")
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.org").exists()


def test_sign_up_needs_a_display_name(client):
    response = sign_up(client, name="")
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.org").exists()


def test_public_pages_never_show_the_email_local_part(client):
    host = UserFactory(username="night_owl", email="host662415@example.org")
    host.profile.display_name = ""  # no display name: the handle stands in, not the address
    host.profile.save()
    room = RoomFactory(host=host, title="Late show")
    page = client.get(reverse("space_public", args=[room.slug])).content.decode()
    assert "host662415" not in page
    assert "Hosted by night_owl" in page


def test_profiles_are_found_by_handle_ignoring_case(client):
    person = UserFactory(username="radio_ada")
    response = client.get("/u/Radio_Ada/")
    assert response.status_code == 200
    assert "@radio_ada" in response.content.decode()
    assert person.email not in response.content.decode()


def test_changing_the_handle_moves_the_profile_and_is_rate_limited(client):
    person = UserFactory(username="first_name")
    client.force_login(person)
    data = {"display_name": "Ada", "bio": "", "handle": "@Second_Name"}
    assert client.post(reverse("profile_edit"), data).status_code == 302
    person.refresh_from_db()
    assert person.username == "second_name"
    assert client.get("/u/second_name/").status_code == 200
    # The old handle is free for anyone else: it does not point at this person any more.
    assert client.get("/u/first_name/").status_code == 404

    response = client.post(reverse("profile_edit"), {**data, "handle": "third_name"})
    assert response.status_code == 200
    assert "change your handle again" in response.content.decode()
    person.refresh_from_db()
    assert person.username == "second_name"

    User.objects.filter(pk=person.pk).update(handle_changed_at=timezone.now() - timedelta(days=31))
    assert client.post(reverse("profile_edit"), {**data, "handle": "third_name"}).status_code == 302
    person.refresh_from_db()
    assert person.username == "third_name"


def test_profile_refuses_a_taken_handle(client):
    UserFactory(username="taken_one")
    person = UserFactory(username="mine")
    client.force_login(person)
    data = {"display_name": "Me", "bio": "", "handle": "TAKEN_one"}
    response = client.post(reverse("profile_edit"), data)
    assert response.status_code == 200
    assert "This handle is taken." in response.content.decode()
    person.refresh_from_db()
    assert person.username == "mine"


def test_createsuperuser_noinput_with_email_and_password_signs_in_to_the_admin(client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Operator@example.org")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "operator-password-2026")
    call_command("createsuperuser", "--noinput", verbosity=0)
    admin = User.objects.get(email__iexact="operator@example.org")
    assert admin.is_superuser and admin.is_staff
    assert "operator" not in admin.username  # a neutral handle, not the email's local part
    assert EmailAddress.objects.filter(user=admin, verified=True, primary=True).exists()

    response = client.post(
        reverse("account_login") + "?next=/admin/",
        {"login": "Operator@example.org", "password": "operator-password-2026"},
    )
    assert response.status_code == 302
    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_migration_replaces_handles_taken_from_email_addresses():
    migration = importlib.import_module("accounts.migrations.0003_handles")
    derived = UserFactory(username="host662415", email="host662415@example.org")
    derived_plus = UserFactory(username="jane.doe42", email="jane.doe@example.org")
    chosen = UserFactory(username="night_owl", email="host1@example.org")

    from django.apps import apps

    migration.neutral_handles(apps, None)
    for person in (derived, derived_plus, chosen):
        person.refresh_from_db()
    assert derived.username.startswith("user") and "662415" not in derived.username
    assert derived_plus.username.startswith("user") and "jane" not in derived_plus.username
    assert chosen.username == "night_owl"


def test_staff_add_a_person_in_the_admin_with_email_and_handle(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    password = "some-long-pass-9"
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "added@example.org",
            "username": "added_one",
            "usable_password": "true",
            "password1": password,
            "password2": password,
            "profile-TOTAL_FORMS": "0",
            "profile-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(email="added@example.org").username == "added_one"
