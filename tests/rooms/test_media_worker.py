"""Media worker mode: the room's router runs in another process, reached over Redis."""

import asyncio
import os
import subprocess
import sys

import pytest
from django.conf import settings

from rooms.media import MediaConfig
from rooms.models import Room
from tests.media.audio_peers import AudioClient, dominant_frequency, rms
from tests.rooms.live_helpers import join
from tests.rooms.test_audio_socket import connect_audio, record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

WORKER = "media-test-1"


@pytest.fixture
def media_worker(settings):
    from tests.servers import database_url

    settings.SPACES_MEDIA = {**settings.SPACES_MEDIA, "MODE": "worker", "WORKERS": [WORKER]}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": database_url(),
        "SPACES_MEDIA_MODE": "worker",
        "SPACES_MEDIA_WORKERS": WORKER,
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "mediaworker", WORKER],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = worker.stdout.readline()
    assert "listening" in line, line + worker.stdout.read() if worker.poll() else line
    yield worker
    worker.terminate()
    worker.wait(timeout=10)


async def test_the_media_worker_carries_the_tone_and_applies_mutes(media_worker, live_space):
    assert os.environ.get("REDIS_URL"), "worker mode needs the Redis channel layer"
    config = MediaConfig.loopback()
    speaker_socket, _ = await join(live_space.room, live_space.speaker)
    listener_socket, _ = await join(live_space.room, live_space.listener)
    speaker = AudioClient(config, tone=440, direction="sendrecv")
    listener = AudioClient(config)
    try:
        await connect_audio(speaker_socket, speaker)
        await connect_audio(listener_socket, listener)
        room = await Room.objects.aget(pk=live_space.room.pk)
        assert room.media_worker == WORKER
        assert abs(dominant_frequency(await record(listener, 1.5)) - 440) < 10

        await speaker_socket.send(type="mute", user=live_space.speaker.pk, muted=True)
        await listener_socket.wait_for("speaker_muted")
        await asyncio.sleep(0.4)
        assert rms(await record(listener, 0.5)) < 50
    finally:
        await speaker.close()
        await listener.close()
        await speaker_socket.close()
        await listener_socket.close()
    assert media_worker.poll() is None, "the worker must survive its peers leaving"
    assert settings.SPACES_MEDIA["MODE"] == "worker"
