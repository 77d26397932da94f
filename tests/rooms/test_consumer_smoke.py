import pytest

from rooms.models import Participant
from tests.rooms.live_helpers import join

pytestmark = pytest.mark.django_db(transaction=True)


async def test_listener_raises_hand_and_host_accepts_live(live_space):
    host, host_snapshot = await join(live_space.room, live_space.host)
    listener, snapshot = await join(live_space.room, live_space.listener)
    assert snapshot["you"]["role"] == "listener"
    assert "hand_raise" in snapshot["you"]["may"]
    assert host_snapshot["you"]["role"] == "host"

    await listener.send(type="hand_raise")
    raised = await host.wait_for("hand_raised")
    assert raised["user"]["id"] == live_space.listener.pk

    await host.send(type="hand_accept", user=live_space.listener.pk)
    await listener.wait_for("hand_accepted")
    you = await listener.wait_for("you")
    assert you["you"]["role"] == "speaker"
    row = await Participant.objects.aget(room=live_space.room, user=live_space.listener)
    assert row.role == "speaker"
    await host.close()
    await listener.close()
