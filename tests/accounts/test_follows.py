"""Following hosts: the button on profiles and room pages, the lists, blocks, email choice."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Follow, Profile
from moderation import services as moderation
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_following_from_a_profile_shows_on_both_profiles_and_lists():
    host, fan = UserFactory(profile="Hana Host"), UserFactory(profile="Fay Fan")
    client = signed_in(fan)
    page = client.get(reverse("profile_detail", args=[host.username])).content.decode()
    assert 'data-follow="follow"' in page and "0 followers" in page
    client.post(reverse("person_follow", args=[host.username]))
    page = client.get(reverse("profile_detail", args=[host.username])).content.decode()
    assert 'data-follow="unfollow"' in page and "1 follower" in page
    followers = client.get(reverse("person_followers", args=[host.username])).content.decode()
    assert "Fay Fan" in followers
    following = client.get(reverse("person_following", args=[fan.username])).content.decode()
    assert "Hana Host" in following
    client.post(reverse("person_follow", args=[host.username]), {"follow": "off"})
    assert not Follow.objects.exists()


def test_the_room_page_has_a_follow_button_that_comes_back_to_it():
    room = RoomFactory()
    fan = UserFactory()
    client = signed_in(fan)
    url = reverse("room_detail", args=[room.slug])
    assert 'data-follow="follow"' in client.get(url).content.decode()
    response = client.post(reverse("person_follow", args=[room.host.username]), {"next": url})
    assert response["Location"] == url
    assert 'data-follow="unfollow"' in client.get(url).content.decode()
    public = client.get(reverse("space_public", args=[room.slug])).content.decode()
    assert 'data-follow="unfollow"' in public
    # Off-site "next" is ignored.
    response = client.post(
        reverse("person_follow", args=[room.host.username]), {"next": "//evil.example/"}
    )
    assert response["Location"] == reverse("profile_detail", args=[room.host.username])


def test_nobody_follows_themselves_and_guests_are_sent_to_sign_in():
    person = UserFactory()
    signed_in(person).post(reverse("person_follow", args=[person.username]))
    assert not Follow.objects.exists()
    response = Client().post(reverse("person_follow", args=[person.username]))
    assert response.status_code == 302 and "login" in response["Location"]
    assert (
        'data-follow="follow"'
        not in signed_in(person)
        .get(reverse("profile_detail", args=[person.username]))
        .content.decode()
    )


def test_a_block_ends_follows_both_ways_and_stops_new_ones():
    one, other = UserFactory(), UserFactory()
    signed_in(one).post(reverse("person_follow", args=[other.username]))
    signed_in(other).post(reverse("person_follow", args=[one.username]))
    assert Follow.objects.count() == 2
    moderation.block_create(blocker=one, blocked=other)
    assert Follow.objects.count() == 0
    for follower, followee in ((one, other), (other, one)):
        response = signed_in(follower).post(
            reverse("person_follow", args=[followee.username]), follow=True
        )
        assert "can&#x27;t follow" in response.content.decode()
    assert Follow.objects.count() == 0


def test_the_follower_list_pages():
    host = UserFactory()
    for fan in UserFactory.create_batch(55):
        Follow.objects.create(follower=fan, followee=host)
    first = Client().get(reverse("person_followers", args=[host.username]))
    assert first.content.decode().count('class="person"') == 50
    second = Client().get(reverse("person_followers", args=[host.username]), {"page": 2})
    assert second.content.decode().count('class="person"') == 5


def test_the_email_choice_is_saved_from_the_profile_page():
    person = UserFactory()
    client = signed_in(person)
    client.post(
        reverse("profile_edit"),
        {"display_name": "Pat", "bio": "", "follow_email": "daily"},
    )
    assert Profile.objects.get(user=person).follow_email == "daily"
    client.post(reverse("profile_edit"), {"display_name": "Pat", "bio": ""})
    assert Profile.objects.get(user=person).follow_email == "daily"  # left out: unchanged
