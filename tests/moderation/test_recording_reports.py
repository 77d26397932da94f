"""Reports about what was said in a recording: made during a replay (with the player's
position) or on a clip, and the admin's report page plays that moment as evidence."""

import re

import pytest
from django.test import Client

from moderation.models import Report, TargetType
from rooms.models import Clip
from tests.factories import UserFactory
from tests.recording_fixtures import recorded_space

pytestmark = pytest.mark.django_db


def test_a_report_during_a_replay_keeps_the_players_position_and_staff_hear_30_s_around_it():
    room, recording = recorded_space(tones=[(440.0, 60.0)])
    guest = Client()
    form = guest.get(f"/s/{room.slug}/report/?offset=42").content.decode()
    assert re.search(r'<input type="hidden" name="offset" value="42"', form)
    guest.post(f"/s/{room.slug}/report/", {"category": "hate", "text": "At 0:42", "offset": "42"})
    report = Report.objects.get()
    assert report.offset == 42.0 and report.target_type == TargetType.SPACE

    staff = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    page = admin.get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    src = re.search(r'<audio controls preload="metadata" src="([^"]+)"', page).group(1)
    assert src == f"/s/{room.slug}/replay/audio.m4a#t=27,57"
    assert admin.get(src.split("#")[0]).status_code == 200


def test_a_bad_offset_is_refused_and_no_report_is_made():
    room, _ = recorded_space()
    response = Client().post(f"/s/{room.slug}/report/", {"category": "spam", "offset": "-5"})
    assert response.status_code == 200  # the form again, with its error
    assert not Report.objects.exists()


def test_a_clip_is_reported_as_a_clip_and_staff_hear_the_clip():
    room, recording = recorded_space(tones=[(440.0, 30.0)])
    clip = Clip.objects.create(
        recording=recording,
        room=room,
        start=10,
        duration=8,
        state=Clip.State.READY,
        audio_file="replay.m4a",  # any playable file of the recording
    )
    person = UserFactory()
    client = Client()
    client.force_login(person)
    form = client.get(f"/s/{room.slug}/report/?clip={clip.slug}").content.decode()
    assert "Report this clip" in form
    client.post(f"/s/{room.slug}/report/?clip={clip.slug}", {"category": "harassment"})
    report = Report.objects.get()
    assert report.clip == clip and report.target_type == TargetType.CLIP
    assert report.offset == 10.0  # the clip's start in the recording
    assert report.accused == room.host
    staff = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    page = admin.get(f"/admin/moderation/report/{report.pk}/change/").content.decode()
    assert f'src="/c/{clip.slug}/audio.m4a"' in page
    assert "a clip of the Space" in admin.get("/admin/moderation/report/").content.decode()


def test_a_clip_of_another_space_is_not_found_on_the_report_page():
    room, _ = recorded_space()
    other, other_recording = recorded_space()
    clip = Clip.objects.create(recording=other_recording, room=other, start=0, duration=5)
    assert Client().get(f"/s/{room.slug}/report/?clip={clip.slug}").status_code == 404
