"""Host insights: listeners counted in memory and flushed (no query per arrival), sampled over
time, unique without addresses, time on stage from the log; the page, My Spaces and CSV."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from rooms import insights, live, services
from rooms.models import ListenerSample, ListenerSeen, Post, RoomEvent, SpaceTally
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def arrive(room, user=None, guest_id=None, n=[0]):  # noqa: B006 (a counter for channel names)
    n[0] += 1
    viewer, _ = live.viewer_connect(
        slug=room.slug,
        user=user or AnonymousUser(),
        guest_cookie=live.guest_cookie_value(guest_id) if guest_id else None,
        channel_name=f"test.insights.{n[0]}",
        client_address="127.0.0.1",
    )
    return viewer


@override_settings(SPACES_INSIGHTS_FLUSH=3600)
def test_listeners_are_counted_in_memory_then_flushed_and_sampled(django_assert_num_queries):
    insights.flush()  # start from an empty buffer
    room = RoomFactory(title="Morning show")
    ana, ben = UserFactory(), UserFactory()
    sockets = [arrive(room, ana), arrive(room, ana), arrive(room, ben), arrive(room, None, "g1")]
    # Audio answered: one UPDATE each (the listening flag, as before), nothing more for insights.
    for viewer in sockets:
        with django_assert_num_queries(1):
            live.viewer_listening(viewer=viewer, listening=True)
    assert not ListenerSeen.objects.exists()  # still in memory
    insights.flush()
    assert ListenerSeen.objects.filter(room=room).count() == 3  # Ana's two sockets are one
    keys = set(ListenerSeen.objects.values_list("key", flat=True))
    assert not any("127.0.0.1" in k or str(ana.pk) == k for k in keys)

    assert insights.sample() == 1
    live.viewer_disconnect(channel_name=sockets[2].channel_name)  # Ben leaves
    later = timezone.now() + timedelta(minutes=1)
    insights.sample(now=later)
    samples = ListenerSample.objects.filter(room=room).values_list("listeners", flat=True)
    assert list(samples) == [3, 2]  # Ana's two sockets count once
    assert SpaceTally.objects.get(room=room).peak_listeners == 3
    assert ListenerSeen.objects.filter(room=room).count() == 3


def test_reactions_are_added_up_in_memory():
    insights.flush()
    room = RoomFactory()
    for _ in range(5):
        insights.note_reaction(room.pk)
    assert not SpaceTally.objects.filter(room=room, reactions__gt=0).exists()
    insights.flush()
    assert SpaceTally.objects.get(room=room).reactions == 5


def test_time_on_stage_is_read_from_the_event_log():
    host = UserFactory(profile="Hana")
    guest_speaker = UserFactory(profile="Sam")
    room = services.room_create(host=host, title="Panel")
    services.participant_join(room=room, user=guest_speaker)
    services.speaker_promote(room=room, user=guest_speaker, actor=host)
    services.participant_move_to_audience(room=room, user=guest_speaker, actor=host)
    services.room_end(room=room, actor=host)
    start = timezone.now() - timedelta(hours=1)
    moments = {
        "room_created": 0,
        "participant_joined": 5,
        "speaker_promoted": 10,
        "moved_to_audience": 25,
        "room_ended": 60,
    }
    for verb, minutes in moments.items():
        RoomEvent.objects.filter(room=room, verb=verb).update(
            created_at=start + timedelta(minutes=minutes)
        )
    room.refresh_from_db()
    seconds = insights.stage_seconds(room)
    assert round(seconds[host.pk]) == 60 * 60
    assert round(seconds[guest_speaker.pk]) == 15 * 60


@pytest.fixture
def ended_space():
    host = UserFactory(profile="Hana")
    room = RoomFactory(host=host, title="=cmd|' /C calc'!A0", state="ended")
    room.ended_at = timezone.now()
    room.save()
    SpaceTally.objects.create(room=room, peak_listeners=7, reactions=12)
    ListenerSeen.objects.bulk_create([ListenerSeen(room=room, key=f"k{n}") for n in range(9)])
    ListenerSample.objects.create(room=room, at=timezone.now(), listeners=7)
    Post.objects.create(room=room, author=host, text="Welcome")
    return room


def test_the_host_sees_insights_on_my_spaces_and_downloads_csv(ended_space):
    room = ended_space
    client = Client()
    client.force_login(room.host)
    mine = client.get(reverse("my_spaces")).content.decode()
    assert "Peak 7 listening · 9 listeners in all" in mine
    page = client.get(reverse("room_insights", args=[room.slug])).content.decode()
    for testid, value in (("peak", "7"), ("unique", "9"), ("reactions", "12"), ("posts", "1")):
        assert f'data-testid="{testid}">{value}' in page
    assert 'data-testid="chart"' in page
    rows = list(
        csv.reader(
            io.StringIO(client.get(reverse("room_insights_csv", args=[room.slug])).content.decode())
        )
    )
    assert ["Peak listeners", "7"] in rows and ["Unique listeners", "9"] in rows
    assert rows[0] == ["Space", "'=cmd|' /C calc'!A0"]  # no spreadsheet formula


def test_only_the_host_sees_insights(ended_space):
    client = Client()
    client.force_login(UserFactory())
    assert client.get(reverse("room_insights", args=[ended_space.slug])).status_code == 404
    assert client.get(reverse("room_insights_csv", args=[ended_space.slug])).status_code == 404
    mine = client.get(reverse("my_spaces")).content.decode()
    assert "insights-link" not in mine
