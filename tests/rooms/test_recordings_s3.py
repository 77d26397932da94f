"""Recordings in object storage (django-storages, moto's S3 server on loopback): assembled,
clipped, served, and every object gone when the recording is deleted or expires."""

import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from rooms import recordings

from .recording_helpers import (
    assert_absent,
    assert_tone,
    audio_at,
    decode_file,
    ended_recording,
    tones,
    write_stream,
)
from .test_hls_s3 import point_storage_at_a_new_bucket, s3_server  # noqa: F401 (a fixture)


@pytest.fixture
def bucket(s3_server, settings, db):  # noqa: F811
    return point_storage_at_a_new_bucket(s3_server, settings, "recordings")


def test_a_recording_in_object_storage_is_assembled_clipped_served_and_deleted(
    client, bucket, django_capture_on_commit_callbacks
):
    recording = ended_recording()
    write_stream(recording, tones([300, 400, 500, 600, 700, 800]))
    other = ended_recording()
    write_stream(other, tones([440] * 3))
    assert recordings.recording_assemble(recording_id=recording.pk) == "assembled"
    recordings.recording_assemble(recording_id=other.pk)
    recording.refresh_from_db()
    keys = bucket(recording.prefix)
    assert f"{recording.prefix}replay.m3u8" in keys and f"{recording.prefix}replay.m4a" in keys

    playlist = client.get(f"/s/{recording.room.slug}/replay/replay.m3u8")
    assert playlist.status_code == 200 and b"#EXT-X-PLAYLIST-TYPE:VOD" in playlist.content
    # the whole file comes from the storage itself, by a short-lived signed URL
    audio = client.get(f"/s/{recording.room.slug}/replay/audio.m4a")
    assert audio.status_code == 302 and audio["Cache-Control"] == "private, no-store"
    with urllib.request.urlopen(audio["Location"]) as response:  # noqa: S310 (loopback)
        data = response.read()
    assert_tone(audio_at(data, 3.5), 600)

    with django_capture_on_commit_callbacks(execute=True):
        clip = recordings.create_clip(
            user=recording.room.host, room=recording.room, start=2.0, duration=2.0
        )
    clip.refresh_from_db()
    assert f"{recording.prefix}clips/{clip.slug}.m4a" in bucket(recording.prefix)
    with urllib.request.urlopen(client.get(f"/c/{clip.slug}/audio.m4a")["Location"]) as response:  # noqa: S310
        heard = decode_file(response.read())
    assert_tone(heard[int(0.3 * 48_000) : int(0.7 * 48_000)], 500)
    assert_absent(heard, 300)

    with django_capture_on_commit_callbacks(execute=True):
        recordings.delete_recording(room=recording.room, user=recording.room.host)
    assert bucket(recording.prefix) == set()
    assert bucket(other.prefix)  # another Space's recording stays


def test_retention_empties_object_storage_of_what_is_due(
    bucket, settings, django_capture_on_commit_callbacks
):
    old, recent = ended_recording(), ended_recording()
    for recording, days in ((old, 10), (recent, 1)):
        write_stream(recording, tones([440] * 3))
        recordings.recording_assemble(recording_id=recording.pk)
        room = recording.room
        room.ended_at = timezone.now() - timedelta(days=days)
        room.save()
    settings.SPACES_RECORDING_RETENTION_DAYS = 7
    before = bucket(recent.prefix)
    with django_capture_on_commit_callbacks(execute=True):
        assert recordings.recordings_expire() == [old.pk]
    assert bucket(old.prefix) == set() and bucket(recent.prefix) == before
