"""Public endpoints are rate limited per client address."""

import pytest
from django.urls import reverse

from rooms.live import Refused, guest_cookie_value, viewer_connect
from spaces_project import ratelimit
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db


def test_the_public_page_answers_429_past_its_limit(client, settings):
    settings.SPACES_PUBLIC_PAGE_RATE = 3
    room = RoomFactory()
    url = reverse("space_public", args=[room.slug])
    statuses = [client.get(url).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert "Too many requests" in client.get(url).content.decode()
    # Another address is not affected.
    assert client.get(url, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_guest_sockets_from_one_address_are_limited(settings):
    settings.SPACES_GUEST_CONNECT_RATE = 2
    room = RoomFactory()
    cookie = guest_cookie_value("g1")
    for n in range(2):
        viewer_connect(
            slug=room.slug,
            user=None,
            guest_cookie=cookie,
            channel_name=f"c{n}",
            client_address="10.0.0.7",
        )
    with pytest.raises(Refused) as refused:
        viewer_connect(
            slug=room.slug,
            user=None,
            guest_cookie=cookie,
            channel_name="c3",
            client_address="10.0.0.7",
        )
    assert refused.value.close_code == 4429
    viewer_connect(
        slug=room.slug, user=None, guest_cookie=cookie, channel_name="c4", client_address="10.0.0.8"
    )


def test_many_counters_counted_at_once_count_as_one_by_one():
    """A batch of guest joins counts its counters together (one round trip to Redis when the
    cache is Redis, as in the services pass); the counts and the window are the same."""
    counters = ratelimit.shared_cache()
    counters.delete_many(["rl:batch:a", "rl:batch:b"])
    assert ratelimit.count_hits(["rl:batch:a", "rl:batch:b", "rl:batch:a"], 60) == [1, 1, 2]
    assert ratelimit.count_hit("rl:batch:a", 60) == 3
    assert ratelimit.count_hits(["rl:batch:b"], 60) == [2]
    client_of = getattr(getattr(counters, "_cache", None), "get_client", None)
    if client_of is not None:  # Redis: the window is set once, by the first hit
        ttl = client_of().ttl(counters.make_and_validate_key("rl:batch:a"))
        assert 0 < ttl <= 60
