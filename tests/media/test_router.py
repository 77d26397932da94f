"""What people in a Space hear, through real WebRTC (aiortc peers on loopback)."""

import asyncio
import time
from dataclasses import replace

import pytest

from rooms.media import OfferError, Router, RouterClosed

from .audio_peers import dominant_frequency, eventually, rms, tone_share

pytestmark = pytest.mark.media

SILENT_RMS = 100  # the tones play at ~4,000 RMS after the client's stereo encoding
# tone_share thresholds leave room for the odd dropout on a busy machine, whose clicks spread
# a little energy over the spectrum; a tone that is really there has most of the power


async def heard(client, seconds=1.0):
    """What the client hears over the next `seconds`."""
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return client.recording.between(start, time.monotonic())


async def settle():
    """Let audio flow through both jitter buffers after a join or a change."""
    await asyncio.sleep(0.5)


async def test_speaker_is_heard_by_a_listener_and_a_guest(router, make_client):
    speaker = make_client(tone=440, direction="sendrecv")
    await speaker.join(router, "host", role="speaker")
    listener = make_client(direction="recvonly")
    await listener.join(router, "listener")
    guest = make_client(direction="sendrecv")  # a browser's default offer, with no microphone
    await guest.join(router, "guest")
    await settle()

    for person in (listener, guest):
        samples = await heard(person)
        assert samples.size >= 0.75 * 48_000  # a loaded machine delays some frames
        assert abs(dominant_frequency(samples) - 440) <= 10
        assert rms(samples) > 1000
    assert router.stats()["listeners"] == 2
    assert router.levels()["host"] > 0.5


async def two_speakers_and_a_listener(router, make_client):
    """Speakers playing 440 Hz ("low") and 660 Hz ("high"), and a listener, all settled in."""
    low = make_client(tone=440, direction="sendrecv")
    high = make_client(tone=660, direction="sendrecv")
    listener = make_client()
    await low.join(router, "low", role="speaker")
    await high.join(router, "high", role="speaker")
    await listener.join(router, "listener")
    await settle()
    return low, high, listener


async def test_speakers_hear_each_other_but_not_themselves(router, make_client):
    low, high, listener = await two_speakers_and_a_listener(router, make_client)

    room, low_hears, high_hears = await asyncio.gather(heard(listener), heard(low), heard(high))
    assert tone_share(room, 440) > 0.3 and tone_share(room, 660) > 0.3
    assert tone_share(low_hears, 660) > 0.9 and tone_share(low_hears, 440) < 0.01
    assert tone_share(high_hears, 440) > 0.9 and tone_share(high_hears, 660) < 0.01


async def test_muted_speaker_goes_silent_at_the_router_quickly(router, make_client):
    speaker = make_client(tone=440, direction="sendrecv")
    listener = make_client()
    await speaker.join(router, "speaker", role="speaker")
    await listener.join(router, "listener")
    await settle()
    assert rms(await heard(listener, 0.3)) > 1000

    muted_at = time.monotonic()
    assert await router.set_muted("speaker", True)
    await asyncio.sleep(0.8)
    after = [block for at, block in listener.recording.blocks if at >= muted_at]
    still_heard = max(
        (i + 1 for i, block in enumerate(after) if rms(block) >= SILENT_RMS), default=0
    )
    # counted in 20 ms frames, so a busy machine does not stretch it: one tick at the router,
    # plus what was already in flight and in the client's 80 ms jitter buffer
    assert still_heard * 0.02 <= 0.3, still_heard
    assert len(after) - still_heard >= 20  # and silence from then on

    await asyncio.sleep(router.config.levels_interval * 2)
    assert router.levels() == {"speaker": 0.0}

    assert await router.set_muted("speaker", False)
    await settle()
    assert abs(dominant_frequency(await heard(listener, 0.5)) - 440) <= 10


async def test_speaker_who_joins_muted_is_not_heard(router, make_client):
    speaker = make_client(tone=440, direction="sendrecv")
    listener = make_client()
    offer = await speaker.offer()
    await speaker.accept(await router.connect_speaker("speaker", offer, muted=True))
    await speaker.connected()
    await listener.join(router, "listener")
    await settle()
    assert rms(await heard(listener, 0.5)) < SILENT_RMS


