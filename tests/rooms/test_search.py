"""The search box: public Spaces (live first) and people, on SQLite and on PostgreSQL (the
services pass runs this module on PostgreSQL, where typos are forgiven)."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rooms.models import Room
from tests.factories import RoomFactory, ScheduledRoomFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="full-text and trigram search need PostgreSQL"
)


def found(query, **params) -> list[str]:
    page = Client().get(reverse("search"), {"q": query, **params}).content.decode()
    return re.findall(
        r'data-testid="search-space" data-state="\w+">.*?<a href="[^"]+">(.*?)</a>', page, re.S
    )


def people(query) -> list[str]:
    page = Client().get(reverse("search"), {"q": query}).content.decode()
    return re.findall(r'data-testid="search-person">.*?<a class="name"[^>]*>(.*?)</a>', page, re.S)


def test_live_spaces_come_first_then_upcoming_then_past():
    ended = RoomFactory(title="Gardening club, last week", state="ended", ended_at=timezone.now())
    upcoming = ScheduledRoomFactory(title="Gardening club tomorrow")
    live = RoomFactory(title="Gardening club now")
    assert found("gardening") == [live.title, upcoming.title, ended.title]


def test_spaces_are_found_by_description_topic_and_host():
    host = UserFactory(username="mira_sings", profile="Mira Okafor")
    topic = TopicFactory(slug="jazz", name="Jazz")
    by_topic = RoomFactory(title="Late session")
    by_topic.topics.add(topic)
    by_words = RoomFactory(title="Talk", description="We discuss saxophone reeds.")
    by_host = RoomFactory(title="Songs at night", host=host)
    assert found("jazz") == [by_topic.title]
    assert found("saxophone") == [by_words.title]
    assert found("@mira_sings") == [by_host.title]
    assert found("Okafor") == [by_host.title]


def test_private_unlisted_and_cancelled_spaces_are_never_found():
    RoomFactory(title="Secret strategy", visibility="private")
    RoomFactory(title="Strategy by link", visibility="unlisted")
    ScheduledRoomFactory(title="Strategy cancelled", state="cancelled")
    public = RoomFactory(title="Strategy for all")
    assert found("strategy") == [public.title]


def test_people_by_name_and_handle():
    UserFactory(username="ada_l", profile="Ada Lovelace")
    UserFactory(username="grace_h", profile="Grace Hopper")
    assert people("lovelace") == ["Ada Lovelace"]
    assert people("@grace") == ["Grace Hopper"]


def test_results_paginate_and_an_empty_query_finds_nothing():
    for n in range(25):
        RoomFactory(title=f"Chess night {n}")
    assert len(found("chess")) == 20
    assert len(found("chess", page=2)) == 5
    assert found("") == [] and people("   ") == []


def test_the_query_count_does_not_grow_with_results(django_assert_max_num_queries):
    topic = TopicFactory(slug="go", name="Go")
    for n in range(3):
        RoomFactory(title=f"Baduk {n}").topics.add(topic)
    UserFactory(username="baduk_fan")
    client = Client()
    url = reverse("search")
    with django_assert_max_num_queries(6) as few:
        client.get(url, {"q": "baduk"})
    for n in range(30):
        RoomFactory(title=f"Baduk more {n}").topics.add(topic)
        UserFactory(username=f"baduk_player_{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url, {"q": "baduk"})


def test_the_header_has_the_search_box():
    page = Client().get(reverse("home")).content.decode()
    assert 'data-testid="header-search"' in page and f'action="{reverse("search")}"' in page


@on_postgres
def test_typos_and_word_forms_still_find_on_postgres():
    host = UserFactory(username="ravi_cooks", profile="Ravi Kumar")
    room = RoomFactory(title="Engines and engineering", host=host)
    RoomFactory(title="Unrelated talk")
    assert found("engine") == [room.title]  # stemming
    assert found("Engnes and engineering") == [room.title]  # a typo
    assert found("ravi_cook") == [room.title]  # part of the host's handle
    assert people("ravi_cokos") == ["Ravi Kumar"]


@on_postgres
def test_the_full_text_index_exists_on_postgres():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'rooms_room'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"room_search_document", "room_title_trigram"} <= names
    assert Room.objects.count() == 0
