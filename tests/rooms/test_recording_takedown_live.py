"""Staff take down the recording of a Space that is still live: the audio router stops writing
it at once (no new file appears in storage), live clips are refused, the pages stop showing REC,
and the Space goes on, heard live."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from rooms import recordings
from rooms.exceptions import ActionRefused
from rooms.media_bridge import bridge
from rooms.models import Recording
from tests.media.audio_peers import AudioClient, tone_share

from .live_helpers import join
from .recording_helpers import files_of
from .test_audio_socket import CONFIG, connect_audio, record
from .test_recording_live import recorded_space, storage_dirs, wait_until  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.media]


async def test_a_take_down_while_live_stops_the_recording_at_once(storage_dirs, staff_moderator):  # noqa: F811
    room, host, _, _ = await database_sync_to_async(recorded_space)()
    host_socket, _ = await join(room, host)
    guest_socket, _ = await join(room, guest_id="guest-takedown")
    talker, hearer = AudioClient(CONFIG, tone=440, direction="sendrecv"), AudioClient(CONFIG)
    try:
        await host_socket.send(type="mute", user=host.pk, muted=False)
        await host_socket.wait_for("speaker_unmuted")
        await connect_audio(host_socket, talker)
        await connect_audio(guest_socket, hearer)
        recording = await database_sync_to_async(Recording.objects.get)(room=room)

        def segments():
            return {name for name in files_of(recording) if name.endswith(".m4s")}

        assert await wait_until(lambda: len(segments()) >= 2), "nothing was recorded"
        http = AsyncClient()
        await http.aforce_login(host)
        page = (await http.get(f"/rooms/{room.slug}/")).content.decode()
        assert 'data-record="true"' in page and 'data-testid="rec-badge"' in page
        router = bridge().routers.find(str(room.pk))
        assert router is not None and router.recording_taps

        await database_sync_to_async(recordings.take_down_recording)(
            recording=recording, staff=staff_moderator, reason="Hate speech"
        )
        event = await guest_socket.wait_for("recording_removed")
        assert event["room"] == room.slug and isinstance(event["seq"], int)
        assert await wait_until(lambda: not router.recording_taps, within=5)
        assert await wait_until(lambda: files_of(recording) == set(), within=5)
        await asyncio.sleep(3.0)  # more than a segment's length later: still nothing stored
        assert await database_sync_to_async(files_of)(recording) == set()
        assert not list((storage_dirs / "r").glob("**/*.m4s"))

        # the Space goes on, heard live
        assert tone_share(await record(hearer, 1.0), 440) > 0.2

        # a live clip is refused with a clear message; the room page shows no REC any more
        with pytest.raises(ActionRefused, match="took this Space's recording down"):
            await database_sync_to_async(recordings.create_clip)(
                user=host, room=room, start=None, duration=10
            )
        page = (await http.get(f"/rooms/{room.slug}/")).content.decode()
        assert 'data-record="false"' in page and 'data-testid="rec-badge"' not in page
    finally:
        await talker.close()
        await hearer.close()
        await host_socket.close()
        await guest_socket.close()