async def test_demoted_speaker_is_no_longer_heard_and_hears_the_room(router, make_client):
    demoted = make_client(tone=440, direction="sendrecv")
    other = make_client(tone=660, direction="sendrecv")
    listener = make_client()
    await demoted.join(router, "demoted", role="speaker")
    await other.join(router, "other", role="speaker")
    await listener.join(router, "listener")
    await settle()
    assert tone_share(await heard(listener, 0.5), 440) > 0.3

    assert await router.set_role("demoted", "listener")
    await asyncio.sleep(0.3)
    room, demoted_hears = await asyncio.gather(heard(listener), heard(demoted))
    assert tone_share(room, 660) > 0.9 and tone_share(room, 440) < 0.01
    assert tone_share(demoted_hears, 660) > 0.9
    assert router.stats()["speakers"] == 1
    assert set(router.levels()) == {"other"}


@pytest.mark.parametrize("direction", ["sendrecv", "sendonly"])
async def test_guest_that_sends_audio_is_never_heard(router, make_client, direction):
    speaker = make_client(tone=440, direction="sendrecv")
    intruder = make_client(tone=660, direction=direction)
    listener = make_client()
    await speaker.join(router, "speaker", role="speaker")
    answer = await intruder.join(router, "guest")
    await listener.join(router, "listener")
    await settle()

    assert ("a=sendonly" if direction == "sendrecv" else "a=inactive") in answer
    assert "a=recvonly" not in answer and "a=sendrecv" not in answer
    room = await heard(listener)
    assert tone_share(room, 440) > 0.9 and tone_share(room, 660) < 0.01
    if direction == "sendrecv":
        assert abs(dominant_frequency(await heard(intruder, 0.5)) - 440) <= 10
    assert set(router.levels()) == {"speaker"}


async def test_levels_are_reported_at_most_five_times_a_second(media_config, make_client):
    reports = []
    room = Router(
        "levels-room",
        media_config,
        on_levels=lambda levels: reports.append((time.monotonic(), levels)),
    )
    try:
        speaker = make_client(tone=440, direction="sendrecv")
        await speaker.join(room, "speaker", role="speaker")
        await asyncio.sleep(1.2)
        await room.set_muted("speaker", True)
        await asyncio.sleep(0.6)
    finally:
        await room.close()
    times = [at for at, _ in reports]
    assert all(b - a >= 0.19 for a, b in zip(times, times[1:], strict=False))
    assert any(levels.get("speaker", 0) > 0.5 for _, levels in reports)
    assert reports[-1][1] == {"speaker": 0.0}


async def test_a_peer_that_connects_again_replaces_its_old_connection(router, make_client):
    speaker = make_client(tone=440, direction="sendrecv")
    await speaker.join(router, "speaker", role="speaker")
    first = make_client()
    await first.join(router, "person")
    # promoted: the same person publishes with a new offer
    second = make_client(tone=660, direction="sendrecv")
    await second.join(router, "person", role="speaker")
    await settle()
    stats = router.stats()
    assert (stats["speakers"], stats["listeners"]) == (2, 0)
    assert tone_share(await heard(second, 0.5), 440) > 0.9
    # the old connection is closed by the room, and the client sees it
    assert await eventually(lambda: first.pc.connectionState == "closed")


async def test_a_listener_that_leaves_is_removed(router, make_client):
    listener = make_client()
    await listener.join(router, "listener")
    await listener.close()
    assert await eventually(lambda: router.stats()["listeners"] == 0)


@pytest.mark.parametrize(
    "offer_kind, message",
    [("video", "audio only"), ("datachannel", "audio only"), ("pcmu", "Opus")],
)
async def test_offers_the_room_cannot_carry_are_refused(router, make_client, offer_kind, message):
    client = make_client()
    if offer_kind == "video":
        client.pc.addTransceiver("video", direction="recvonly")
    elif offer_kind == "datachannel":
        client.pc.createDataChannel("chat")
    offer = await client.offer()
    if offer_kind == "pcmu":
        offer = "\r\n".join(
            line.replace("opus/48000/2", "PCMU/8000")
            for line in offer.split("\r\n")
            if not line.startswith("a=fmtp")
        )
    with pytest.raises(OfferError, match=message):
        await router.connect_listener("someone", offer)
    assert router.stats()["listeners"] == 0 and router.stats()["joining"] == 0


