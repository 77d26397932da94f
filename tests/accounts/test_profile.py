import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_profile_edit_changes_what_others_see(client_for, user):
    client = client_for(user)
    response = client.post(
        reverse("profile_edit"), {"display_name": "Radio Ada", "bio": "Talks about <b>engines</b>"}
    )
    assert response.status_code == 302
    page = client.get(reverse("profile_detail", args=[user.username])).content.decode()
    assert "Radio Ada" in page
    assert "Talks about &lt;b&gt;engines&lt;/b&gt;" in page


def test_profile_rejects_an_overlong_bio(client_for, user):
    response = client_for(user).post(
        reverse("profile_edit"), {"display_name": "X", "bio": "b" * 161}
    )
    assert response.status_code == 200
    assert "at most 160 characters" in response.content.decode()
    user.profile.refresh_from_db()
    assert user.profile.bio == ""


def test_profile_edit_needs_sign_in(client):
    response = client.get(reverse("profile_edit"))
    assert response.status_code == 302
    assert reverse("account_login") in response.url


def test_unknown_page_is_a_proper_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()
