"""Plays of a replay from the embed page (`/s/<slug>/embed/`), which a third-party frame shows
without any CSRF cookie: counted once per listener a day, by a count-only endpoint."""

import pytest
from django.test import Client
from django.urls import reverse

from rooms.models import Recording, Room
from rooms.replay_views import EMBED_COOKIE
from tests.factories import UserFactory
from tests.recording_fixtures import recorded_space

pytestmark = pytest.mark.django_db


def frame(address: str = "203.0.113.7") -> Client:
    """A browser showing the embed on another site: it has no CSRF cookie or token."""
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=address)


def plays(room: Room) -> int:
    return Recording.objects.get(room=room).plays.count()


def test_the_embed_player_counts_a_play_once_a_day_without_csrf():
    room, _ = recorded_space()
    embed = frame().get(f"/s/{room.slug}/embed/").content.decode()
    url = reverse("embed_play", args=[room.slug])
    assert f'data-play="{url}"' in embed and 'data-kind="replay"' in embed

    browser = frame()
    first = browser.post(url, secure=True)
    assert first.status_code == 200 and first.json() == {"counted": True}
    cookie = first.cookies[EMBED_COOKIE]
    assert cookie["samesite"] == "None" and cookie["secure"] and cookie["httponly"]
    assert browser.post(url, secure=True).json() == {"counted": False}
    assert plays(room) == 1

    # a browser that keeps no cookie in frames: the same address still counts once
    assert frame().post(url, secure=True).json() == {"counted": False}
    # the cookie follows the listener to another address: still the same listener
    moved = frame("198.51.100.9")
    moved.cookies[EMBED_COOKIE] = cookie.value
    assert moved.post(url, secure=True).json() == {"counted": False}
    assert plays(room) == 1

    # someone else, elsewhere; a forged cookie counts as their address
    other = frame("198.51.100.20")
    other.cookies[EMBED_COOKIE] = "forged:value"
    answer = other.post(url)
    assert answer.json() == {"counted": True}
    assert answer.cookies[EMBED_COOKIE]["samesite"] == "Lax"  # plain HTTP: SameSite=None won't do
    signed_in = frame("198.51.100.20")
    signed_in.force_login(UserFactory())
    assert signed_in.post(url).json() == {"counted": True}
    assert signed_in.post(url).json() == {"counted": False}
    assert plays(room) == 3

    # the replay page's own endpoint still needs CSRF
    assert frame().post(reverse("replay_play", args=[room.slug])).status_code == 403
    assert plays(room) == 3


@pytest.mark.parametrize(
    ("fields", "state", "status"),
    [
        ({}, Recording.State.ASSEMBLING, 404),
        ({}, Recording.State.REMOVED, 404),
        ({"guests_may_listen": False}, Recording.State.READY, 403),
        ({"visibility": Room.Visibility.PRIVATE}, Recording.State.READY, 404),
    ],
)
def test_an_embed_play_of_a_replay_that_may_not_be_heard_counts_nothing(fields, state, status):
    room, _ = recorded_space(state=state, **fields)
    response = frame().post(reverse("embed_play", args=[room.slug]))
    assert response.status_code == status
    assert plays(room) == 0 and EMBED_COOKIE not in response.cookies


def test_embed_plays_are_rate_limited_per_address(settings):
    settings.SPACES_PUBLIC_PAGE_RATE = 2
    room, _ = recorded_space()
    url = reverse("embed_play", args=[room.slug])
    for address in ("192.0.2.1", "192.0.2.1"):
        assert frame(address).post(url).status_code == 200
    assert frame("192.0.2.1").post(url).status_code == 429
    assert frame("192.0.2.2").post(url).json() == {"counted": True}
    assert frame("192.0.2.1").get(url).status_code in (405, 429)
    assert plays(room) == 2
