"""Audio offers over the room socket: malformed ones get `bad_offer` (and no traceback), one per
socket is in flight at a time (`offer_busy`), and offers have their own budget per socket and per
person (`rate_limited`). A speaker's audio follows their seat even when a mute, a move back or a
deactivation races their offer."""

import asyncio
import logging
import time

import pytest
from asgiref.sync import sync_to_async

from rooms import media_bridge, services
from rooms.media import MediaConfig
from tests.media.audio_peers import AudioClient, dominant_frequency, rms
from tests.media.test_offer_shapes import HOSTILE

from .live_helpers import join, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.media,
    pytest.mark.usefixtures("settled_ticks"),
]

CONFIG = MediaConfig.loopback()


async def real_offer(**kwargs) -> tuple[AudioClient, str]:
    client = AudioClient(CONFIG, **kwargs)
    return client, await client.offer()


def reshaped(sdp: str, shape: str) -> str:
    """A real aiortc offer bent into one of the hostile shapes."""
    old, new = HOSTILE[shape]
    lines = sdp.split("\r\n")
    prefix = old.split(":")[0].split(" ")[0]

    def matches(line: str) -> bool:
        return line.split(":")[0].split(" ")[0] == prefix

    if new is None:
        return "\r\n".join(line for line in lines if not matches(line))
    for index, line in enumerate(lines):
        if matches(line):
            lines[index] = new
            return "\r\n".join(lines)
    lines.insert(7, new)
    return "\r\n".join(lines)


async def test_malformed_offers_get_bad_offer_and_leave_no_traceback(live_space, caplog, settings):
    settings.SPACES_OFFER_BURST = 100
    settings.SPACES_OFFER_PERSON_LIMIT = 100
    socket, _ = await join(live_space.room, live_space.speaker)
    client, sdp = await real_offer(tone=440, direction="sendrecv")
    try:
        with caplog.at_level(logging.WARNING):
            for shape in sorted(set(HOSTILE) - {"binary"}):  # the protocol refuses control bytes
                await socket.send(type="rtc_offer", sdp=reshaped(sdp, shape))
                error = await socket.wait_for("error", timeout=10)
                assert (error["code"], error.get("ref")) == ("bad_offer", "rtc_offer"), (
                    shape,
                    error,
                )
                assert error["message"]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        await socket.roundtrip()  # still here
    finally:
        await client.close()
        await socket.close()


async def test_one_offer_in_flight_per_socket(live_space, monkeypatch):
    gate = asyncio.Event()
    offer = media_bridge.offer

    async def held_offer(viewer, sdp):
        await gate.wait()  # the first offer is still being answered
        return await offer(viewer, sdp)

    monkeypatch.setattr(media_bridge, "offer", held_offer)
    socket, _ = await join(live_space.room, guest_id="guest-twice")
    client, sdp = await real_offer()
    try:
        await socket.send(type="rtc_offer", sdp=sdp)
        await socket.send(type="rtc_offer", sdp=sdp)
        busy = await socket.wait_for("error")
        assert (busy["code"], busy["ref"]) == ("offer_busy", "rtc_offer")
        gate.set()
        answer = await socket.wait_for("rtc_answer", timeout=10)
        await client.accept(answer["sdp"])
        await client.connected(within=10)
    finally:
        await client.close()
        await socket.close()


async def test_offers_have_a_budget_per_socket(live_space):
    socket, _ = await join(live_space.room, guest_id="guest-greedy")
    try:
        codes = []
        for _ in range(5):
            await socket.send(type="rtc_offer", sdp="v=0\r\nm=audio 9 RTP/SAVPF 300\r\n")
            codes.append((await socket.wait_for("error"))["code"])
        assert codes == ["bad_offer"] * 3 + ["rate_limited"] * 2
    finally:
        await socket.close()


