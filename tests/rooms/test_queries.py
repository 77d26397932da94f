"""Pages cost a fixed number of queries however many Spaces and people there are."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rooms.models import Reminder
from tests.factories import (
    InviteFactory,
    ParticipantFactory,
    RoomFactory,
    ScheduledRoomFactory,
    TopicFactory,
    UserFactory,
)

from .conftest import grant_moderation

pytestmark = pytest.mark.django_db


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def add_spaces(count, topics):
    for _ in range(count):
        room = RoomFactory()
        room.topics.set(topics)
        ParticipantFactory(room=room, role="speaker")
        ParticipantFactory(room=room)
        ScheduledRoomFactory().topics.set(topics)


def add_people(room, count):
    now = timezone.now()
    for i in range(count):
        role = "speaker" if i % 5 == 0 else "listener"
        ParticipantFactory(room=room, role=role, hand_raised_at=now if i % 7 == 0 else None)


@pytest.mark.parametrize("signed_in", [False, True])
def test_home(client, django_assert_max_num_queries, signed_in):
    if signed_in:
        client.force_login(UserFactory())
    topics = [TopicFactory(), TopicFactory()]
    add_spaces(3, topics)
    few = queries_for(client, reverse("home"))
    add_spaces(27, topics)
    with django_assert_max_num_queries(few):
        page = client.get(reverse("home")).content.decode()
    assert page.count('data-testid="space-card"') == 60


@pytest.mark.parametrize("viewer", ["host", "listener", "outsider", "staff"])
def test_room_page(client, live_space, django_assert_max_num_queries, viewer):
    person = {
        "host": live_space.host,
        "listener": live_space.listener,
        "outsider": UserFactory(),
        "staff": grant_moderation(UserFactory(is_staff=True)),
    }[viewer]
    InviteFactory(room=live_space.room, invitee=live_space.listener)
    live_space.room.topics.set([TopicFactory(), TopicFactory()])
    client.force_login(person)
    url = reverse("room_detail", args=[live_space.room.slug])
    add_people(live_space.room, 3)
    few = queries_for(client, url)
    add_people(live_space.room, 40)
    with django_assert_max_num_queries(few):
        client.get(url)


def test_room_page_for_a_scheduled_space(client, scheduled_space, django_assert_max_num_queries):
    person = UserFactory()
    Reminder.objects.create(room=scheduled_space, user=person)
    client.force_login(person)
    with django_assert_max_num_queries(10):
        client.get(reverse("room_detail", args=[scheduled_space.slug]))


@pytest.mark.parametrize("signed_in", [False, True])
def test_public_page(client, live_space, django_assert_max_num_queries, signed_in):
    if signed_in:
        client.force_login(UserFactory())
    url = reverse("space_public", args=[live_space.room.slug])
    add_people(live_space.room, 3)
    few = queries_for(client, url)
    add_people(live_space.room, 40)
    with django_assert_max_num_queries(few):
        client.get(url)


def test_my_spaces(client, user, django_assert_max_num_queries):
    client.force_login(user)

    def mine(count):
        for _ in range(count):
            RoomFactory(host=user)
            ScheduledRoomFactory(host=user).topics.set([TopicFactory()])
            ParticipantFactory(user=user, room=RoomFactory(state="ended", with_host=False))

    mine(2)
    few = queries_for(client, reverse("my_spaces"))
    mine(10)
    with django_assert_max_num_queries(few):
        client.get(reverse("my_spaces"))
