"""What the live room says about who is there: the listeners grid over the socket (bounded for
big rooms), one listener count on every page, and the host stepping away and coming back."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from rooms import live, realtime
from rooms.models import Presence
from tests.factories import ParticipantFactory

from .live_helpers import join, settled_ticks  # noqa: F401 (a fixture)


def open_page(room, person=None, guest=None, tab=0, listening=True):
    """A socket in the Space, with its audio on (listening) or only the page open."""
    key = person.pk if person else guest
    Presence.objects.create(
        room=room,
        user=person,
        guest_id=guest or "",
        channel_name=f"c.{key}.{tab}",
        listening=listening,
    )


@pytest.mark.django_db
def test_the_same_count_of_listeners_everywhere_guests_included(client, live_space):
    room = live_space.room
    open_page(room, live_space.host)  # on stage: not a listener
    open_page(room, live_space.listener)
    open_page(room, live_space.listener, tab=1)  # two tabs, one person
    open_page(room, guest="g1")
    open_page(room, guest="g2")
    open_page(room, guest="g3", listening=False)  # the page is open, the audio is not on
    assert live.listener_count(room.pk) == 3

    home = client.get(reverse("home")).content.decode()
    assert "<span data-listener-count>3</span> listening" in home
    public = client.get(reverse("space_public", args=[room.slug])).content.decode()
    assert "3 listening" in public.split('property="og:description"')[1].split(">")[0]
    assert live.listener_counts([room.pk]) == {room.pk: 3}


@pytest.mark.django_db
def test_the_listeners_grid_names_signed_in_listeners_and_counts_guests(live_space, settings):
    room = live_space.room
    for person in (live_space.host, live_space.listener, live_space.hand):
        open_page(room, person, listening=person == live_space.listener)
    open_page(room, guest="g1")
    audience = live.audience(room.pk)
    people = {p["id"]: p for p in audience["people"]}
    assert set(people) == {live_space.listener.pk, live_space.hand.pk}  # not the host
    assert people[live_space.hand.pk]["hand"] and not people[live_space.listener.pk]["hand"]
    assert people[live_space.listener.pk]["name"] == live_space.listener.display_name
    assert audience["guests"] == 1


@pytest.mark.django_db
def test_the_listeners_grid_is_bounded_in_a_big_room(live_space):
    room = live_space.room
    for _ in range(live.AUDIENCE_LIMIT + 5):
        open_page(room, ParticipantFactory(room=room).user)
    audience = live.audience(room.pk)
    assert len(audience["people"]) == live.AUDIENCE_LIMIT
    assert live.listener_count(room.pk) == live.AUDIENCE_LIMIT + 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settled_ticks")
async def test_the_listeners_grid_comes_over_the_socket(live_space):
    host, hello = await join(live_space.room, live_space.host)
    assert hello["audience"] == {"people": [], "guests": 0}
    listener, _ = await join(live_space.room, live_space.listener)
    guest, _ = await join(live_space.room, None, guest_id="g-1")
    while True:  # in the grid with the page open, before their audio is on
        update = await host.wait_for("listeners")
        if len(update["audience"]["people"]) == 1 and update["audience"]["guests"] == 1:
            break
    assert update["count"] == 0
    assert [p["id"] for p in update["audience"]["people"]] == [live_space.listener.pk]
    for socket in (host, listener, guest):
        await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settled_ticks")
async def test_the_room_hears_when_the_host_steps_away_and_comes_back(live_space):
    host, hello = await join(live_space.room, live_space.host)
    assert hello["room"]["host_present"] is True
    guest, _ = await join(live_space.room, None, guest_id="g-2")
    await guest.wait_for("listeners")  # the room has been counted once with the host in it
    await host.close()
    away = await guest.wait_for("host_away")
    assert away["actor"] is None
    newcomer, late = await join(live_space.room, None, guest_id="g-3")
    assert late["room"]["host_present"] is False  # a newcomer's page knows it too
    await newcomer.close()
    host, _ = await join(live_space.room, live_space.host)
    await guest.wait_for("host_back")
    await host.close()
    await guest.close()
    assert await sync_to_async(live.host_present)(live_space.room.pk) is False


@pytest.mark.django_db(transaction=True)
async def test_the_grid_s_names_are_sent_again_only_when_they_change(monkeypatch, live_space):
    from rooms import events

    sent = []

    async def abroadcast(room_id, event_type, payload):
        sent.append(payload)

    monkeypatch.setattr(events, "abroadcast", abroadcast)
    room = live_space.room
    # This process holds a socket in the room (what it remembers is per process and room).
    here = {"sockets": 1}
    monkeypatch.setattr(realtime.hub(), "local_count", lambda room_id: here["sockets"])
    await sync_to_async(open_page)(room, live_space.listener)
    await live._flush_count(room.pk)
    await sync_to_async(open_page)(room, guest="g-9")
    await live._flush_count(room.pk)
    await sync_to_async(open_page)(room, live_space.hand)
    await live._flush_count(room.pk)
    here["sockets"] = 0
    await live._flush_count(room.pk)  # the last socket here closed: it forgets the room
    await live._flush_count(room.pk)
    assert len(sent[-1]["audience"]["people"]) == 2
    first, same_people, new_person, _, _ = sent
    assert [p["id"] for p in first["audience"]["people"]] == [live_space.listener.pk]
    assert same_people["audience"] == {"guests": 1} and same_people["count"] == 2
    assert len(new_person["audience"]["people"]) == 2
