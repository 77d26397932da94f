"""The socket's side of `seq`: a `resync` is answered with a fresh snapshot, and a sender whose
committed action could not be handed to the channel layer is told it is `delayed`."""

import pytest
from channels.layers import get_channel_layer

from rooms.models import Post, Room
from tests.rooms.live_helpers import eventually, join

pytestmark = pytest.mark.django_db(transaction=True)


async def test_resync_answers_a_fresh_snapshot_with_the_last_event_number(live_space):
    host, hello = await join(live_space.room, live_space.host)
    assert hello["seq"] == 0
    await host.send(type="post", text="one")
    created = await host.wait_for("post_created")
    await host.send(type="resync")
    again = await host.wait_for("snapshot")
    assert again["seq"] == created["seq"] == 1
    assert [post["text"] for post in again["posts"]] == ["one"]
    await host.close()


async def test_a_post_the_layer_could_not_deliver_is_kept_and_its_sender_told(
    live_space, monkeypatch
):
    host, _ = await join(live_space.room, live_space.host)
    listener, _ = await join(live_space.room, live_space.listener)

    async def down(group, message):
        raise ConnectionError("the channel layer is down")

    monkeypatch.setattr(get_channel_layer(), "group_send", down)
    await host.send(type="post", text="while down")
    delayed = await host.wait_for("error")
    assert (delayed["code"], delayed["ref"]) == ("delayed", "post")
    assert await Post.objects.filter(text="while down").aexists()
    room = await Room.objects.aget(pk=live_space.room.pk)
    assert room.event_seq == 1

    # The listener missed the event; a resync brings the post.
    await listener.send(type="resync")
    state = await listener.wait_for("snapshot")
    assert state["seq"] == 1 and [p["text"] for p in state["posts"]] == ["while down"]
    await host.close()
    await listener.close()


async def test_when_the_channel_layer_comes_back_every_socket_gets_a_fresh_snapshot(
    live_space, monkeypatch
):
    from rooms import realtime

    monkeypatch.setattr(realtime, "PROBE_SECONDS", 0.05)
    monkeypatch.setattr(realtime, "PROBE_TIMEOUT", 0.2)
    host, _ = await join(live_space.room, live_space.host)
    guest, _ = await join(live_space.room, guest_id="guest-resync")
    layer = get_channel_layer()
    working_send = layer.send

    async def down(channel, message):
        raise ConnectionError("the channel layer is down")

    monkeypatch.setattr(layer, "send", down)
    await eventually(lambda: realtime.hub().layer_down, timeout=3)
    await Post.objects.acreate(room=live_space.room, author=live_space.host, text="missed")
    monkeypatch.setattr(layer, "send", working_send)
    for socket in (host, guest):
        state = await socket.wait_for("snapshot", timeout=3)
        assert [p["text"] for p in state["posts"]] == ["missed"]
    await host.close()
    await guest.close()
