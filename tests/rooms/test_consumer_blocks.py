"""A block takes effect on sockets that are already open: the blocked person's posts vanish."""

import pytest
from asgiref.sync import sync_to_async

from moderation.services import block_create
from tests.rooms.live_helpers import join

pytestmark = pytest.mark.django_db(transaction=True)


async def test_posts_of_someone_blocked_while_connected_are_not_delivered(live_space):
    listener, _ = await join(live_space.room, live_space.listener)
    speaker, _ = await join(live_space.room, live_space.speaker)
    await speaker.send(type="post", text="before the block")
    await listener.wait_for("post_created")

    await sync_to_async(block_create)(blocker=live_space.listener, blocked=live_space.speaker)
    await listener.roundtrip()
    await speaker.send(type="post", text="after the block")
    await speaker.wait_for("post_created")
    later = await listener.roundtrip()
    assert not [e for e in later if e["type"] == "post_created"]
    await listener.close()
    await speaker.close()
