"""Presence refreshes follow SPACES_PRESENCE_STALE_SECONDS: a socket that pings keeps its row
through the sweep however short the setting, and a setting shorter than the pings is flagged."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.checks import run_checks

from rooms import live
from rooms.models import Presence
from tests.rooms.live_helpers import join

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_socket_that_pings_is_never_swept_even_with_a_short_stale_setting(
    settings, live_space
):
    # Scaled down: rows go stale after 1.5 s, the page pings every 0.4 s.
    settings.SPACES_PRESENCE_STALE_SECONDS = 1.5
    socket, _ = await join(live_space.room, guest_id="pinging-guest")
    for _ in range(7):
        await asyncio.sleep(0.4)
        await socket.roundtrip()
    assert await sync_to_async(live.presence_sweep)() == []
    assert await Presence.objects.filter(guest_id="pinging-guest").aexists()
    await socket.close()


def test_a_stale_setting_shorter_than_the_pings_is_flagged(settings):
    settings.SPACES_PRESENCE_STALE_SECONDS = 20
    assert "rooms.W001" in [message.id for message in run_checks()]
    settings.SPACES_PRESENCE_STALE_SECONDS = 90
    assert "rooms.W001" not in [message.id for message in run_checks()]
