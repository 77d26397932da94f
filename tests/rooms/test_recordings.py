"""Replays and clips from stored segments: the VOD playlist, the .m4a, seeking, clips and the
speakers listed on them; who may fetch them; deletion, take-downs and retention."""

import io
from datetime import timedelta

import av
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from moderation.models import ModerationAction
from rooms import recordings
from rooms.exceptions import ActionRefused
from rooms.models import Clip, Participant, Recording, RoomEvent
from rooms.recordings import recordings_storage
from tests.factories import ParticipantFactory, RoomFactory, UserFactory
from tests.media.test_hls import decode, parse

from .conftest import grant_moderation
from .recording_helpers import (
    WALL,
    assert_absent,
    assert_tone,
    audio_at,
    decode_file,
    ended_recording,
    files_of,
    tones,
    write_stream,
)

# 300 Hz in the first second, 400 Hz in the second, ...: the frequency says the time.
STEPS = [300 + 100 * k for k in range(9)]


@pytest.fixture(autouse=True)
def recordings_dir(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {"BACKEND": "rooms.hls.LiveFileStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


def read(recording, name):
    with recordings_storage().open(recording.prefix + name, "rb") as file:
        return file.read()


def assembled(recording):
    assert recordings.recording_assemble(recording_id=recording.pk) == "assembled"
    recording.refresh_from_db()
    return recording


def test_an_ended_recording_becomes_a_vod_playlist_and_an_m4a_that_seek_to_the_right_time(db):
    recording = ended_recording()
    write_stream(recording, tones(STEPS))
    recording = assembled(recording)

    assert recording.state == "ready" and recording.duration == pytest.approx(9.0, abs=0.05)
    assert recording.started_at.timestamp() == pytest.approx(WALL, abs=0.03)
    text = read(recording, recording.playlist).decode()
    tags, segments = parse(text)
    assert tags["EXT-X-PLAYLIST-TYPE"] == "VOD" and "EXT-X-ENDLIST" in tags
    assert sum(s["duration"] for s in segments) == pytest.approx(recording.duration, abs=0.03)
    assert recording.storage_bytes == sum(
        recordings_storage().size(name) for name in files_of(recording)
    )
    init = read(recording, tags["EXT-X-MAP"].split('"')[1])
    audio = read(recording, recording.audio_file)
    with av.open(io.BytesIO(audio)) as container:  # one file, AAC as recorded: no re-encoding
        assert container.format.name.startswith("mov") and container.streams.audio[0].codec.name
        assert container.streams.audio[0].codec.name == "aac"

    for at in (0.5, 2.4, 4.6, 6.3, 8.5):
        second = int(at)
        # the player finds the segment that holds `at` from the playlist's durations
        start = 0.0
        for segment in segments:
            if start + segment["duration"] > at:
                break
            start += segment["duration"]
        heard = decode(init, read(recording, segment["name"]))
        offset = int((at - start) * 48_000)
        assert_tone(heard[offset : offset + 9600], STEPS[second])
        assert_tone(audio_at(audio, at, 0.2), STEPS[second])


def test_streams_of_one_recording_follow_each_other_with_a_discontinuity(db):
    recording = ended_recording()
    write_stream(recording, tones([440] * 4))
    write_stream(recording, tones([660] * 4), wall=WALL + 600)  # the audio came back later
    recording = assembled(recording)
    text = read(recording, recording.playlist).decode()
    assert text.count("#EXT-X-DISCONTINUITY") == 1 and text.count("#EXT-X-MAP") == 2
    assert recording.duration == pytest.approx(8.0, abs=0.06)
    audio = read(recording, recording.audio_file)
    assert_tone(audio_at(audio, 2.0), 440)
    assert_tone(audio_at(audio, 6.0), 660)


def test_assembly_waits_for_a_stream_still_being_written_and_runs_once(db, settings):
    recording = ended_recording()
    segmenter = write_stream(recording, tones([440] * 4), close=False)
    assert recordings.recording_assemble(recording_id=recording.pk) == "waiting"
    segmenter.close()
    assert recordings.recording_assemble(recording_id=recording.pk) == "assembled"
    assert recordings.recording_assemble(recording_id=recording.pk) == "ready"
    # a stream whose writer died is used as it is once the wait is over
    other = ended_recording()
    write_stream(other, tones([440] * 4), close=False)
    settings.SPACES_RECORDING_FINISH_WAIT = 0
    assert recordings.recording_assemble(recording_id=other.pk) == "assembled"


def test_the_sweep_assembles_recordings_left_behind_by_ended_spaces(db, settings):
    settings.SPACES_RECORDING_FINISH_WAIT = 0
    recording = ended_recording()
    write_stream(recording, tones([440] * 3))
    live = Recording.objects.create(room=RoomFactory(record=True), prefix="recordings/x-live/")
    assert recordings.recordings_sweep() == [recording.pk]
    recording.refresh_from_db()
    live.refresh_from_db()
    assert recording.state == "ready" and live.state == "recording"


def test_a_recording_with_no_audio_fails_instead_of_looking_ready(db):
    recording = ended_recording()
    assert recordings.recording_assemble(recording_id=recording.pk) == "empty"
    recording.refresh_from_db()
    assert recording.state == "failed"


# Clips


def make_clip(django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        clip = recordings.create_clip(**kwargs)
    clip.refresh_from_db()
    return clip


def test_a_clip_of_a_replay_is_the_asked_range_to_a_frame(db, django_capture_on_commit_callbacks):
    recording = ended_recording()
    write_stream(recording, tones(STEPS))
    recording = assembled(recording)
    user = UserFactory()
    clip = make_clip(
        django_capture_on_commit_callbacks,
        user=user,
        room=recording.room,
        start=3.0,
        duration=4.0,
    )
    assert clip.state == "ready" and clip.progress == 100 and clip.creator == user
    heard = decode_file(read(recording, clip.audio_file))
    # 4 s, to one AAC frame (21 ms) and the decoder's priming
    assert heard.size / 48_000 == pytest.approx(4.0, abs=0.05)
    for second in range(4):
        middle = heard[int((second + 0.3) * 48_000) : int((second + 0.7) * 48_000)]
        assert_tone(middle, STEPS[3 + second])
    assert_absent(heard[int(0.1 * 48_000) :], STEPS[2])  # nothing from before the start
    assert_absent(heard, STEPS[7])  # nor after the end
    assert recordings.clip_audio_url(clip) == f"/c/{clip.slug}/audio.m4a"


def test_a_clip_of_a_live_space_is_its_last_seconds(db, django_capture_on_commit_callbacks):
    room = RoomFactory(record=True)
    recording = Recording.objects.create(room=room, prefix=f"recordings/{room.pk}-live/")
    write_stream(recording, tones([440] * 6), close=False)  # segments written so far
    first = recordings.written_seconds(recording)
    write_stream(recording, tones(STEPS), wall=WALL + 100, close=False)
    written = recordings.written_seconds(recording)
    # whole segments only: the one being cut (up to 2 s) is not in storage yet
    assert 4 <= first <= 6 and 7 <= written - first <= 9
    clip = make_clip(
        django_capture_on_commit_callbacks, user=UserFactory(), room=room, start=None, duration=5
    )
    assert clip.state == "ready"
    assert clip.start == pytest.approx(written - 5, abs=0.01) and clip.duration == 5
    heard = decode_file(read(recording, clip.audio_file))
    assert heard.size / 48_000 == pytest.approx(5.0, abs=0.05)
    begins = clip.start - first  # where the clip begins in the second stream
    checked = 0
    for second in range(9):  # the middle of each tone second inside the clip
        at = second + 0.5 - begins
        if 0.1 <= at <= 4.9:
            assert_tone(heard[int((at - 0.1) * 48_000) : int((at + 0.1) * 48_000)], STEPS[second])
            checked += 1
    assert checked >= 4
    assert_absent(heard, 440)


@pytest.mark.parametrize(
    ("start", "duration", "words"),
    [
        (0, 0.5, "1 to 60 seconds"),
        (0, 61, "1 to 60 seconds"),
        (8, 3, "within the recording"),
        (-1, 3, "within the recording"),
        (None, 3, "within the recording"),
        ("soon", 3, "start and a length"),
        (float("nan"), 3, "start and a length"),
    ],
)
def test_a_clip_out_of_bounds_is_refused_and_nothing_is_made(db, start, duration, words):
    recording = ended_recording()
    write_stream(recording, tones([440] * 9))
    recording = assembled(recording)
    with pytest.raises(ActionRefused) as refused:
        recordings.create_clip(
            user=UserFactory(), room=recording.room, start=start, duration=duration
        )
    assert words in refused.value.message
    assert not Clip.objects.exists()


def test_clips_are_for_signed_in_people_who_see_the_space_and_are_rate_limited(db, settings):
    recording = ended_recording(visibility="private")
    write_stream(recording, tones([440] * 3))
    recording = assembled(recording)
    from django.contrib.auth.models import AnonymousUser

    for who, code in ((AnonymousUser(), "not_signed_in"), (UserFactory(), "private")):
        with pytest.raises(ActionRefused) as refused:
            recordings.create_clip(user=who, room=recording.room, start=0, duration=2)
        assert refused.value.code == code
    settings.SPACES_CLIP_RATE = (2, 3600)
    for _ in range(2):
        recordings.create_clip(user=recording.room.host, room=recording.room, start=0, duration=2)
    with pytest.raises(ActionRefused) as refused:
        recordings.create_clip(user=recording.room.host, room=recording.room, start=0, duration=2)
    assert refused.value.code == "rate_limited"
    assert Clip.objects.count() == 2


def test_a_clip_lists_who_was_heard_and_never_who_declined(db):
    recording = ended_recording()
    room = recording.room
    yes, no, quiet, late = (UserFactory(profile=name) for name in ("Yes", "No", "Quiet", "Late"))
    t0 = timezone.now() - timedelta(hours=1)

    def log(seconds, verb, user=None, **data):
        event = RoomEvent.objects.create(
            room=room, verb=verb, actor=user or room.host, target=user, data=data
        )
        RoomEvent.objects.filter(pk=event.pk).update(created_at=t0 + timedelta(seconds=seconds))

    log(0, "room_live")
    log(1, "speaker_unmuted", room.host)
    for person in (yes, no, quiet):
        log(2, "speaker_promoted", person, role="speaker", previous_role="listener")
    log(3, "recording_consent", yes, consent=True)
    log(3, "recording_consent", no, consent=False)
    log(3, "recording_consent", quiet, consent=True)  # says yes but stays muted
    log(4, "speaker_unmuted", yes)
    log(4, "speaker_unmuted", no)
    log(30, "speaker_promoted", late, role="speaker", previous_role="listener")
    log(31, "recording_consent", late, consent=True)
    log(32, "speaker_unmuted", late)
    start = (t0 + timedelta(seconds=10)).timestamp()

    def names(begin, end):
        return [s["name"] for s in recordings.clip_speakers(recording, begin, end)]

    assert set(names(start, start + 10)) == {"Yes", room.host.display_name}
    assert "Late" in names(start, start + 25) and "No" not in names(start, start + 25)
    log(40, "speaker_muted", room.host)
    assert set(names(start + 35, start + 50)) == {"Yes", "Late"}  # the host was muted by then


# Consent


def test_a_speaker_chooses_and_the_room_hears_of_it_after_commit(
    live_space, broadcasts, django_capture_on_commit_callbacks
):
    room = live_space.room
    room.record = True
    room.save()
    with django_capture_on_commit_callbacks(execute=True):
        row = recordings.set_recording_consent(room=room, user=live_space.speaker, consent=False)
    assert row.recording_consent is False
    event = broadcasts[-1][1]
    assert event["type"] == "recording_consent"
    assert event["user_id"] == live_space.speaker.pk and event["consent"] is False
    assert isinstance(event["seq"], int)
    logged = RoomEvent.objects.get(verb="recording_consent")
    assert logged.target == live_space.speaker and logged.data == {"consent": False}
    assert not recordings.speaker_recorded(room.pk, live_space.speaker.pk)
    # the same choice again changes nothing and says nothing
    count = len(broadcasts)
    with django_capture_on_commit_callbacks(execute=True):
        recordings.set_recording_consent(room=room, user=live_space.speaker, consent=False)
    assert len(broadcasts) == count
    recordings.set_recording_consent(room=room, user=live_space.speaker, consent=True)
    assert recordings.speaker_recorded(room.pk, live_space.speaker.pk)


def test_not_chosen_is_not_recorded_and_hosts_are_always_recorded(live_space):
    room = live_space.room
    room.record = True
    room.save()
    newcomer = ParticipantFactory(room=room, role="speaker").user
    assert not recordings.speaker_recorded(room.pk, newcomer.pk)
    assert recordings.speaker_recorded(room.pk, live_space.host.pk)
    assert recordings.speaker_recorded(room.pk, live_space.cohost.pk)
    for who, words in (
        (live_space.host, "always recorded"),
        (live_space.cohost, "always recorded"),
        (live_space.listener, "on stage"),
    ):
        with pytest.raises(ActionRefused) as refused:
            recordings.set_recording_consent(room=room, user=who, consent=False)
        assert words in refused.value.message
    room.record = False
    room.save()
    with pytest.raises(ActionRefused, match="not recorded"):
        recordings.set_recording_consent(room=room, user=live_space.speaker, consent=True)
    assert not Participant.objects.filter(recording_consent__isnull=False).exists()


# Serving


def test_a_guest_plays_the_replay_with_cache_headers_and_ranges(client, db):
    recording = ended_recording()
    write_stream(recording, tones(STEPS))
    recording = assembled(recording)
    slug = recording.room.slug
    playlist = client.get(recordings.recording_url(recording, "replay.m3u8"))
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "public, max-age=60"
    tags, segments = parse(playlist.content.decode())
    init = client.get(f"/s/{slug}/replay/{tags['EXT-X-MAP'].split(chr(34))[1]}")
    segment = client.get(recordings.recording_url(recording, segments[2]["name"]))
    for part in (init, segment):
        assert part.status_code == 200
        assert part["Cache-Control"] == "public, max-age=31536000, immutable"
    assert_tone(decode(init.content, segment.content)[9600:19200], STEPS[4])

    whole = client.get(recordings.recording_url(recording, "replay.m4a"))
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    body = b"".join(whole.streaming_content)
    assert body == read(recording, "replay.m4a")
    part = client.get(f"/s/{slug}/replay/audio.m4a", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part.content == body[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{len(body)}"
    assert client.get(f"/s/{slug}/replay/audio.m4a", HTTP_RANGE="bytes=-10").content == body[-10:]
    beyond = client.get(f"/s/{slug}/replay/audio.m4a", HTTP_RANGE=f"bytes={len(body)}-")
    assert beyond.status_code == 416


@pytest.mark.parametrize("name", ["x-1.m4s", "..%2Freplay.m4a", "replay.m4a", "abc"])
def test_only_segment_names_are_served(client, db, name):
    recording = ended_recording()
    write_stream(recording, tones([440] * 3))
    assembled(recording)
    assert client.get(f"/s/{recording.room.slug}/replay/{name}").status_code == 404


def test_a_private_replay_is_for_people_let_in_and_guests_off_means_signed_in(client, db):
    private = ended_recording(visibility="private")
    write_stream(private, tones([440] * 3))
    assembled(private)
    url = f"/s/{private.room.slug}/replay/replay.m3u8"
    assert client.get(url).status_code == 404
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(private.room.host)
    response = client.get(url)
    assert response.status_code == 200 and response["Cache-Control"] == "private, max-age=60"

    closed = ended_recording(guests_may_listen=False)
    write_stream(closed, tones([440] * 3))
    assembled(closed)
    client.logout()
    assert client.get(f"/s/{closed.room.slug}/replay/replay.m3u8").status_code == 403
    assert client.get(f"/s/{closed.room.slug}/replay/audio.m4a").status_code == 403


def test_a_replay_not_ready_yet_is_not_served(client, db):
    recording = ended_recording()
    write_stream(recording, tones([440] * 3))
    assert client.get(f"/s/{recording.room.slug}/replay/replay.m3u8").status_code == 404


def test_plays_count_once_per_person_a_day(client, db):
    from django.test import RequestFactory

    recording = ended_recording()
    write_stream(recording, tones([440] * 3))
    recording = assembled(recording)
    request = RequestFactory().get("/")
    request.user = UserFactory()
    assert recordings.count_play(recording=recording, request=request) is True
    assert recordings.count_play(recording=recording, request=request) is False
    from rooms import live

    guest = RequestFactory().get("/")
    from django.contrib.auth.models import AnonymousUser

    guest.user = AnonymousUser()
    guest.COOKIES[live.GUEST_COOKIE] = live.guest_cookie_value(live.new_guest_id())
    assert recordings.count_play(recording=recording, request=guest) is True
    assert recording.plays.count() == 2


# Deleting


def test_the_host_deletes_the_recording_and_every_file_goes(
    client, db, django_capture_on_commit_callbacks
):
    recording = ended_recording()
    write_stream(recording, tones(STEPS))
    recording = assembled(recording)
    clip = make_clip(
        django_capture_on_commit_callbacks,
        user=UserFactory(),
        room=recording.room,
        start=1,
        duration=2,
    )
    assert client.get(f"/c/{clip.slug}/audio.m4a").status_code == 200
    kept = ended_recording()
    write_stream(kept, tones([440] * 3))
    assembled(kept)
    before = files_of(kept)

    with pytest.raises(ActionRefused):
        recordings.delete_recording(room=recording.room, user=UserFactory())
    assert files_of(recording)
    with django_capture_on_commit_callbacks(execute=True):
        recordings.delete_recording(room=recording.room, user=recording.room.host)
    recording.refresh_from_db()
    clip.refresh_from_db()
    assert recording.state == "deleted" and clip.state == "deleted"
    assert files_of(recording) == set() and recording.storage_bytes == 0
    assert not recordings_storage().exists(recording.prefix.rstrip("/"))
    assert files_of(kept) == before  # another Space's recording is untouched
    assert client.get(f"/s/{recording.room.slug}/replay/replay.m3u8").status_code == 404
    assert client.get(f"/c/{clip.slug}/audio.m4a").status_code == 404


def test_staff_take_down_a_clip_and_a_recording_with_an_audit_entry(
    db, django_capture_on_commit_callbacks, staff_moderator
):
    recording = ended_recording()
    write_stream(recording, tones(STEPS))
    recording = assembled(recording)
    clip = make_clip(
        django_capture_on_commit_callbacks,
        user=UserFactory(),
        room=recording.room,
        start=0,
        duration=3,
    )
    clip_file = recording.prefix + clip.audio_file
    with pytest.raises(ActionRefused):
        recordings.take_down_clip(clip=clip, staff=UserFactory(is_staff=True), reason="no")
    with django_capture_on_commit_callbacks(execute=True):
        recordings.take_down_clip(clip=clip, staff=staff_moderator, reason="Harassment")
    clip.refresh_from_db()
    assert clip.state == "removed" and clip.removed_reason == "Harassment"
    assert not recordings_storage().exists(clip_file)
    assert recordings_storage().exists(recording.prefix + "replay.m4a")
    with django_capture_on_commit_callbacks(execute=True):
        recordings.take_down_recording(recording=recording, staff=staff_moderator, reason="Spam")
    recording.refresh_from_db()
    assert recording.state == "removed" and files_of(recording) == set()
    kinds = list(ModerationAction.objects.values_list("kind", "actor", "reason"))
    assert ("remove_clip", staff_moderator.pk, "Harassment") in kinds
    assert ("remove_recording", staff_moderator.pk, "Spam") in kinds


def test_retention_deletes_exactly_the_recordings_that_are_due(
    db, settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    old, recent, failed = (ended_recording() for _ in range(3))
    for recording in (old, recent):
        write_stream(recording, tones([440] * 3))
        assembled(recording)
    for recording, days in ((old, 31), (recent, 29), (failed, 40)):
        room = recording.room
        room.ended_at = now - timedelta(days=days)
        room.save()
    Recording.objects.filter(pk=failed.pk).update(state="failed")
    settings.SPACES_RECORDING_RETENTION_DAYS = None
    assert recordings.recordings_expire(now=now) == []
    settings.SPACES_RECORDING_RETENTION_DAYS = 30
    recent_files = files_of(recent)
    with django_capture_on_commit_callbacks(execute=True):
        assert sorted(recordings.recordings_expire(now=now)) == sorted([old.pk, failed.pk])
    states = dict(Recording.objects.values_list("pk", "state"))
    assert states == {old.pk: "deleted", recent.pk: "ready", failed.pk: "deleted"}
    assert files_of(old) == set() and files_of(recent) == recent_files


def test_a_staff_moderator_helper_is_what_takes_down(db):
    """The permission alone is not enough: staff without it are refused (rooms.permissions)."""
    recording = ended_recording()
    plain = grant_moderation(UserFactory())  # the permission without is_staff
    with pytest.raises(ActionRefused):
        recordings.take_down_recording(recording=recording, staff=plain, reason="x")
    recording.refresh_from_db()
    assert recording.state == "recording"


@pytest.mark.parametrize("who", ["guest", "stranger"])
def test_every_replay_and_clip_path_keeps_a_private_recording_from_outsiders(
    db, who, django_capture_on_commit_callbacks
):
    """The URLconf sweep (tests/rooms/test_visibility.py) with a real recording behind the
    paths: every route under /s/<slug>/replay/ and /c/<slug>/ is filled with the Space's slug,
    the clip's slug and real file names, so a route that forgets to ask is caught."""
    import re

    from django.test import Client

    from .test_visibility import slug_routes

    recording = ended_recording(visibility="private")
    write_stream(recording, tones([440] * 3))
    recording = assembled(recording)
    clip = make_clip(
        django_capture_on_commit_callbacks,
        user=recording.room.host,
        room=recording.room,
        start=0,
        duration=2,
    )
    segment = parse(read(recording, recording.playlist).decode())[1][0]["name"]
    routes = [
        (name, pattern)
        for name, pattern in slug_routes()
        if "/replay/" in pattern or pattern.startswith("c/")
    ]
    assert len(routes) >= 4
    outsider, host = Client(), Client()
    if who == "stranger":
        outsider.force_login(UserFactory())
    host.force_login(recording.room.host)
    for name, pattern in routes:
        slug = clip.slug if pattern.startswith("c/") else recording.room.slug
        url = "/" + re.sub(r"<(?:\w+:)?slug>", slug, pattern)
        url = re.sub(r"<(?:\w+:)?name>", segment, url)
        refused = outsider.get(url)
        if refused.status_code == 405:  # a POST-only endpoint (counting a play)
            refused = outsider.post(url)
        # a 404 for files; a page may instead offer to ask the host (403) or to sign in (302)
        assert refused.status_code in (302, 403, 404), f"{url} ({name}) as {who}"
        if not refused.streaming:
            assert recording.room.title not in refused.content.decode(errors="replace")
        allowed = host.get(url)
        if allowed.status_code == 405:
            allowed = host.post(url)
        assert allowed.status_code in (200, 302), f"{url} ({name}) as the host"


def test_a_recording_that_cannot_be_assembled_is_retried_then_marked_failed(db):
    from rooms import tasks

    recording = ended_recording()
    write_stream(recording, tones([440] * 5))
    storage = recordings_storage()
    init = next(name for name in files_of(recording) if name.endswith("-init.mp4"))
    with storage.open(init, "rb") as file:
        whole = file.read()
    storage.delete(init)
    storage.save(init, ContentFile(b"\x00\x00\x00\x08free" + whole[:40]))  # a broken init
    from celery.exceptions import Retry

    with pytest.raises(Retry):  # the first try asks to be retried later
        tasks.recording_assemble.apply(args=[recording.pk])
    recording.refresh_from_db()
    assert recording.state == "assembling"  # not failed yet; the sweep also picks it up
    with pytest.raises(IndexError):  # the last retry gives up
        tasks.recording_assemble.apply(args=[recording.pk], retries=3)
    recording.refresh_from_db()
    assert recording.state == "failed"
