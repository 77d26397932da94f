"""The suite's second pass runs on real PostgreSQL and Redis; these prove that it really does."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection

from accounts.models import User
from tests.factories import UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_runs_on_postgresql_and_a_user_round_trips():
    assert connection.vendor == "postgresql"
    UserFactory(email="pg@example.org", profile="Postgres Person")
    stored = User.objects.select_related("profile").get(email="pg@example.org")
    assert stored.display_name == "Postgres Person"


def test_channel_layer_is_redis_and_carries_a_message():
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)  # ours tolerates outages, same protocol

    async def round_trip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello", "text": "on redis"})
        return await layer.receive(channel)

    assert async_to_sync(round_trip)()["text"] == "on redis"
