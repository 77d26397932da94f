"""The per-process fan-out: one channel-layer message per process, written to every local socket
of the room with the frame built once; counts and reactions coalesced per tick."""

import asyncio
from types import SimpleNamespace

import pytest
from channels.layers import get_channel_layer

from rooms import events, live, realtime
from rooms.consumers import TokenBucket
from rooms.live import Viewer


class FakeSocket:
    def __init__(self, user_id=None, fail=False):
        self.viewer = SimpleNamespace(user_id=user_id)
        self.frames: list[str] = []
        self.observed: list[str] = []
        self.fail = fail

    def wants(self, event):
        return True

    def write_now(self, wire):
        return False  # no daphne connection behind it: frames come through send_frame

    async def send_frame(self, frame):
        if self.fail:
            raise RuntimeError("socket went away")
        self.frames.append(frame)

    async def observe(self, event):
        self.observed.append(event["type"])


async def until(condition, timeout=2.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def broadcast(room_id, event_type, **payload):
    message = {"type": realtime.MESSAGE_TYPE, "room_id": room_id}
    await get_channel_layer().group_send(
        realtime.PROCESS_GROUP, {**message, "event": events.build(event_type, payload)}
    )


@pytest.fixture
async def hub():
    current = realtime.hub()
    yield current
    for room_id, sockets in list(current.rooms.items()):
        for socket in list(sockets):
            await current.discard(room_id, socket)


async def test_one_message_reaches_every_local_socket_in_the_room_with_one_frame(hub):
    here = [FakeSocket(user_id=n) for n in range(50)]
    elsewhere = FakeSocket(user_id=99)
    for socket in here:
        await hub.add(1, socket)
    await hub.add(2, elsewhere)
    await broadcast(1, "speaker_muted", user={"id": 3, "name": "C"}, muted=True)
    await until(lambda: all(s.frames for s in here))
    frames = {id(s.frames[0]) for s in here}
    assert len(frames) == 1  # the very same string object: serialised once
    assert '"type":"speaker_muted"' in here[0].frames[0]
    assert elsewhere.frames == []
    # Only the person it is about reacts to it (their role or removal).
    assert [s.viewer.user_id for s in here if s.observed] == [3]


async def test_events_everyone_reacts_to_are_observed_by_every_socket(hub):
    sockets = [FakeSocket(user_id=n) for n in (1, 2, None)]
    for socket in sockets:
        await hub.add(1, socket)
    await broadcast(1, "room_ended", ended_at=None)
    await until(lambda: all(s.observed for s in sockets))
    assert [s.observed for s in sockets] == [["room_ended"]] * 3


async def test_the_hub_is_in_the_process_group_while_it_holds_sockets(monkeypatch, hub):
    layer = get_channel_layer()
    calls = []
    for name in ("group_add", "group_discard"):
        real = getattr(layer, name)

        async def spy(group, channel, real=real, name=name):
            calls.append((name, group, channel))
            await real(group, channel)

        monkeypatch.setattr(layer, name, spy)
    first, second = FakeSocket(), FakeSocket()
    await hub.add(1, first)
    await hub.add(2, second)
    channel = hub.channel_name
    assert calls == [("group_add", realtime.PROCESS_GROUP, channel)]
    await hub.discard(1, first)
    assert len(calls) == 1
    await hub.discard(2, second)
    assert calls[1:] == [("group_discard", realtime.PROCESS_GROUP, channel)]
    assert hub._task is None and hub.socket_count == 0
    # And it starts again with the next socket.
    await hub.add(1, first)
    assert calls[-1][0] == "group_add"
    await broadcast(1, "hand_raised", user={"id": 5, "name": "E"})
    await until(lambda: first.frames)


async def test_the_hub_renews_its_group_membership_before_it_could_expire(monkeypatch, hub):
    monkeypatch.setattr(realtime, "GROUP_REFRESH_SECONDS", 0.02)
    layer = get_channel_layer()
    renewals = []
    real_group_add = layer.group_add

    async def spy(group, channel):
        renewals.append(group)
        await real_group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", spy)
    await hub.add(1, FakeSocket())
    await until(lambda: len(renewals) >= 3)
    assert set(renewals) == {realtime.PROCESS_GROUP}


async def test_a_failing_socket_does_not_stop_delivery_to_the_others(hub):
    broken, fine = FakeSocket(fail=True), FakeSocket()
    await hub.add(1, broken)
    await hub.add(1, fine)
    assert await hub.deliver(1, events.build("hand_raised", {"user": {"id": 1}})) == 1
    assert len(fine.frames) == 1


async def test_event_hooks_run_once_per_event_even_with_no_local_socket(monkeypatch, hub):
    seen = []

    async def hook(room_id, event):
        seen.append((room_id, event["type"]))

    monkeypatch.setattr(realtime, "event_hooks", [hook])
    assert await hub.deliver(7, events.build("speaker_muted", {"user": {"id": 1}})) == 0
    assert seen == [(7, "speaker_muted")]


async def test_each_event_loop_has_its_own_hub():
    mine = realtime.hub()
    assert realtime.hub() is mine
    other = await asyncio.to_thread(asyncio.run, _hub_of_a_new_loop())
    assert other is not mine


async def _hub_of_a_new_loop():
    return realtime.hub()


def test_people_do_not_get_posts_by_authors_they_blocked():
    viewer = Viewer(room_id=1, channel_name="c", user_id=1, hidden_authors=frozenset({9}))
    post = events.build("post_created", {"post": {"author": {"id": 9}}})
    assert not viewer.wants(post)
    assert viewer.wants(events.build("post_created", {"post": {"author": {"id": 8}}}))
    assert viewer.wants(events.build("post_deleted", {"post": 5}))


# Coalescing.


async def test_marks_within_an_interval_flush_once_per_room():
    flushed = []

    async def flush(room_id):
        flushed.append((room_id, asyncio.get_running_loop().time()))

    coalescer = realtime.Coalescer(0.05, flush)
    start = asyncio.get_running_loop().time()
    for _ in range(100):
        coalescer.mark(1)
        coalescer.mark(2)
    await until(lambda: len(flushed) == 2)
    assert sorted(room for room, _ in flushed) == [1, 2]
    assert all(at - start >= 0.05 for _, at in flushed)
    coalescer.mark(1)
    await until(lambda: len(flushed) == 3)
    assert flushed[-1][1] - flushed[0][1] >= 0.05
    await asyncio.sleep(0.12)
    assert len(flushed) == 3  # nothing marked, nothing sent


async def test_reactions_are_added_up_into_one_burst(monkeypatch):
    sent = []

    async def abroadcast(room_id, event_type, payload):
        sent.append((room_id, event_type, payload))

    monkeypatch.setattr(events, "abroadcast", abroadcast)
    tally = live.ReactionTally(0.02)
    for emoji in ["👏"] * 5 + ["🔥"] * 2:
        tally.add(4, emoji)
    await until(lambda: sent)
    assert sent == [(4, "reactions", {"counts": {"👏": 5, "🔥": 2}})]


def test_the_token_bucket_allows_a_burst_then_its_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("rooms.consumers.time.monotonic", lambda: now[0])
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one more token
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] += 60  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


@pytest.mark.django_db(transaction=True)
async def test_listener_counts_are_sent_from_the_event_loop(monkeypatch, live_space):
    # A worker thread that sends through `async_to_sync` waits on the event loop: when daphne
    # stops its loop on shutdown that thread never finishes, and the process cannot exit.
    def from_a_thread(*args):
        raise AssertionError("the count was sent from a worker thread")

    sent = []

    async def abroadcast(room_id, event_type, payload):
        sent.append((room_id, event_type, payload))

    monkeypatch.setattr(events, "group_send", from_a_thread)
    monkeypatch.setattr(events, "abroadcast", abroadcast)
    await live._flush_count(live_space.room.pk)
    assert sent == [
        (live_space.room.pk, "listeners", {"count": 0, "audience": {"people": [], "guests": 0}})
    ]
