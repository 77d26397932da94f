"""Audio through the whole stack: offers over the room socket, roles from the database.

aiortc clients stand in for browsers; an FFT of what a listener recorded tells what it heard.
"""

import asyncio
import time

import pytest

from rooms.media import MediaConfig
from tests.media.audio_peers import AudioClient, dominant_frequency, rms, tone_share
from tests.rooms.live_helpers import join

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.media]

CONFIG = MediaConfig.loopback()


async def connect_audio(socket, client: AudioClient) -> None:
    await socket.send(type="rtc_offer", sdp=await client.offer())
    answer = await socket.wait_for("rtc_answer", timeout=10)
    await client.accept(answer["sdp"])
    await client.connected(within=10)


async def record(client: AudioClient, seconds: float):
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return client.recording.between(start, time.monotonic())


async def test_a_speaker_is_heard_by_a_guest_and_a_guest_offering_to_send_injects_nothing(
    live_space,
):
    clients = []
    speaker_socket, _ = await join(live_space.room, live_space.speaker)
    speaker = AudioClient(CONFIG, tone=440, direction="sendrecv")
    guest_socket, _ = await join(live_space.room, guest_id="guest-listening")
    guest = AudioClient(CONFIG)
    # A second guest whose offer asks to publish a 660 Hz tone: answered send-only.
    forger_socket, _ = await join(live_space.room, guest_id="guest-forging")
    forger = AudioClient(CONFIG, tone=660, direction="sendrecv")
    clients += [speaker, guest, forger]
    try:
        for socket, client in (
            (speaker_socket, speaker),
            (guest_socket, guest),
            (forger_socket, forger),
        ):
            await connect_audio(socket, client)
        heard = await record(guest, 1.5)
        assert abs(dominant_frequency(heard) - 440) < 10
        assert tone_share(heard, 660) < 0.01
        # The speaker hears the room without their own voice (and no forged tone).
        assert rms(await record(speaker, 0.5)) < 50

        await speaker_socket.send(type="mute", user=live_space.speaker.pk, muted=True)
        await guest_socket.wait_for("speaker_muted")
        await asyncio.sleep(0.3)  # the jitter buffer drains
        assert rms(await record(guest, 0.5)) < 50
    finally:
        for client in clients:
            await client.close()
        for socket in (speaker_socket, guest_socket, forger_socket):
            await socket.close()


async def test_a_speaker_moved_back_by_the_host_stops_being_heard(live_space):
    host_socket, _ = await join(live_space.room, live_space.host)
    speaker_socket, _ = await join(live_space.room, live_space.speaker)
    listener_socket, _ = await join(live_space.room, live_space.listener)
    speaker = AudioClient(CONFIG, tone=523, direction="sendrecv")
    listener = AudioClient(CONFIG)
    try:
        await connect_audio(speaker_socket, speaker)
        await connect_audio(listener_socket, listener)
        assert abs(dominant_frequency(await record(listener, 1.0)) - 523) < 10

        await host_socket.send(type="move_to_audience", user=live_space.speaker.pk)
        await listener_socket.wait_for("moved_to_audience")
        await asyncio.sleep(0.3)
        assert rms(await record(listener, 0.5)) < 50
    finally:
        await speaker.close()
        await listener.close()
        for socket in (host_socket, speaker_socket, listener_socket):
            await socket.close()


async def test_a_listener_offer_never_publishes_even_when_it_asks_to(live_space):
    listener_socket, _ = await join(live_space.room, live_space.listener)
    guest_socket, _ = await join(live_space.room, guest_id="guest-ear")
    forger = AudioClient(CONFIG, tone=700, direction="sendonly")
    guest = AudioClient(CONFIG)
    try:
        await connect_audio(listener_socket, forger)
        await connect_audio(guest_socket, guest)
        heard = await record(guest, 1.0)
        assert rms(heard) < 50
    finally:
        await forger.close()
        await guest.close()
        await listener_socket.close()
        await guest_socket.close()


async def test_a_guest_counts_as_listening_once_their_audio_is_on(live_space):
    watcher, _ = await join(live_space.room, live_space.host)
    guest_socket, hello = await join(live_space.room, guest_id="guest-counted")
    assert hello["listeners"] == 0  # the page is open, nobody is listening yet
    guest = AudioClient(CONFIG)
    try:
        await connect_audio(guest_socket, guest)
        while (await watcher.wait_for("listeners"))["count"] != 1:
            pass
        await guest_socket.send(type="rtc_close")
        while (await watcher.wait_for("listeners"))["count"] != 0:
            pass
    finally:
        await guest.close()
        await guest_socket.close()
        await watcher.close()
