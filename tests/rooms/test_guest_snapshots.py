"""Guests joining a Space share one snapshot read per room until something in the room changes."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from rooms import events, posts, realtime, snapshot

from .live_helpers import join, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]


@pytest.fixture
def reads(monkeypatch):
    """How many snapshots were read from the database."""
    counted = []
    real = snapshot.room_snapshot

    def counting(**kwargs):
        counted.append(kwargs["viewer"].user_id)
        return real(**kwargs)

    monkeypatch.setattr(snapshot, "room_snapshot", counting)
    return counted


def room_part(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "listeners"}


async def close_all(sockets):
    for socket in sockets:
        await socket.close()


async def test_a_crowd_of_guests_costs_one_read_and_all_see_the_same_room(live_space, reads):
    await sync_to_async(posts.post_create)(room=live_space.room, author=live_space.host, text="hi")
    joined = await asyncio.gather(*(join(live_space.room, guest_id=f"g{i}") for i in range(8)))
    sockets = [socket for socket, _ in joined]
    try:
        assert reads == [None]
        states = [room_part(state) for _, state in joined]
        assert all(state == states[0] for state in states)
        assert [p["text"] for p in states[0]["posts"]] == ["hi"]
        assert states[0]["you"] == {
            "user": None,
            "guest": True,
            "role": "guest",
            "muted": True,
            "may": ["react"],
            "invite": None,
        }
        assert {person["role"] for person in states[0]["stage"]} == {"host", "cohost", "speaker"}
    finally:
        await close_all(sockets)


async def test_a_change_in_the_room_is_in_the_next_guests_snapshot(live_space, reads):
    first, _ = await join(live_space.room, guest_id="early")
    try:
        await sync_to_async(posts.post_create)(
            room=live_space.room, author=live_space.host, text="news"
        )
        await first.wait_for("post_created")  # the event reached this process's hub
        late, state = await join(live_space.room, guest_id="late")
        await late.close()
        assert len(reads) == 2
        assert [p["text"] for p in state["posts"]] == ["news"]
    finally:
        await first.close()


async def test_counts_and_reactions_do_not_cost_a_new_read_but_the_count_is_current(
    live_space, reads
):
    first, _ = await join(live_space.room, guest_id="early")
    try:
        room_id = live_space.room.pk
        await realtime.hub().deliver(room_id, events.build("reactions", {"counts": {"👏": 3}}))
        await realtime.hub().deliver(room_id, events.build("listeners", {"count": 41}))
        late, state = await join(live_space.room, guest_id="late")
        await late.close()
        assert len(reads) == 1
        assert state["listeners"] == 41
    finally:
        await first.close()


async def test_signed_in_people_get_their_own_snapshot(live_space, reads):
    guest, _ = await join(live_space.room, guest_id="g")
    listener, state = await join(live_space.room, live_space.listener)
    try:
        assert reads == [None, live_space.listener.pk]
        assert state["you"]["user"]["id"] == live_space.listener.pk
        assert "hand_raise" in state["you"]["may"]
    finally:
        await close_all([guest, listener])
