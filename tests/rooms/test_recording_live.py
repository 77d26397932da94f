"""A recorded Space from the host going live to the replay and its clips, with real audio.

The host speaks a 440 Hz tone, a speaker who said yes 660 Hz and a speaker who declined
880 Hz, each from an aiortc peer over the room socket. A guest hears all three live; the
replay's segments, its .m4a and every clip hold 440 and 660 Hz and never 880 Hz (FFT of what a
player decodes).
"""

import asyncio

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from rooms import recordings, services
from rooms.models import Recording, Room
from tests.factories import UserFactory
from tests.media.audio_peers import AudioClient, tone_share
from tests.media.test_hls import decode, parse

from .live_helpers import join
from .recording_helpers import decode_file, files_of
from .test_audio_socket import CONFIG, connect_audio, record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.media]


@pytest.fixture
def storage_dirs(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "hls": {"BACKEND": "rooms.hls.LiveFileStorage", "OPTIONS": {"location": tmp_path / "h"}},
        "recordings": {
            "BACKEND": "rooms.hls.LiveFileStorage",
            "OPTIONS": {"location": tmp_path / "r"},
        },
    }
    return tmp_path


def recorded_space():
    host = UserFactory(profile="Hana Host")
    room = services.room_create(host=host, title="Recorded at dawn")
    Room.objects.filter(pk=room.pk).update(record=True)
    room.refresh_from_db()
    yes, no = UserFactory(profile="Yara Yes"), UserFactory(profile="Noor No")
    return room, host, yes, no


async def wait_until(condition, within: float = 15.0):
    for _ in range(int(within / 0.1)):
        if await database_sync_to_async(condition)():
            return True
        await asyncio.sleep(0.1)
    return False


def shares(samples):
    return {f: round(tone_share(samples, f), 3) for f in (440, 660, 880)}


def assert_recorded_mix(samples):
    """The host and the speaker who said yes, never the one who declined."""
    found = shares(samples)
    assert found[440] > 0.2 and found[660] > 0.2 and found[880] < 0.01, found


async def test_a_recorded_space_keeps_only_the_voices_that_consented(storage_dirs):
    room, host, yes, no = await database_sync_to_async(recorded_space)()
    host_socket, _ = await join(room, host)
    sockets = {"host": host_socket}
    for name, person in (("yes", yes), ("no", no)):
        sockets[name], _ = await join(room, person)
        await host_socket.send(type="promote", user=person.pk, role="speaker")
        await sockets[name].wait_for("speaker_promoted")
    sockets["guest"], _ = await join(room, guest_id="guest-replay")
    peers = {
        "host": AudioClient(CONFIG, tone=440, direction="sendrecv"),
        "yes": AudioClient(CONFIG, tone=660, direction="sendrecv"),
        "no": AudioClient(CONFIG, tone=880, direction="sendrecv"),
        "guest": AudioClient(CONFIG),
    }
    try:
        for name, person in (("host", host), ("yes", yes), ("no", no)):
            await sockets[name].send(type="mute", user=person.pk, muted=False)
            await sockets[name].wait_for("speaker_unmuted")
        # the yes is said before the audio; the no once the speaker is already heard
        await sockets["yes"].send(type="recording_consent", consent=True)
        event = await sockets["guest"].wait_for("recording_consent", user_id=yes.pk)
        assert event["consent"] is True and isinstance(event["seq"], int)
        for name in ("host", "yes", "no", "guest"):
            await connect_audio(sockets[name], peers[name])
        await sockets["no"].send(type="recording_consent", consent=False)
        await sockets["guest"].wait_for("recording_consent", user_id=no.pk, consent=False)
        # the host cannot decline: a clear error, nothing changes
        await host_socket.send(type="recording_consent", consent=False)
        refused = await host_socket.wait_for("error", ref="recording_consent")
        assert "always recorded" in refused["message"]

        live = await record(peers["guest"], 1.5)  # everyone is heard live
        found = shares(live)
        assert found[440] > 0.1 and found[660] > 0.1 and found[880] > 0.1, found

        recording = await database_sync_to_async(Recording.objects.get)(room=room)
        assert recording.state == "recording" and recording.started_at is not None
        await asyncio.sleep(3.0)  # at least two whole segments written
        clip = await database_sync_to_async(recordings.create_clip)(
            user=yes, room=room, start=None, duration=3
        )
        await database_sync_to_async(clip.refresh_from_db)()
        assert clip.state == "ready", clip.state
        live_clip = decode_file(await database_sync_to_async(read)(recording, clip.audio_file))
        assert live_clip.size / 48_000 == pytest.approx(3.0, abs=0.05)
        assert_recorded_mix(live_clip[4800:])

        await host_socket.send(type="end")
        await sockets["guest"].wait_for("room_ended")
    finally:
        for peer in peers.values():
            await peer.close()
        for socket in sockets.values():
            await socket.close()

    # the router closed with the end, its last segments went out and the replay was assembled
    assert await wait_until(lambda: Recording.objects.get(pk=recording.pk).state == "ready"), (
        await database_sync_to_async(lambda: Recording.objects.get(pk=recording.pk).state)()
    )
    recording = await database_sync_to_async(Recording.objects.get)(pk=recording.pk)
    assert recording.duration > 3  # ~5 s of audio; a loaded machine drops late ticks
    http = AsyncClient()
    playlist = await http.get(f"/s/{room.slug}/replay/replay.m3u8")
    assert playlist.status_code == 200
    tags, segments = parse(playlist.content.decode())
    assert tags["EXT-X-PLAYLIST-TYPE"] == "VOD" and "EXT-X-ENDLIST" in tags
    init = (await http.get(f"/s/{room.slug}/replay/{tags['EXT-X-MAP'].split(chr(34))[1]}")).content
    replayed = []
    for segment in segments:
        response = await http.get(f"/s/{room.slug}/replay/{segment['name']}")
        assert response.status_code == 200
        replayed.append(decode(init, response.content))
    after_no = np.concatenate(replayed[1:])  # from the second segment: all three are on
    assert_recorded_mix(after_no)
    assert all(tone_share(part, 880) < 0.01 for part in replayed)

    audio = await http.get(f"/s/{room.slug}/replay/audio.m4a")
    whole = decode_file(b"".join(audio.streaming_content))
    assert whole.size / 48_000 == pytest.approx(recording.duration, abs=0.1)
    assert_recorded_mix(whole[48_000:])

    clip = await database_sync_to_async(recordings.create_clip)(
        user=host,
        room=await database_sync_to_async(Room.objects.get)(pk=room.pk),
        start=1.0,
        duration=3.0,
    )
    await database_sync_to_async(clip.refresh_from_db)()
    assert clip.state == "ready"
    heard = decode_file(b"".join((await http.get(f"/c/{clip.slug}/audio.m4a")).streaming_content))
    assert heard.size / 48_000 == pytest.approx(3.0, abs=0.05)
    assert_recorded_mix(heard[4800:])
    names = {speaker["name"] for speaker in clip.speakers}
    assert names == {"Hana Host", "Yara Yes"}  # Noor declined: never listed

    # the live stream's files are gone; the recording's stay until it is deleted
    assert not list((storage_dirs / "h").glob("**/*.m4s"))
    assert await database_sync_to_async(files_of)(recording)
    await database_sync_to_async(recordings.delete_recording)(room=room, user=host)
    assert await database_sync_to_async(files_of)(recording) == set()


def read(recording, name):
    with recordings.recordings_storage().open(recording.prefix + name, "rb") as file:
        return file.read()
