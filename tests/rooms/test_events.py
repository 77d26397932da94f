import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from rooms import events, services
from rooms.live import Viewer
from rooms.models import Room
from rooms.realtime import PROCESS_GROUP
from rooms.snapshot import room_snapshot

pytestmark = pytest.mark.django_db


def test_group_names():
    assert events.user_group(7, 42) == "room.7.user.42"
    assert events.person_group(42) == "person.42"


def test_a_room_event_reaches_each_process_once_through_the_channel_layer(
    live_space, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()

    def promote():
        with django_capture_on_commit_callbacks(execute=True):
            services.speaker_promote(
                room=live_space.room, user=live_space.listener, actor=live_space.host
            )

    async def listen_while(action):
        # One event loop for the whole exchange: the Redis layer's channels belong to a loop.
        channel = await layer.new_channel()
        await layer.group_add(PROCESS_GROUP, channel)
        try:
            await sync_to_async(action)()  # back on this thread, with the test's database
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard(PROCESS_GROUP, channel)

    message = async_to_sync(listen_while)(promote)
    assert message == {
        "type": "room.broadcast",
        "room_id": live_space.room.pk,
        "event": {
            "v": 1,
            "type": "speaker_promoted",
            "room": live_space.room.slug,
            "actor": live_space.host.pk,
            "user": {"id": live_space.listener.pk, "name": live_space.listener.display_name},
            "role": "speaker",
            "previous_role": "listener",
            "seq": Room.objects.get(pk=live_space.room.pk).event_seq,
        },
    }


def test_room_events_are_numbered_one_by_one_and_the_snapshot_names_the_last(
    live_space, django_capture_on_commit_callbacks, broadcasts
):
    room = live_space.room
    with django_capture_on_commit_callbacks(execute=True):
        services.speaker_mute(room=room, user=live_space.speaker, actor=live_space.host)
    with django_capture_on_commit_callbacks(execute=True):
        services.hand_raise(room=room, user=live_space.listener)
    with pytest.raises(RuntimeError), transaction.atomic():  # rolled back: no number used
        services.speaker_unmute(room=room, user=live_space.speaker, actor=live_space.speaker)
        raise RuntimeError
    with django_capture_on_commit_callbacks(execute=True):
        services.speaker_unmute(room=room, user=live_space.speaker, actor=live_space.speaker)
    assert [(event["type"], event["seq"]) for _, event in broadcasts] == [
        ("speaker_muted", 1),
        ("hand_raised", 2),
        ("speaker_unmuted", 3),
    ]
    state = room_snapshot(room_id=room.pk, viewer=Viewer(room_id=room.pk, channel_name="c"))
    assert state["seq"] == 3


def test_nothing_is_sent_before_commit(live_space, django_capture_on_commit_callbacks, broadcasts):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.speaker_mute(room=live_space.room, user=live_space.speaker, actor=live_space.host)
    assert broadcasts == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert [e["type"] for _, e in broadcasts] == ["speaker_muted"]


def test_nothing_is_sent_when_the_change_is_rolled_back(
    live_space, django_capture_on_commit_callbacks, broadcasts
):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                services.speaker_mute(
                    room=live_space.room, user=live_space.speaker, actor=live_space.host
                )
                raise RuntimeError("a later step failed")
        except RuntimeError:
            pass
    assert broadcasts == []
    assert live_space.room.participants.get(user=live_space.speaker).is_muted is False


def test_invites_go_only_to_the_invitee(live_space, django_capture_on_commit_callbacks, broadcasts):
    with django_capture_on_commit_callbacks(execute=True):
        invite = services.invite_create(
            room=live_space.room, invitee=live_space.listener, inviter=live_space.cohost
        )
    [(group, event)] = broadcasts
    assert group == events.user_group(live_space.room.pk, live_space.listener.pk)
    assert event["type"] == "invite_received"
    assert event["invite"] == invite.pk and event["role"] == "speaker"
    assert event["inviter"]["id"] == live_space.cohost.pk
    assert event["expires_at"] == invite.expires_at.isoformat()


def test_a_broken_channel_layer_does_not_break_a_committed_change(live_space, monkeypatch):
    class Broken:
        async def group_send(self, group, message):
            raise ConnectionError("layer down")

    monkeypatch.setattr(events, "get_channel_layer", lambda: Broken())
    events.group_send("room.1", {"type": "room.event", "event": {"type": "room_ended"}})