async def test_offers_have_a_budget_per_person_across_their_sockets(live_space, settings):
    settings.SPACES_OFFER_BURST = 100
    settings.SPACES_OFFER_PERSON_LIMIT = 4
    sockets = [(await join(live_space.room, live_space.listener))[0] for _ in range(2)]
    try:
        codes = []
        for n in range(6):
            socket = sockets[n % 2]
            await socket.send(type="rtc_offer", sdp="v=0\r\n")
            codes.append((await socket.wait_for("error"))["code"])
        assert codes == ["bad_offer"] * 4 + ["rate_limited"] * 2
    finally:
        for socket in sockets:
            await socket.close()


async def test_a_mute_that_races_a_speakers_offer_still_silences_them(live_space, monkeypatch):
    """The host mutes the speaker after the bridge read the speaker's seat (unmuted) and before
    their new connection is registered: the router still drops their voice."""
    audio_role = media_bridge._audio_role
    raced = []

    def read_then_muted(room_id, user_id):
        seat = audio_role(room_id, user_id)
        if user_id == live_space.speaker.pk and not raced:
            raced.append(seat)
            services.speaker_mute(
                room=live_space.room, user=live_space.speaker, actor=live_space.host
            )
            time.sleep(0.5)  # the event reaches this process's router meanwhile
        return seat

    monkeypatch.setattr(media_bridge, "_audio_role", read_then_muted)
    speaker_socket, _ = await join(live_space.room, live_space.speaker)
    listener_socket, _ = await join(live_space.room, live_space.listener)
    speaker = AudioClient(CONFIG, tone=523, direction="sendrecv")
    listener = AudioClient(CONFIG)
    try:
        for socket, client in ((listener_socket, listener), (speaker_socket, speaker)):
            await socket.send(type="rtc_offer", sdp=await client.offer())
            answer = await socket.wait_for("rtc_answer", timeout=10)
            await client.accept(answer["sdp"])
            await client.connected(within=10)
        assert raced == [("speaker", False)]
        await asyncio.sleep(0.8)
        start = time.monotonic()
        await asyncio.sleep(1.0)
        heard = listener.recording.between(start, time.monotonic())
        assert rms(heard) < 50, dominant_frequency(heard)
    finally:
        await speaker.close()
        await listener.close()
        await speaker_socket.close()
        await listener_socket.close()


async def test_a_deactivated_speaker_stops_being_heard(live_space):
    speaker_socket, _ = await join(live_space.room, live_space.speaker)
    listener_socket, _ = await join(live_space.room, live_space.listener)
    speaker = AudioClient(CONFIG, tone=523, direction="sendrecv")
    listener = AudioClient(CONFIG)
    try:
        for socket, client in ((speaker_socket, speaker), (listener_socket, listener)):
            await socket.send(type="rtc_offer", sdp=await client.offer())
            answer = await socket.wait_for("rtc_answer", timeout=10)
            await client.accept(answer["sdp"])
            await client.connected(within=10)
        await asyncio.sleep(0.5)
        start = time.monotonic()
        await asyncio.sleep(0.8)
        assert (
            abs(dominant_frequency(listener.recording.between(start, time.monotonic())) - 523) < 10
        )

        def deactivate():
            user = type(live_space.speaker).objects.get(pk=live_space.speaker.pk)
            user.is_active = False
            user.save()

        await sync_to_async(deactivate)()
        assert await speaker_socket.wait_closed() == 4403
        await asyncio.sleep(0.5)
        start = time.monotonic()
        await asyncio.sleep(0.8)
        assert rms(listener.recording.between(start, time.monotonic())) < 50
    finally:
        await speaker.close()
        await listener.close()
        await speaker_socket.close()
        await listener_socket.close()


async def test_guests_offers_have_a_budget_per_address(live_space, settings):
    """Guests from one address share a budget, however many cookies they bring."""
    settings.SPACES_OFFER_BURST = 100
    settings.SPACES_OFFER_ADDRESS_LIMIT = 3
    sockets = [(await join(live_space.room, guest_id=f"guest-{n}"))[0] for n in range(3)]
    try:
        codes = []
        for socket in sockets * 2:
            await socket.send(type="rtc_offer", sdp="v=0\r\n")
            codes.append((await socket.wait_for("error"))["code"])
        assert codes == ["bad_offer"] * 3 + ["rate_limited"] * 3
    finally:
        for socket in sockets:
            await socket.close()
