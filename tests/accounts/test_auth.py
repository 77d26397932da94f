"""Sign-up, verification, sign-in and the errors a person sees, through allauth's real views."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BAD_CREDENTIALS = "The email address and/or password you specified are not correct."


def sign_in(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def sign_up(client, email, password, *, handle="ada_l", name="Ada Lovelace"):
    data = {"email": email, "password1": password, "password2": password}
    return client.post(
        reverse("account_signup"), {**data, "username": handle, "display_name": name}
    )


def test_sign_up_sends_a_verification_link_that_lets_the_person_sign_in(client):
    response = sign_up(client, "ada@example.org", "lovelace-1815!")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body

    # Unverified accounts cannot sign in yet: allauth asks for verification instead.
    response = sign_in(client, "ada@example.org", "lovelace-1815!")
    assert response.url == reverse("account_email_verification_sent")

    # Following the link in the browser that signed up signs the person in at once.
    response = client.post(link.group(1))
    assert response.status_code == 302
    assert client.get(reverse("home")).context["user"].email == "ada@example.org"
    client.logout()
    response = sign_in(client, "ada@example.org", "lovelace-1815!")
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).context["user"].email == "ada@example.org"


def test_new_accounts_get_a_profile_with_the_name_and_handle_they_chose(client):
    sign_up(client, "grace@example.org", "cobol-1959-x", handle="Amazing_Grace", name="Grace H.")
    from accounts.models import User

    user = User.objects.get(email="grace@example.org")
    assert user.profile.display_name == "Grace H."
    assert user.username == "amazing_grace"


def test_wrong_password_and_unknown_email_give_the_same_error(client):
    UserFactory(email="known@example.org")
    wrong_password = sign_in(client, "known@example.org", "not-the-password")
    unknown_email = sign_in(client, "nobody@example.org", "not-the-password")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 200
        assert BAD_CREDENTIALS in response.content.decode()


def test_password_reset_does_not_reveal_which_accounts_exist(client):
    UserFactory(email="known@example.org")
    known = client.post(reverse("account_reset_password"), {"email": "known@example.org"})
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url
    # Both get an email; only the known account's contains a reset link.
    bodies = [message.body for message in mail.outbox]
    assert len(bodies) == 2
    assert sum("/accounts/password/reset/key/" in body for body in bodies) == 1


def test_sign_in_is_rate_limited_after_repeated_failures(client):
    UserFactory(email="target@example.org")
    pages = [sign_in(client, "target@example.org", f"guess-{n}").content for n in range(6)]
    assert b"Too many failed login attempts" not in pages[0]
    assert b"Too many failed login attempts" in pages[-1]


def test_admin_login_goes_through_allauth(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
