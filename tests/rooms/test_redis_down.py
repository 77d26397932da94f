"""With Redis unreachable the public page still answers, guests still get in (rate limits fail
open, with a log line), and sockets refused meanwhile leave nothing behind in the channel layer."""

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.urls import reverse

from rooms.models import Room
from tests.factories import RoomFactory, UserFactory
from tests.rooms.live_helpers import eventually, open_socket
from tests.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_down(settings):
    """The cache and the channel layer point at a Redis that is not there."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "spaces_project.layers.OutageTolerantPubSubChannelLayer",
            "CONFIG": {"hosts": [url]},
        }
    }
    settings.SPACES_PUBLIC_PAGE_RATE = 5
    settings.SPACES_GUEST_CONNECT_RATE = 5
    return url


def test_the_public_page_answers_while_the_cache_is_down(client, redis_down, caplog):
    room = RoomFactory(title="Still here")
    with caplog.at_level(logging.WARNING, logger="spaces_project.ratelimit"):
        responses = [client.get(reverse("space_public", args=[room.slug])) for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 8  # over the limit: it fails open
    assert "Still here" in responses[0].content.decode()
    assert "Rate limits are off" in caplog.text


async def test_sockets_open_and_refused_ones_leave_no_queue_while_redis_is_down(redis_down):
    room = await Room.objects.acreate(title="Outage", host=await _host(), state=Room.State.LIVE)
    layer = get_channel_layer()
    for _ in range(5):  # no guest cookie: refused with 4401
        refused = await open_socket(room, guest_id=None)
        assert (await refused.wait_for("closing"))["code"] == "no_guest_cookie"
        assert await refused.wait_closed() == 4401
        await refused.close()
    # Each refused socket's channel goes once its consumer has finished.
    await eventually(lambda: not layer._get_layer().channels)

    guest = await open_socket(room, guest_id="guest-in-outage")
    snapshot = await guest.wait_for("snapshot")
    assert snapshot["room"]["title"] == "Outage"
    await guest.close()


async def _host():
    return await sync_to_async(UserFactory)()
