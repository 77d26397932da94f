"""The replay at a recorded Space's own link, its files, plays, clips and the host's controls,
through the Django test client: every state, every role, visibility, escaping and CSRF."""

import json
import re

import av
import pytest
from django.test import Client
from django.urls import reverse

from moderation.models import ModerationAction
from rooms import recordings, replay
from rooms.models import Clip, Recording, Room, RoomEvent, SpaceAccess
from tests.factories import ParticipantFactory, PostFactory, RoomFactory, UserFactory
from tests.recording_fixtures import recorded_space

pytestmark = pytest.mark.django_db


def replay_data(response) -> dict:
    match = re.search(
        r'<script id="replay-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "no replay data on the page"
    return json.loads(match.group(1))


def files_of(recording: Recording) -> list[str]:
    storage = replay.storage()
    try:
        folders, files = storage.listdir(recording.prefix)
    except FileNotFoundError:
        return []
    return files + folders


# States


def test_a_guest_gets_the_player_of_a_ready_recording_at_the_same_link(client):
    room, recording = recorded_space(title="Morning show")
    response = client.get(f"/s/{room.slug}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="replay"' in page
    assert 'data-testid="rec-badge"' in page
    assert 'og:description" content="Replay of a Space hosted by' in page
    # the embed of an ended recorded Space leads to its replay
    embed = client.get(f"/s/{room.slug}/embed/").content.decode()
    assert 'data-testid="embed-replay"' in embed and 'data-testid="rec-badge"' in embed
    data = replay_data(response)
    assert data["playlist"] == f"/s/{room.slug}/replay/replay.m3u8"
    assert data["duration"] == pytest.approx(recording.duration)
    # no clip button for a guest, but the replay still plays
    assert data["clip"] == ""
    assert 'data-testid="clip-panel"' not in page
    # the playlist it names is served, and its segments
    playlist = client.get(data["playlist"])
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    text = playlist.content.decode()
    assert "#EXT-X-ENDLIST" in text
    segment = next(line for line in text.splitlines() if line.endswith(".m4s"))
    assert client.get(f"/s/{room.slug}/replay/{segment}").status_code == 200


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (Recording.State.ASSEMBLING, "The recording will be ready in a few minutes."),
        (Recording.State.RECORDING, "The recording will be ready in a few minutes."),
        (Recording.State.FAILED, "Its recording could not be made."),
        (Recording.State.DELETED, "The host deleted the recording."),
        (Recording.State.REMOVED, "Its recording was removed by staff."),
    ],
)
def test_each_state_of_a_recording_says_what_became_of_it(client, state, words):
    room, recording = recorded_space(state=state)
    response = client.get(f"/s/{room.slug}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert words in page
    assert 'data-testid="replay"' not in page
    # and nothing of it is served
    assert client.get(f"/s/{room.slug}/replay/replay.m3u8").status_code == 404


def test_an_ended_space_that_was_not_recorded_keeps_the_ended_page(client):
    room = RoomFactory(state=Room.State.ENDED, with_host=False)
    page = client.get(f"/s/{room.slug}/").content.decode()
    assert "This Space has ended." in page
    assert 'data-testid="rec-badge"' not in page
    assert 'data-testid="replay"' not in page


def test_a_recorded_space_that_ended_without_a_recording_row_says_it_was_not_recorded(client):
    room = RoomFactory(state=Room.State.ENDED, record=True, with_host=False)
    page = client.get(f"/s/{room.slug}/").content.decode()
    assert "It was not recorded." in page


# The embed of an ended recorded Space


def test_the_embed_plays_a_ready_replay_and_offers_nothing_once_it_is_gone(client):
    room, recording = recorded_space(title="Embedded show")
    embed = client.get(f"/s/{room.slug}/embed/").content.decode()
    # a player on the replay's playlist (the .m4a where HLS can't play), and its script
    assert 'data-kind="replay"' in embed
    assert f'data-hls="/s/{room.slug}/replay/replay.m3u8"' in embed
    assert f'data-audio="/s/{room.slug}/replay/audio.m4a"' in embed
    assert "js/embed.js" in embed and 'data-testid="embed-replay"' in embed
    # the playlist it names plays for a frame with no cookies
    assert Client().get(f"/s/{room.slug}/replay/replay.m3u8").status_code == 200

    # while it is being prepared: a link, no player
    Recording.objects.filter(pk=recording.pk).update(state=Recording.State.ASSEMBLING)
    embed = client.get(f"/s/{room.slug}/embed/").content.decode()
    assert "data-embed-player" not in embed and 'data-testid="embed-replay"' in embed

    # guests may not listen: a link to sign in on Spaces, no player
    Recording.objects.filter(pk=recording.pk).update(state=Recording.State.READY)
    Room.objects.filter(pk=room.pk).update(guests_may_listen=False)
    embed = client.get(f"/s/{room.slug}/embed/").content.decode()
    assert "data-embed-player" not in embed and 'data-testid="embed-replay"' in embed

    # deleted or taken down: nothing to play, no link to a replay that is not there
    for state in (Recording.State.DELETED, Recording.State.REMOVED, Recording.State.FAILED):
        Recording.objects.filter(pk=recording.pk).update(state=state)
        embed = client.get(f"/s/{room.slug}/embed/").content.decode()
        assert "data-embed-player" not in embed and 'data-testid="embed-replay"' not in embed
        assert "This Space has ended." in embed


# The REC badge and the link preview


def test_a_recorded_live_space_shows_rec_everywhere_it_appears(client):
    room = RoomFactory(title="Recorded live", record=True)
    other = RoomFactory(title="Not recorded")
    public = client.get(f"/s/{room.slug}/").content.decode()
    assert 'data-testid="rec-badge"' in public
    assert re.search(r'og:description" content="[^"]*Recorded', public)
    assert 'data-testid="rec-badge"' not in client.get(f"/s/{other.slug}/").content.decode()
    home = client.get("/").content.decode()
    card = home.split("Recorded live")[0].rsplit('data-testid="space-card"', 1)[1]
    assert 'data-testid="rec-badge"' in card
    assert 'data-testid="rec-badge"' in client.get(f"/s/{room.slug}/embed/").content.decode()
    search = client.get("/search/?q=Recorded").content.decode()
    assert 'data-testid="rec-badge"' in search
    client.force_login(room.host)
    assert 'data-testid="rec-badge"' in client.get(f"/rooms/{room.slug}/").content.decode()


def test_the_card_of_a_recorded_space_says_rec(client):
    from io import BytesIO

    from PIL import Image

    room = RoomFactory(record=True)
    plain = RoomFactory()
    recorded_card = Image.open(BytesIO(client.get(f"/s/{room.slug}/card.png").content))
    plain_card = Image.open(BytesIO(client.get(f"/s/{plain.slug}/card.png").content))
    assert "REC" in recorded_card.text["Description"]
    assert "REC" not in plain_card.text["Description"]


# Record this Space: the forms


def test_the_host_chooses_recording_when_creating_and_editing_a_space(client):
    host = UserFactory()
    client.force_login(host)
    response = client.post(
        "/rooms/new/", {"title": "Taped", "start": "now", "guests_may_listen": "on", "record": "on"}
    )
    assert response.status_code == 302
    assert Room.objects.get(title="Taped").record is True
    client.post("/rooms/new/", {"title": "Untaped", "start": "now"})
    assert Room.objects.get(title="Untaped").record is False
    scheduled = RoomFactory(host=host, state="scheduled", started_at=None, with_host=False)
    from django.utils import timezone

    scheduled.scheduled_for = timezone.now() + timezone.timedelta(days=1)
    scheduled.save()
    form = client.get(f"/rooms/{scheduled.slug}/edit/").content.decode()
    assert 'name="record"' in form
    when = scheduled.scheduled_for.strftime("%Y-%m-%dT%H:%M")
    client.post(
        f"/rooms/{scheduled.slug}/edit/",
        {"title": scheduled.title, "scheduled_for": when, "timezone": "UTC", "record": "on"},
    )
    scheduled.refresh_from_db()
    assert scheduled.record is True


# Plays


def test_plays_count_once_a_day_per_person_and_per_guest_and_the_host_sees_the_count():
    room, recording = recorded_space()
    guest = Client()
    guest.get(f"/s/{room.slug}/")  # the page gives the guest its cookie
    play = reverse("replay_play", args=[room.slug])
    assert guest.post(play).json() == {"counted": True}
    assert guest.post(play).json() == {"counted": False}
    listener = Client()
    listener.force_login(UserFactory())
    assert listener.post(play).json() == {"counted": True}
    host = Client()
    host.force_login(room.host)
    page = host.get(f"/s/{room.slug}/").content.decode()
    assert re.search(r'data-testid="play-count">Played 2 times<', page)
    # nobody else sees the count
    assert 'data-testid="play-count"' not in listener.get(f"/s/{room.slug}/").content.decode()


def test_the_play_endpoint_needs_csrf():
    room, _ = recorded_space()
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    assert client.post(reverse("replay_play", args=[room.slug])).status_code == 403
    assert not recording_plays(room)


def recording_plays(room):
    return list(room.recording.plays.all())


# Visibility


def test_a_private_recording_is_only_for_those_let_in():
    room, _ = recorded_space(visibility=Room.Visibility.PRIVATE)
    stranger = Client()
    stranger.force_login(UserFactory())
    response = stranger.get(f"/s/{room.slug}/")
    assert response.status_code == 403
    assert 'data-testid="replay"' not in response.content.decode()
    assert stranger.get(f"/s/{room.slug}/replay/replay.m3u8").status_code == 404
    assert stranger.get(f"/s/{room.slug}/replay/audio.m4a").status_code == 404
    assert Client().get(f"/s/{room.slug}/replay/audio.m4a").status_code == 404
    let_in = UserFactory()
    SpaceAccess.objects.create(room=room, user=let_in, status=SpaceAccess.Status.APPROVED)
    friend = Client()
    friend.force_login(let_in)
    assert 'data-testid="replay"' in friend.get(f"/s/{room.slug}/").content.decode()
    assert friend.get(f"/s/{room.slug}/replay/audio.m4a").status_code == 200


def test_an_unlisted_recording_plays_for_anyone_with_the_link_but_is_not_in_the_feed(client):
    room, _ = recorded_space(visibility=Room.Visibility.UNLISTED)
    assert 'data-testid="replay"' in client.get(f"/s/{room.slug}/").content.decode()
    feed = client.get(f"/u/{room.host.username}/feed.xml").content.decode()
    assert room.slug not in feed


def test_guests_off_means_guests_sign_in_to_replay(client):
    room, _ = recorded_space(guests_may_listen=False)
    page = client.get(f"/s/{room.slug}/").content.decode()
    assert 'data-testid="sign-in-prompt"' in page
    assert 'data-testid="replay"' not in page
    assert client.get(f"/s/{room.slug}/replay/replay.m3u8").status_code == 403
    client.force_login(UserFactory())
    assert 'data-testid="replay"' in client.get(f"/s/{room.slug}/").content.decode()
    assert client.get(f"/s/{room.slug}/replay/replay.m3u8").status_code == 200


def test_file_names_outside_the_recording_are_refused(client):
    room, _ = recorded_space()
    for name in ["..%2Fsecret.m4a", "vod.txt", "x.py"]:
        assert client.get(f"/s/{room.slug}/replay/{name}").status_code == 404


def test_the_m4a_is_served_in_byte_ranges_for_seeking(client):
    room, recording = recorded_space()
    whole = client.get(f"/s/{room.slug}/replay/audio.m4a")
    size = int(whole["Content-Length"])
    part = client.get(f"/s/{room.slug}/replay/audio.m4a", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{size}"
    assert len(part.content) == 100
    assert b"".join(whole.streaming_content)[100:200] == part.content


# The timeline


def test_the_timeline_has_posts_pins_and_stage_turns_at_their_moment(client):
    from datetime import timedelta

    room, recording = recorded_space(tones=[(440.0, 60.0)])
    speaker = UserFactory(profile="Zoé <b>Speaker</b>")
    start = recording.started_at

    def at(seconds):
        return start + timedelta(seconds=seconds)

    def log(verb, seconds, **data):
        event = RoomEvent.objects.create(
            room=room, verb=verb, actor=speaker, target=speaker, data=data
        )
        RoomEvent.objects.filter(pk=event.pk).update(created_at=at(seconds))

    log("hand_accepted", 10, role="speaker", previous_role="listener")
    log("recording_consent", 20, consent=False)
    log("moved_to_audience", 30, role="listener", previous_role="speaker")
    post = PostFactory(room=room, author=speaker, text="<script>alert(1)</script> hi")
    type(post).objects.filter(pk=post.pk).update(created_at=at(15))
    response = client.get(f"/s/{room.slug}/")
    page = response.content.decode()
    # user text only as JSON (escaped inside the script element), never as markup
    assert "<script>alert(1)</script>" not in page
    assert "<b>Speaker</b>" not in page
    timeline = replay_data(response)["timeline"]
    turns = [
        (t["person"]["name"], t["start"], t["end"], t["recorded"])
        for t in timeline["turns"]
        if t["person"]["id"] == speaker.pk
    ]
    assert turns == [
        ("Zoé <b>Speaker</b>", 10.0, 20.0, True),
        ("Zoé <b>Speaker</b>", 20.0, 30.0, False),
    ]
    posts = [i for i in timeline["items"] if i["kind"] == "post"]
    assert posts == [
        {
            "at": 15.0,
            "kind": "post",
            "person": {"id": speaker.pk, "name": "Zoé <b>Speaker</b>", "handle": speaker.username},
            "text": "<script>alert(1)</script> hi",
        }
    ]
    kinds = [(i["kind"], i["at"]) for i in timeline["items"] if i["person"]["id"] == speaker.pk]
    assert ("joined_stage", 10.0) in kinds and ("left_stage", 30.0) in kinds


# Clips


def test_a_listener_clips_a_range_of_the_replay_and_its_page_plays_it(
    django_capture_on_commit_callbacks,
):
    room, recording = recorded_space(tones=[(440.0, 20.0)], title="Clip <me>")
    person = UserFactory(profile="Clipper")
    client = Client()
    client.force_login(person)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("clip_create", args=[room.slug]), {"start": "5", "duration": "8"}
        )
    assert response.status_code == 201, response.content
    answer = response.json()
    status = client.get(answer["status"]).json()
    assert status["state"] == "ready" and status["progress"] == 100
    clip = Clip.objects.get(slug=answer["slug"])
    assert (clip.start, clip.duration, clip.creator) == (5.0, 8.0, person)
    page = Client().get(answer["page"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "Clip &lt;me&gt;" in text and "Clip <me>" not in text
    assert "Listen to the full Space" in text
    assert f'href="/s/{room.slug}/#t=5"' in text
    assert 'property="og:title"' in text and 'property="og:image"' in text
    audio = Client().get(f"/c/{clip.slug}/audio.m4a")
    assert audio.status_code == 200
    container = av.open(__import__("io").BytesIO(b"".join(audio.streaming_content)))
    assert container.duration / 1e6 == pytest.approx(8.0, abs=0.2)


def test_clips_are_refused_with_a_clear_error_and_nothing_made():
    room, _ = recorded_space(tones=[(440.0, 20.0)])
    url = reverse("clip_create", args=[room.slug])
    assert Client().post(url, {"start": "1", "duration": "10"}).status_code == 403
    client = Client()
    client.force_login(UserFactory())
    for fields in [
        {"start": "1", "duration": "61"},
        {"start": "1", "duration": "0"},
        {"start": "25", "duration": "10"},
        {"start": "abc", "duration": "10"},
        {"duration": "10"},  # no start: only while live
    ]:
        response = client.post(url, fields)
        assert response.status_code == 400, fields
        assert response.json()["error"]
    assert not Clip.objects.exists()


def test_clip_creation_needs_csrf():
    room, _ = recorded_space()
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    response = client.post(reverse("clip_create", args=[room.slug]), {"start": 0, "duration": 5})
    assert response.status_code == 403
    assert not Clip.objects.exists()


def test_a_live_recorded_space_is_clipped_from_its_last_seconds(
    django_capture_on_commit_callbacks,
):
    from datetime import timedelta

    from django.utils import timezone

    room = RoomFactory(record=True)
    from tests.recording_fixtures import write_recording

    recording = write_recording(
        room,
        tones=[(440.0, 20.0)],
        state=Recording.State.RECORDING,
        started_at=timezone.now() - timedelta(seconds=20),
    )
    Recording.objects.filter(pk=recording.pk).update(audio_file="")  # only segments so far
    client = Client()
    client.force_login(UserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("clip_create", args=[room.slug]), {"duration": "30"})
    assert answer.status_code == 201, answer.content
    clip = Clip.objects.get()
    assert clip.start == pytest.approx(0.0, abs=1.5)
    assert clip.duration == pytest.approx(20.0, abs=1.5)
    assert clip.state == Clip.State.READY


def test_a_deleted_or_removed_clip_answers_gone(client):
    room, recording = recorded_space()
    clip = Clip.objects.create(
        recording=recording, room=room, start=0, duration=5, state=Clip.State.DELETED
    )
    response = client.get(f"/c/{clip.slug}/")
    assert response.status_code == 410
    assert "the host deleted the recording" in response.content.decode()
    Clip.objects.filter(pk=clip.pk).update(state=Clip.State.REMOVED)
    response = client.get(f"/c/{clip.slug}/")
    assert response.status_code == 410
    assert "removed by staff" in response.content.decode()
    assert client.get(f"/c/{clip.slug}/audio.m4a").status_code == 404


def test_a_private_spaces_clip_is_not_found_for_strangers(client):
    room, recording = recorded_space(visibility=Room.Visibility.PRIVATE)
    clip = Clip.objects.create(recording=recording, room=room, start=0, duration=5)
    assert client.get(f"/c/{clip.slug}/").status_code == 404
    assert client.get(f"/c/{clip.slug}/status/").status_code == 404


# The host deleting, staff taking down


def test_the_host_deletes_the_recording_and_every_file_goes(django_capture_on_commit_callbacks):
    room, recording = recorded_space(tones=[(440.0, 12.0)])
    host = Client()
    host.force_login(room.host)
    with django_capture_on_commit_callbacks(execute=True):
        host.post(reverse("clip_create", args=[room.slug]), {"start": "0", "duration": "5"})
    clip = Clip.objects.get()
    assert clip.state == Clip.State.READY
    assert "clips" in files_of(recording)
    page = host.get(f"/s/{room.slug}/").content.decode()
    assert 'data-testid="recording-delete"' in page
    assert 'data-testid="host-clips"' in page and f"/c/{clip.slug}/" in page
    assert files_of(recording)
    # without the confirmation box ticked, nothing happens
    host.post(reverse("recording_delete", args=[room.slug]))
    recording.refresh_from_db()
    assert recording.state == Recording.State.READY
    with django_capture_on_commit_callbacks(execute=True):  # files may go after commit
        host.post(reverse("recording_delete", args=[room.slug]), {"confirm": "yes"})
    recording.refresh_from_db()
    assert recording.state == Recording.State.DELETED
    assert files_of(recording) == []
    assert Clip.objects.get().state == Clip.State.DELETED
    page = Client().get(f"/s/{room.slug}/").content.decode()
    assert "The host deleted the recording." in page
    assert 'data-testid="rec-badge"' not in page
    assert Client().get(f"/c/{clip.slug}/").status_code == 410


def test_only_the_host_may_delete_the_recording():
    room, recording = recorded_space()
    other = Client()
    other.force_login(UserFactory())
    other.post(reverse("recording_delete", args=[room.slug]), {"confirm": "yes"})
    recording.refresh_from_db()
    assert recording.state == Recording.State.READY
    assert files_of(recording)
    assert 'data-testid="recording-delete"' not in other.get(f"/s/{room.slug}/").content.decode()


def test_staff_take_down_a_recording_from_the_admin_with_an_audit_entry(
    django_capture_on_commit_callbacks,
):
    room, recording = recorded_space()
    assert 'data-testid="rec-badge"' in Client().get(f"/s/{room.slug}/").content.decode()
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/rooms/recording/",
            {"action": "take_down", "_selected_action": [recording.pk], "reason": "Hate speech"},
        )
    assert response.status_code == 302
    recording.refresh_from_db()
    assert recording.state == Recording.State.REMOVED
    assert files_of(recording) == []
    entry = ModerationAction.objects.get(kind=ModerationAction.Kind.REMOVE_RECORDING)
    assert entry.actor == staff and entry.room == room
    page = Client().get(f"/s/{room.slug}/").content.decode()
    assert "removed by staff" in page
    # nothing is kept any more: no REC badge, and the link preview does not say "Recorded"
    assert 'data-testid="rec-badge"' not in page and "· Recorded" not in page


def test_staff_take_down_a_clip_from_the_admin(django_capture_on_commit_callbacks):
    room, recording = recorded_space()
    with django_capture_on_commit_callbacks(execute=True):
        clip = recordings.create_clip(user=UserFactory(), room=room, start=0, duration=5)
    clip.refresh_from_db()
    assert clip.state == Clip.State.READY
    clip_file = replay.stored_name(recording, clip.audio_file)
    assert replay.storage().exists(clip_file)
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/rooms/clip/",
            {"action": "take_down", "_selected_action": [clip.pk], "reason": "Doxxing"},
        )
    clip.refresh_from_db()
    assert clip.state == Clip.State.REMOVED
    assert not replay.storage().exists(clip_file)
    assert ModerationAction.objects.filter(kind=ModerationAction.Kind.REMOVE_CLIP).exists()
    assert Client().get(f"/c/{clip.slug}/").status_code == 410


def test_stage_members_are_listed_on_a_clip_page(django_capture_on_commit_callbacks):
    from datetime import timedelta

    room, recording = recorded_space(tones=[(440.0, 30.0)])
    speaker = UserFactory(profile="Ana Speaker")
    ParticipantFactory(room=room, user=speaker, role="listener")
    event = RoomEvent.objects.create(
        room=room,
        verb="speaker_promoted",
        actor=room.host,
        target=speaker,
        data={"role": "speaker"},
    )
    said_yes = RoomEvent.objects.create(
        room=room, verb="recording_consent", actor=speaker, data={"consent": True}
    )
    unmuted = RoomEvent.objects.create(room=room, verb="speaker_unmuted", actor=speaker)
    for at, row in enumerate((event, said_yes, unmuted), start=2):
        RoomEvent.objects.filter(pk=row.pk).update(
            created_at=recording.started_at + timedelta(seconds=at)
        )
    with django_capture_on_commit_callbacks(execute=True):
        clip = recordings.create_clip(user=UserFactory(), room=room, start=5, duration=10)
    page = Client().get(f"/c/{clip.slug}/").content.decode()
    assert "Ana Speaker" in page
    assert room.host.display_name in page


def test_clip_plays_count_once_a_day_and_show_in_the_hosts_list_not_in_replay_plays():
    room, recording = recorded_space()
    clip = Clip.objects.create(
        recording=recording,
        room=room,
        start=0,
        duration=5,
        state=Clip.State.READY,
        audio_file="replay.m4a",
    )
    listener = Client()
    listener.force_login(UserFactory())
    play = reverse("clip_play", args=[clip.slug])
    assert listener.post(play).json() == {"counted": True}
    assert listener.post(play).json() == {"counted": False}
    guest = Client()
    guest.get(f"/s/{room.slug}/")  # a guest id
    assert guest.post(play).json() == {"counted": True}
    host = Client()
    host.force_login(room.host)
    page = host.get(f"/s/{room.slug}/").content.decode()
    assert "2 plays" in page
    assert re.search(r'data-testid="play-count">Played 0 times<', page)


def test_the_clip_page_of_a_space_that_asks_listeners_to_sign_in():
    room, recording = recorded_space(guests_may_listen=False)
    clip = Clip.objects.create(
        recording=recording,
        room=room,
        start=0,
        duration=5,
        state=Clip.State.READY,
        audio_file="replay.m4a",
    )
    page = Client().get(f"/c/{clip.slug}/").content.decode()
    assert 'data-testid="sign-in-prompt"' in page and "data-clip-audio" not in page
    assert Client().get(f"/c/{clip.slug}/audio.m4a").status_code == 403


def test_the_host_also_deletes_a_recording_that_failed_or_is_being_prepared(
    django_capture_on_commit_callbacks,
):
    for state in (Recording.State.FAILED, Recording.State.ASSEMBLING):
        room, recording = recorded_space(state=state)
        host = Client()
        host.force_login(room.host)
        page = host.get(f"/s/{room.slug}/").content.decode()
        assert 'data-testid="recording-delete"' in page
        assert 'data-testid="play-count"' not in page
        with django_capture_on_commit_callbacks(execute=True):
            host.post(reverse("recording_delete", args=[room.slug]), {"confirm": "yes"})
        recording.refresh_from_db()
        assert recording.state == Recording.State.DELETED
        assert files_of(recording) == []


def test_the_admin_lists_and_shows_recordings_and_clips():
    room, recording = recorded_space(title="Admin view")
    clip = Clip.objects.create(recording=recording, room=room, start=0, duration=5)
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for url in [
        "/admin/rooms/recording/",
        f"/admin/rooms/recording/{recording.pk}/change/",
        "/admin/rooms/clip/",
        f"/admin/rooms/clip/{clip.pk}/change/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Admin view" in response.content.decode(), url
    # without a reason, nothing is taken down
    client.post(
        "/admin/rooms/recording/",
        {"action": "take_down", "_selected_action": [recording.pk], "reason": ""},
    )
    recording.refresh_from_db()
    assert recording.state == Recording.State.READY


def test_make_run_serves_uploads_but_never_a_recordings_file(client, settings):
    """Under `make run` MEDIA_ROOT is served as is; the recordings in it only through their
    views, which ask who may hear them."""
    import importlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.urls import clear_url_caches

    import spaces_project.urls as site_urls

    room, recording = recorded_space(title="Not under /media/")
    Room.objects.filter(pk=room.pk).update(guests_may_listen=False)
    upload = default_storage.save("avatars/served.txt", ContentFile(b"an upload"))
    settings.SERVE_MEDIA = True
    try:
        importlib.reload(site_urls)
        clear_url_caches()
        assert client.get(settings.MEDIA_URL + upload).status_code == 200
        for name in (recording.audio_file, recording.playlist):
            assert client.get(settings.MEDIA_URL + recording.prefix + name).status_code == 404
        # the view still asks: a guest may not listen here
        assert client.get(f"/s/{room.slug}/replay/audio.m4a").status_code == 403
    finally:
        default_storage.delete(upload)
        settings.SERVE_MEDIA = False
        importlib.reload(site_urls)
        clear_url_caches()
