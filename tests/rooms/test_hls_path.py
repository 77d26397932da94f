"""Which path a listener gets: WebRTC while the media worker has seats, HLS once it is full.

The refusal (`use_hls`, with the playlist's address) is decided on the server when it answers
the offer; people on stage always get WebRTC; a page playing HLS says so (`hls_listening`) and
counts as listening like a WebRTC one.
"""

import pytest
from asgiref.sync import sync_to_async

from rooms.models import Presence
from tests.media.audio_peers import AudioClient
from tests.rooms.live_helpers import join

from .test_audio_socket import CONFIG, connect_audio
from .test_media_worker import media_worker  # noqa: F401  (worker mode, over Redis)

# The worker-mode test runs with the services (Redis), the others with the audio tests.
pytestmark = [pytest.mark.django_db(transaction=True)]


@sync_to_async
def listening_presences() -> int:
    return Presence.objects.filter(listening=True).count()


@pytest.fixture
def one_seat(settings):
    settings.SPACES_MEDIA = {**settings.SPACES_MEDIA, "WEBRTC_LISTENER_CAPACITY": 1}


@pytest.mark.media
async def test_a_full_worker_sends_the_next_guest_to_hls_and_keeps_the_stage_on_webrtc(
    live_space, one_seat
):
    room = live_space.room
    first_socket, _ = await join(room, guest_id="guest-first")
    second_socket, _ = await join(room, guest_id="guest-second")
    speaker_socket, _ = await join(room, live_space.speaker)
    first, second = AudioClient(CONFIG), AudioClient(CONFIG)
    speaker = AudioClient(CONFIG, tone=440, direction="sendrecv")
    try:
        await connect_audio(first_socket, first)

        await second_socket.send(type="rtc_offer", sdp=await second.offer())
        refusal = await second_socket.wait_for("error", timeout=10)
        assert refusal["ref"] == "rtc_offer" and refusal["code"] == "use_hls"
        assert refusal["hls"] == f"/s/{room.slug}/hls/live.m3u8"

        # The stage is never refused, and the guest with the seat may offer again (a restart).
        await connect_audio(speaker_socket, speaker)
        again = AudioClient(CONFIG)
        try:
            await connect_audio(first_socket, again)
        finally:
            await again.close()

        # The seat comes free: the next offer gets WebRTC.
        await first_socket.send(type="rtc_close")
        await first_socket.send(type="ping")
        await first_socket.wait_for("pong")
        third = AudioClient(CONFIG)
        try:
            await connect_audio(second_socket, third)
        finally:
            await third.close()
    finally:
        for client in (first, second, speaker):
            await client.close()
        for socket in (first_socket, second_socket, speaker_socket):
            await socket.close()


@pytest.mark.media
async def test_an_hls_player_counts_as_listening_and_bad_input_changes_nothing(live_space):
    watcher, _ = await join(live_space.room, live_space.host)
    guest_socket, hello = await join(live_space.room, guest_id="guest-on-hls")
    assert hello["listeners"] == 0
    try:
        await guest_socket.send(type="hls_listening", listening="yes")
        error = await guest_socket.wait_for("error")
        assert error["code"] == "invalid_field"
        await guest_socket.roundtrip()
        assert not await listening_presences()
        await guest_socket.send(type="hls_listening", listening=True)
        while (await watcher.wait_for("listeners"))["count"] != 1:
            pass
        assert await listening_presences() == 1
        await guest_socket.send(type="hls_listening", listening=False)
        while (await watcher.wait_for("listeners"))["count"] != 0:
            pass
    finally:
        await watcher.close()
        await guest_socket.close()


@pytest.fixture
def one_seat_env(monkeypatch):
    """Media worker processes started after this have one WebRTC listener seat."""
    monkeypatch.setenv("SPACES_WEBRTC_LISTENER_CAPACITY", "1")


@pytest.mark.services
async def test_the_media_worker_decides_use_hls_when_its_seats_are_full(
    one_seat_env,
    media_worker,  # noqa: F811
    live_space,
):
    room = live_space.room
    first_socket, _ = await join(room, guest_id="guest-first")
    second_socket, _ = await join(room, guest_id="guest-second")
    first, second = AudioClient(CONFIG), AudioClient(CONFIG)
    try:
        await connect_audio(first_socket, first)
        await second_socket.send(type="rtc_offer", sdp=await second.offer())
        refusal = await second_socket.wait_for("error", timeout=10)
        assert (refusal["code"], refusal["hls"]) == ("use_hls", f"/s/{room.slug}/hls/live.m3u8")
    finally:
        for client in (first, second):
            await client.close()
        for socket in (first_socket, second_socket):
            await socket.close()
