"""The live room as people see it: staff actions arrive live, removed and suspended people are
shut out, role changes refresh what each person may do, listener counts are coalesced, posts
reach guests, and the room's state survives a server restart because it lives in the database."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rooms import live, realtime, services
from rooms.models import Participant, Presence
from tests.factories import ParticipantFactory, ScheduledRoomFactory, UserFactory

from .live_helpers import (
    eventually,
    join,
    open_socket,
    room_state,
    settle_ticks,
    settled_ticks,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]

PARTICIPANTS = reverse("admin:rooms_participant_changelist")
ROOMS = reverse("admin:rooms_room_changelist")


async def admin_action(staff, url: str, action: str, *objects) -> None:
    client = Client()
    await sync_to_async(client.force_login)(staff)
    response = await sync_to_async(client.post)(
        url, {"action": action, "_selected_action": [o.pk for o in objects]}
    )
    assert response.status_code == 302, response.content[:500]


async def participant(room, user) -> Participant:
    return await Participant.objects.aget(room=room, user=user)


# Staff actions in the admin reach the room live.


@pytest.mark.parametrize(
    "action, who, event, role",
    [
        ("promote_to_speaker", "listener", "speaker_promoted", "speaker"),
        ("promote_to_cohost", "speaker", "cohost_promoted", "cohost"),
        ("move_to_audience", "speaker", "moved_to_audience", "listener"),
    ],
)
async def test_a_staff_role_change_in_the_admin_arrives_live(
    staff_moderator, live_space, action, who, event, role
):
    target = getattr(live_space, who)
    host, _ = await join(live_space.room, live_space.host)
    guest, _ = await join(live_space.room, None)
    person, hello = await join(live_space.room, target)
    assert hello["you"]["role"] == who

    await admin_action(
        staff_moderator, PARTICIPANTS, action, await participant(live_space.room, target)
    )

    for socket in (host, guest, person):
        seen = await socket.wait_for(event)
        assert (seen["user"]["id"], seen["role"], seen["actor"]) == (
            target.pk,
            role,
            staff_moderator.pk,
        )
    you = (await person.wait_for("you"))["you"]
    assert you["role"] == role
    assert ("hand_raise" in you["may"]) == (role == "listener")
    # Nobody else's view of themselves needed refreshing.
    assert not [e for e in await host.roundtrip() if e["type"] == "you"]
    for socket in (host, guest, person):
        await socket.close()


async def test_a_person_removed_in_the_admin_is_disconnected_and_cannot_come_back(
    staff_moderator, live_space
):
    host, _ = await join(live_space.room, live_space.host)
    phone, _ = await join(live_space.room, live_space.speaker)
    laptop, _ = await join(live_space.room, live_space.speaker)

    await admin_action(
        staff_moderator,
        PARTICIPANTS,
        "remove_from_space",
        await participant(live_space.room, live_space.speaker),
    )

    assert (await host.wait_for("participant_removed"))["user"]["id"] == live_space.speaker.pk
    for socket in (phone, laptop):  # every one of their sockets in the Space
        await socket.wait_for("participant_removed")
        assert (await socket.wait_for("closing"))["code"] == "removed"
        assert await socket.wait_closed() == 4403
        await socket.close()
    again = await open_socket(live_space.room, live_space.speaker)
    assert (await again.wait_for("closing"))["code"] == "removed"
    assert await again.wait_closed() == 4403
    await again.close()
    row = await participant(live_space.room, live_space.speaker)
    assert row.removed_at is not None and row.role == "listener"
    assert await host.roundtrip() == []
    await host.close()


async def test_a_space_ended_in_the_admin_closes_every_socket(staff_moderator, live_space):
    sockets = [
        (await join(live_space.room, user))[0]
        for user in (live_space.host, live_space.listener, None)
    ]
    await admin_action(staff_moderator, ROOMS, "end_spaces", live_space.room)
    for socket in sockets:
        assert (await socket.wait_for("room_ended"))["actor"] == staff_moderator.pk
        assert await socket.wait_closed() == 4410
        await socket.close()
    late, hello = await join(live_space.room, live_space.listener)
    assert hello["room"]["state"] == "ended"
    assert await late.wait_closed() == 4410
    await late.close()


async def test_a_suspended_person_is_disconnected_everywhere_and_refused(live_space):
    from moderation.services import suspension_create

    other = (await sync_to_async(ParticipantFactory)(user=live_space.listener)).room
    admin = await sync_to_async(UserFactory)(is_staff=True, is_superuser=True)
    here, _ = await join(live_space.room, live_space.listener)
    there, _ = await join(other, live_space.listener)
    bystander, _ = await join(live_space.room, live_space.host)

    await sync_to_async(suspension_create)(
        user=live_space.listener,
        until=timezone.now() + timedelta(days=1),
        reason="Spam",
        actor=admin,
    )
    for socket in (here, there):
        closing = await socket.wait_for("closing")
        assert closing["code"] == "suspended" and "Spam" in closing["message"]
        assert await socket.wait_closed() == 4403
        await socket.close()
    again = await open_socket(live_space.room, live_space.listener)
    assert (await again.wait_for("closing"))["code"] == "suspended"
    assert await again.wait_closed() == 4403
    await again.close()
    assert await bystander.roundtrip() == []
    await bystander.close()


# Role changes refresh what each person may do.


async def test_an_invite_arrives_and_accepting_it_brings_the_listener_on_stage(live_space):
    host, _ = await join(live_space.room, live_space.host)
    listener, _ = await join(live_space.room, live_space.listener)
    await host.send(type="invite", user=live_space.listener.pk, role="speaker")
    received = await listener.wait_for("invite_received")
    assert received["inviter"]["id"] == live_space.host.pk and received["role"] == "speaker"
    offer = (await listener.wait_for("you"))["you"]["invite"]
    assert offer["id"] == received["invite"]

    await listener.send(type="invite_accept", invite=offer["id"])
    accepted = await host.wait_for("invite_accepted")
    assert (accepted["user"]["id"], accepted["role"]) == (live_space.listener.pk, "speaker")
    you = (await listener.wait_for("you"))["you"]
    assert you["role"] == "speaker" and you["invite"] is None and you["muted"]
    await listener.send(type="mute", user=live_space.listener.pk, muted=False)
    assert (await host.wait_for("speaker_unmuted"))["user"]["id"] == live_space.listener.pk
    await host.close()
    await listener.close()


async def test_when_the_host_leaves_the_cohost_takes_over_live(live_space):
    host, _ = await join(live_space.room, live_space.host)
    cohost, _ = await join(live_space.room, live_space.cohost)
    listener, _ = await join(live_space.room, live_space.listener)
    await host.send(type="leave")
    assert (await host.wait_for("closing"))["code"] == "left"
    assert await host.wait_closed() == 1000
    changed = await listener.wait_for("host_changed")
    assert changed["user"]["id"] == live_space.cohost.pk
    assert changed["previous_host"]["id"] == live_space.host.pk
    you = (await cohost.wait_for("you"))["you"]
    assert you["role"] == "host" and "end" in you["may"]
    assert not [e for e in await listener.roundtrip() if e["type"] == "you"]
    for socket in (host, cohost, listener):
        await socket.close()


async def test_people_waiting_in_a_scheduled_space_join_it_when_it_goes_live():
    room = await sync_to_async(ScheduledRoomFactory)()
    fan = await sync_to_async(UserFactory)()
    waiting, hello = await join(room, fan)
    guest, guest_hello = await join(room, None)
    assert hello["room"]["state"] == "scheduled" and hello["you"]["role"] == "outsider"
    assert guest_hello["you"]["may"] == []

    await sync_to_async(services.room_go_live)(room=room, actor=room.host)

    await waiting.wait_for("room_live")
    fresh = await waiting.wait_for("snapshot")
    assert fresh["room"]["state"] == "live" and fresh["you"]["role"] == "listener"
    assert "hand_raise" in fresh["you"]["may"]
    assert (await guest.wait_for("snapshot"))["you"]["may"] == ["react"]
    await waiting.send(type="hand_raise")
    await waiting.wait_for("hand_raised")

    # The guest's row comes with its process's next presence batch (within a second).
    async def both_present() -> bool:
        return await Presence.objects.filter(room=room).acount() == 2

    await eventually(both_present)
    await waiting.close()
    await guest.close()


# Counts and posts.


async def audio_on(sockets) -> None:
    """Every socket's audio on, as a page playing the stream says (`hls_listening`; the WebRTC
    path: tests/rooms/test_audio_socket.py)."""
    for socket in sockets:
        await socket.send(type="hls_listening", listening=True)


async def test_listener_counts_are_coalesced_and_end_right(live_space):
    watcher, hello = await join(live_space.room, live_space.host)
    assert hello["listeners"] == 0
    people = [None] * 6 + [live_space.listener, live_space.hand]
    sockets = []
    started = asyncio.get_running_loop().time()
    for n, person in enumerate(people):
        sockets.append((await join(live_space.room, person, guest_id=f"guest-{n}"))[0])
    # The listener's second tab is still one listener.
    sockets.append((await join(live_space.room, live_space.listener))[0])
    await audio_on(sockets)
    while (await watcher.wait_for("listeners"))["count"] != len(people):
        pass
    seconds = asyncio.get_running_loop().time() - started
    counts = [e for e in watcher.events if e["type"] == "listeners"]
    assert len(counts) < len(sockets)
    assert len(counts) <= seconds / live.counts.interval + 1
    # Someone new gets the count in their snapshot (at most one tick old), then the new one.
    late, late_hello = await join(live_space.room, None, guest_id="late")
    await audio_on([late])
    assert late_hello["listeners"] in (len(people), len(people) + 1)
    while (await late.wait_for("listeners"))["count"] != len(people) + 1:
        pass
    for socket in sockets + [late]:
        await socket.close()
    while (await watcher.wait_for("listeners"))["count"] != 0:
        pass
    await watcher.close()


async def test_a_guest_sees_a_post_just_written_and_newcomers_get_the_feed(live_space):
    guest, _ = await join(live_space.room, None)
    author, _ = await join(live_space.room, live_space.listener)
    await author.send(type="post", text="Hello, room <b>!</b>")
    seen = (await guest.wait_for("post_created"))["post"]
    assert seen["text"] == "Hello, room <b>!</b>"
    assert seen["author"] == {
        "id": live_space.listener.pk,
        "name": live_space.listener.display_name,
    }
    assert not seen["pinned"]
    late, newcomer = await join(live_space.room, None, guest_id="newcomer")
    assert [p["text"] for p in newcomer["posts"]] == ["Hello, room <b>!</b>"]
    for socket in (guest, author, late):
        await socket.close()


async def test_an_author_deletes_their_own_post_but_not_someone_elses(live_space):
    guest, _ = await join(live_space.room, None)
    author, _ = await join(live_space.room, live_space.listener)
    await author.send(type="post", text="Oops")
    mine = (await guest.wait_for("post_created"))["post"]["id"]
    host, _ = await join(live_space.room, live_space.host)
    await host.send(type="post", text="Welcome all")
    theirs = (await guest.wait_for("post_created"))["post"]["id"]
    await author.send(type="post_delete", post=theirs)
    assert (await author.wait_for("error"))["code"] == "not_allowed"
    await author.send(type="post_delete", post=mine)
    assert (await guest.wait_for("post_deleted"))["post"] == mine
    await host.send(type="post_pin", post=theirs, pinned=True)
    assert (await guest.wait_for("post_pinned"))["post"] == theirs
    late, newcomer = await join(live_space.room, None, guest_id="newcomer")
    assert [(p["text"], p["pinned"]) for p in newcomer["posts"]] == [("Welcome all", True)]
    for socket in (guest, author, host, late):
        await socket.close()


async def test_a_broadcast_is_one_channel_layer_message_whatever_the_audience(
    monkeypatch, live_space
):
    from channels.layers import get_channel_layer

    sockets = [(await join(live_space.room, None, guest_id=f"g{n}"))[0] for n in range(30)]
    host, _ = await join(live_space.room, live_space.host)
    layer = get_channel_layer()
    sent = []
    real_group_send = layer.group_send

    async def counting(group, message):
        sent.append((group, message["type"], message["event"]["type"]))
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    await host.send(type="promote", user=live_space.listener.pk, role="speaker")
    for socket in sockets:
        await socket.wait_for("speaker_promoted")
    assert [s for s in sent if s[2] != "listeners"] == [
        (realtime.PROCESS_GROUP, realtime.MESSAGE_TYPE, "speaker_promoted")
    ]
    for socket in sockets + [host]:
        await socket.close()


# Restarts and crashes: the truth is in the database.


def shape(snapshot: dict) -> dict:
    return {key: snapshot[key] for key in ("room", "stage", "hands", "posts")}


async def test_a_reconnect_after_a_server_restart_restores_the_same_state(live_space):
    host, _ = await join(live_space.room, live_space.host)
    listener, _ = await join(live_space.room, live_space.listener)
    guest, _ = await join(live_space.room, None)
    await listener.send(type="hand_raise")
    await listener.send(type="post", text="Before the restart")
    await guest.wait_for("post_created")
    post = guest.events[-1]["post"]["id"]
    await host.send(type="post_pin", post=post, pinned=True)
    await host.send(type="mute", user=live_space.speaker.pk, muted=True)
    await host.send(type="promote", user=live_space.hand.pk, role="speaker")
    await guest.wait_for("speaker_promoted")
    witness, before = await join(live_space.room, None, guest_id="witness")
    assert live_space.listener.pk in [h["user"]["id"] for h in before["hands"]]
    assert {p["user"]["id"]: p["muted"] for p in before["stage"]}[live_space.speaker.pk]

    # The server goes away: every socket drops and the process's hub is gone.
    for socket in (host, listener, guest, witness):
        await socket.close()
    realtime._hubs.clear()

    async def after_restart():
        # A fresh event loop, as in a new process: a new hub, new channels.
        people = [live_space.host, live_space.listener, None]
        sockets = [await join(live_space.room, person) for person in people]
        for socket, _ in sockets:
            await socket.close()
        await settle_ticks()
        return [hello for _, hello in sockets]

    host_after, listener_after, guest_after = await asyncio.to_thread(asyncio.run, after_restart())
    for hello in (host_after, listener_after, guest_after):
        assert shape(hello) == shape(before)
    assert host_after["you"]["role"] == "host" and "end" in host_after["you"]["may"]
    assert listener_after["you"]["role"] == "listener"
    assert "hand_lower" in listener_after["you"]["may"]


async def test_stale_presence_is_swept_and_the_count_drops(settings, live_space):
    watcher, _ = await join(live_space.room, live_space.host)
    alive = [(await join(live_space.room, None, guest_id=f"g{n}"))[0] for n in range(2)]
    # Sockets of a process that crashed: no disconnect ever came.
    for n in range(3):
        await Presence.objects.acreate(
            room=live_space.room,
            guest_id=f"ghost-{n}",
            channel_name=f"dead.process!{n}",
            listening=True,
        )
    await audio_on(alive)

    async def counted(n: int) -> bool:
        return await sync_to_async(live.listener_count)(live_space.room.pk) == n

    await eventually(lambda: counted(5))  # the guests' rows come with the next presence batch
    stale = timezone.now() - timedelta(seconds=settings.SPACES_PRESENCE_STALE_SECONDS + 1)
    await Presence.objects.filter(channel_name__startswith="dead.").aupdate(last_seen=stale)
    # A live guest's row that looks old is refreshed by its process's next touch.
    settings.SPACES_PRESENCE_TOUCH_SECONDS = 0
    await Presence.objects.filter(guest_id="g0").aupdate(last_seen=stale)

    async def refreshed() -> bool:
        return await Presence.objects.filter(guest_id="g0", last_seen__gt=stale).aexists()

    await eventually(refreshed)

    swept = await sync_to_async(live.presence_sweep)()

    assert swept == [live_space.room.pk]
    assert await sync_to_async(live.listener_count)(live_space.room.pk) == 2
    while (await watcher.wait_for("listeners"))["count"] != 2:
        pass
    assert await sync_to_async(live.presence_sweep)() == []
    for socket in alive + [watcher]:
        await socket.close()
    assert not await Presence.objects.filter(room=live_space.room).aexists()


async def test_a_room_state_snapshot_comes_before_any_delta(live_space):
    """A socket never gets a delta before its snapshot, even when the room is busy."""
    host, _ = await join(live_space.room, live_space.host)
    for n in range(5):
        socket = await open_socket(live_space.room, None, guest_id=f"g{n}")
        await host.send(type="post", text=f"busy {n}")
        first = await socket.next()
        assert first["type"] == "snapshot"
        await socket.close()
    before = await room_state(live_space.room)
    assert len(before[1]) == 5
    await host.close()


async def test_a_heartbeat_learns_of_an_end_no_event_announced(live_space, settings):
    """With the in-memory layer an auto-end in the Celery worker reaches no socket: the next
    heartbeat reads the Space's state and closes the socket as the event would have."""
    from rooms.models import Room

    settings.SPACES_PRESENCE_TOUCH_SECONDS = 0
    socket, _ = await join(live_space.room, live_space.listener)
    await Presence.objects.filter(room=live_space.room).adelete()  # swept while alive
    await socket.send(type="ping")
    await socket.wait_for("pong")
    await socket.roundtrip()  # the pong goes first; the refresh is done by the next one
    assert await Presence.objects.filter(room=live_space.room).acount() == 1  # written again

    await Room.objects.filter(pk=live_space.room.pk).aupdate(state="ended")  # no event sent
    await socket.send(type="ping")
    await socket.wait_for("room_ended")
    assert await socket.wait_closed() == 4410
    await socket.close()