async def test_moderating_someone_who_is_not_there_reports_it(router):
    assert not await router.set_muted("nobody", True)
    assert not await router.set_role("nobody", "listener")
    assert not await router.disconnect("nobody")
    with pytest.raises(ValueError):
        await router.set_role("nobody", "host")


async def test_a_closed_room_refuses_joins_and_closes_its_peers(media_config, make_client):
    room = Router("closing", media_config)
    speaker = make_client(tone=440, direction="sendrecv")
    listener = make_client()
    await speaker.join(room, "speaker", role="speaker")
    await listener.join(room, "listener")
    await room.close()
    assert room.stats()["speakers"] == room.stats()["listeners"] == 0
    with pytest.raises(RouterClosed):
        await room.connect_listener("late", await make_client().offer())


async def test_speaker_may_publish_and_listen_on_separate_sections(router, make_client):
    two_way = make_client(tone=440, direction="sendonly")
    two_way.pc.addTransceiver("audio", direction="recvonly")  # what they hear comes here
    other = make_client(tone=660, direction="sendrecv")
    listener = make_client()
    answer = await two_way.join(router, "two-way", role="speaker")
    await other.join(router, "other", role="speaker")
    await listener.join(router, "listener")
    await settle()

    assert answer.count("a=recvonly") == 1 and answer.count("a=sendonly") == 1
    room, two_way_hears = await asyncio.gather(heard(listener), heard(two_way))
    assert tone_share(room, 440) > 0.3 and tone_share(room, 660) > 0.3
    assert tone_share(two_way_hears, 660) > 0.9 and tone_share(two_way_hears, 440) < 0.01


async def test_a_peer_that_never_connects_is_let_go(media_config, make_client):
    room = Router("impatient", replace(media_config, connect_timeout=0.3))
    try:
        client = make_client()
        await room.connect_listener("ghost", await client.offer())  # the answer never arrives
        assert room.stats()["listeners"] == 1
        assert await eventually(lambda: room.stats()["listeners"] == 0, within=2.0)
    finally:
        await room.close()


async def test_answers_announce_only_the_configured_addresses(media_config, make_client):
    room = Router("behind-nat", replace(media_config, announce_addresses=["203.0.113.9"]))
    try:
        started = time.monotonic()
        answer = await room.connect_listener("listener", await make_client().offer())
        took = time.monotonic() - started
    finally:
        await room.close()
    candidates = [line.split()[4:8:3] for line in answer.splitlines() if "candidate:" in line]
    assert candidates == [["203.0.113.9", "host"]]  # bound on 127.0.0.1, announced publicly
    assert "c=IN IP4 203.0.113.9" in answer
    assert took < 1.0  # no STUN server to wait for


@pytest.mark.parametrize("packet_ms", [40, 60])
async def test_listeners_can_get_longer_packets_while_speakers_keep_20_ms(
    media_config, make_client, packet_ms
):
    router = Router("long-packets", replace(media_config, listener_packet_ms=packet_ms))
    try:
        low, high, listener = await two_speakers_and_a_listener(router, make_client)
        sent_before = router.stats()["packets_sent"]
        started = time.monotonic()
        room, low_hears = await asyncio.gather(heard(listener), heard(low))
        elapsed = time.monotonic() - started

        # the listener hears the whole room in packets of packet_ms ...
        assert tone_share(room, 440) > 0.3 and tone_share(room, 660) > 0.3
        sizes = {block.size for at, block in listener.recording.blocks[-10:]}
        assert sizes == {48 * packet_ms}
        # ... while a speaker still hears everyone else in 20 ms packets
        assert tone_share(low_hears, 660) > 0.9 and tone_share(low_hears, 440) < 0.01
        assert {block.size for at, block in low.recording.blocks[-10:]} == {960}
        # two speakers at 50 packets a second, the listener at 1000 / packet_ms (a loaded
        # machine may fall behind the clock, never ahead of it)
        expected = elapsed * (2 * 50 + 1000 / packet_ms)
        sent = router.stats()["packets_sent"] - sent_before
        assert 0.6 * expected <= sent <= 1.2 * expected
    finally:
        await router.close()
