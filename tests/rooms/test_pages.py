import re
from datetime import UTC, timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from rooms.models import Invite, Participant, Presence, Reminder, Room
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


def actions_in(html: str) -> set[str]:
    """The data-action names of the buttons and links on a page."""
    return set(re.findall(r'data-action="([a-z_]+)"', html))


def person_actions(html: str, user) -> set[str]:
    return set(re.findall(rf'data-action="([a-z_]+)" data-user="{user.pk}"', html))


# Home


def test_home_lists_live_and_upcoming_spaces_with_counts(client, live_space):
    later = ScheduledRoomFactory(title="Saturday science")
    RoomFactory(state="ended", title="Yesterday's talk", with_host=False)
    # host + co-host + speaker on stage; the two listeners have their audio on.
    for person in (live_space.host, live_space.listener, live_space.hand):
        Presence.objects.create(
            room=live_space.room, user=person, channel_name=f"c{person.pk}", listening=True
        )
    page = client.get(reverse("home")).content.decode()
    live = page.split('data-testid="upcoming"')[0]
    assert "Engines at dawn" in live
    assert "<span data-listener-count>2</span> listening" in live
    assert "<span data-speaker-count>3</span> on stage" in live
    assert later.title in page
    assert "Yesterday" not in page
    assert reverse("space_public", args=[live_space.room.slug]) in live  # guests go to the link
    assert "Create an account" in page  # the hero keeps its sign-up links


def test_home_links_signed_in_people_into_the_room(client_for, user, live_space):
    page = client_for(user).get(reverse("home")).content.decode()
    assert reverse("room_detail", args=[live_space.room.slug]) in page
    assert "Host a Space" in page


def test_home_filters_by_topic(client):
    music, news = TopicFactory(slug="music", name="Music"), TopicFactory(slug="news", name="News")
    jazz = RoomFactory(title="Jazz night")
    jazz.topics.add(music)
    RoomFactory(title="Headlines").topics.add(news)
    page = client.get(reverse("home"), {"topic": "music"}).content.decode()
    assert "Jazz night" in page and "Headlines" not in page
    assert 'aria-current="page"' in page
    everything = client.get(reverse("home"), {"topic": "no-such-topic"}).content.decode()
    assert "Jazz night" in everything and "Headlines" in everything


def test_home_escapes_what_people_write(client):
    RoomFactory(title="<script>alert(1)</script>")
    page = client.get(reverse("home")).content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# Creating, editing, cancelling


def test_signed_out_visitors_are_asked_to_sign_in_to_host(client):
    response = client.get(reverse("room_create"))
    assert response.status_code == 302 and reverse("account_login") in response.url


def test_hosting_a_space_now(client_for, user):
    client = client_for(user)
    form = client.get(reverse("room_create")).content.decode()
    assert "csrfmiddlewaretoken" in form
    music = TopicFactory(slug="music")
    response = client.post(
        reverse("room_create"),
        {"title": "Morning jazz", "description": "Coffee", "topics": [music.pk], "start": "now",
         "guests_may_listen": "on"},
    )  # fmt: skip
    room = Room.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("room_detail", args=[room.slug])
    assert room.is_live and room.host == user and room.guests_may_listen
    assert Participant.objects.get(room=room).role == "host"


def test_scheduling_a_space_in_the_hosts_time_zone(client_for, user):
    tomorrow = (timezone.now() + timedelta(days=1)).date()
    client_for(user).post(
        reverse("room_create"),
        {"title": "Evening talk", "start": "later", "scheduled_for": f"{tomorrow}T19:30",
         "timezone": "Europe/Berlin"},
    )  # fmt: skip
    room = Room.objects.get()
    assert room.is_scheduled and not room.guests_may_listen
    assert room.scheduled_for.astimezone(UTC).strftime("%H:%M") in ("17:30", "18:30")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"title": "t" * 71, "start": "now"}, "at most 70 characters"),
        ({"title": "Later", "start": "later"}, "Pick a start time."),
        ({"title": "Later", "start": "later", "scheduled_for": "2001-01-01T10:00"}, "future"),
        ({"title": "Far", "start": "later", "scheduled_for": "far"}, "14 days"),
        ({"title": "Topics", "start": "now", "topics": "four"}, "at most 3 topics"),
    ],
)
def test_the_form_explains_what_is_wrong(client_for, user, data, error):
    if data.get("scheduled_for") == "far":
        data["scheduled_for"] = (timezone.now() + timedelta(days=15)).strftime("%Y-%m-%dT%H:%M")
    if data.get("topics") == "four":
        data["topics"] = [TopicFactory().pk for _ in range(4)]
    response = client_for(user).post(reverse("room_create"), data)
    assert response.status_code == 200
    assert error in unescape(response.content.decode())
    assert not Room.objects.exists()


def test_the_host_edits_a_scheduled_space(client_for, scheduled_space):
    client = client_for(scheduled_space.host)
    edit_url = reverse("room_edit", args=[scheduled_space.slug])
    form = client.get(edit_url).content.decode()
    assert scheduled_space.title.replace("'", "&#x27;") in form
    when = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(edit_url, {"title": "Renamed", "scheduled_for": when, "timezone": "UTC"})
    assert response.status_code == 302
    scheduled_space.refresh_from_db()
    assert scheduled_space.title == "Renamed"
    assert scheduled_space.scheduled_for.strftime("%Y-%m-%dT%H:%M") == when


def test_only_the_host_edits_or_cancels(client_for, scheduled_space):
    client = client_for(UserFactory())
    assert client.get(reverse("room_edit", args=[scheduled_space.slug])).status_code == 403
    assert client.post(reverse("room_cancel", args=[scheduled_space.slug])).status_code == 403
    scheduled_space.refresh_from_db()
    assert scheduled_space.is_scheduled


def test_a_live_space_cannot_be_edited(client_for, live_space):
    response = client_for(live_space.host).get(reverse("room_edit", args=[live_space.room.slug]))
    assert response.status_code == 403


def test_the_host_cancels_after_confirming(client_for, scheduled_space):
    client = client_for(scheduled_space.host)
    url = reverse("room_cancel", args=[scheduled_space.slug])
    assert "Cancel the Space" in client.get(url).content.decode()
    assert client.post(url).url == reverse("my_spaces")
    scheduled_space.refresh_from_db()
    assert scheduled_space.state == "cancelled"


# The room page, for each kind of visitor


def room_page(client, room):
    response = client.get(reverse("room_detail", args=[room.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_room_page_needs_sign_in(client, live_space):
    response = client.get(reverse("room_detail", args=[live_space.room.slug]))
    assert response.status_code == 302


def test_the_host_sees_host_controls(client_for, live_space):
    page = room_page(client_for(live_space.host), live_space.room)
    assert 'id="room-app"' in page
    assert f'data-room-slug="{live_space.room.slug}"' in page
    assert 'data-viewer-role="host"' in page
    assert {"end", "unmute", "leave"} <= actions_in(page)
    assert "hand_raise" not in actions_in(page)
    assert person_actions(page, live_space.hand) == {
        "hand_accept",
        "hand_decline",
        "invite_cohost",
        "remove",
    }
    assert person_actions(page, live_space.listener) == {
        "invite_speaker",
        "invite_cohost",
        "remove",
    }
    assert person_actions(page, live_space.speaker) == {
        "mute",
        "move_to_audience",
        "invite_cohost",
        "remove",
    }
    assert person_actions(page, live_space.cohost) == {
        "move_to_audience",
        "cohost_remove",
        "remove",
    }
    assert person_actions(page, live_space.host) == set()


def test_a_co_host_sees_what_co_hosts_may_do(client_for, live_space):
    page = room_page(client_for(live_space.cohost), live_space.room)
    assert 'data-viewer-role="cohost"' in page
    assert "end" not in actions_in(page)
    assert person_actions(page, live_space.hand) == {"hand_accept", "hand_decline", "remove"}
    assert person_actions(page, live_space.speaker) == {"mute", "move_to_audience", "remove"}
    assert person_actions(page, live_space.host) == set()


def test_a_speaker_manages_only_their_own_microphone(client_for, live_space):
    page = room_page(client_for(live_space.speaker), live_space.room)
    assert 'data-viewer-role="speaker"' in page
    assert actions_in(page) == {"mute", "move_to_audience", "leave"}


def test_a_listener_can_raise_a_hand_and_leave(client_for, live_space):
    page = room_page(client_for(live_space.listener), live_space.room)
    assert 'data-viewer-role="listener"' in page
    assert actions_in(page) == {"hand_raise", "leave"}
    page = room_page(client_for(live_space.hand), live_space.room)
    assert actions_in(page) == {"hand_lower", "leave"}


def test_someone_not_yet_in_the_space_is_offered_to_join(client_for, live_space):
    page = room_page(client_for(UserFactory()), live_space.room)
    assert actions_in(page) == {"join"}
    assert "Engines at dawn" in page


def test_staff_with_the_permission_see_host_controls(client_for, live_space):
    staff = grant_moderation(UserFactory(is_staff=True))
    page = room_page(client_for(staff), live_space.room)
    assert 'data-staff="true"' in page
    assert {"join", "end"} <= actions_in(page)
    assert person_actions(page, live_space.host) == {"remove"}
    assert "cohost_remove" in person_actions(page, live_space.cohost)


def test_staff_without_the_permission_see_what_anyone_sees(client_for, live_space):
    page = room_page(client_for(UserFactory(is_staff=True)), live_space.room)
    assert actions_in(page) == {"join"}


def test_removed_people_are_shown_the_door(client_for, live_space):
    now = timezone.now()
    removed = ParticipantFactory(room=live_space.room, removed_at=now, left_at=now).user
    response = client_for(removed).get(reverse("room_detail", args=[live_space.room.slug]))
    assert response.status_code == 403
    assert "You were removed from this Space." in response.content.decode()


def test_an_open_invite_is_shown_to_its_invitee(client_for, live_space):
    InviteFactory(room=live_space.room, invitee=live_space.listener, inviter=live_space.cohost)
    page = room_page(client_for(live_space.listener), live_space.room)
    assert "invited you to speak" in page
    assert {"invite_accept", "invite_decline"} <= actions_in(page)


def test_the_host_sees_a_scheduled_space_with_its_controls(client_for, scheduled_space):
    page = room_page(client_for(scheduled_space.host), scheduled_space)
    assert actions_in(page) == {"go_live", "edit", "cancel", "calendar"}
    other = room_page(client_for(UserFactory()), scheduled_space)
    assert actions_in(other) == {"remind", "calendar"}


def test_an_ended_space_says_so(client_for, live_space):
    live_space.room.state = "ended"
    live_space.room.save()
    page = room_page(client_for(live_space.host), live_space.room)
    assert "This Space has ended." in page
    assert actions_in(page) == set()


# Buttons on the room page do what they say


def act(client, room, action, user=None, **extra):
    data = {"action": action, **extra}
    if user is not None:
        data["user"] = user.pk
    return client.post(reverse("room_action", args=[room.slug]), data, follow=True)


def test_the_room_buttons_work_without_javascript(client_for, live_space):
    room = live_space.room
    host = client_for(live_space.host)
    act(host, room, "hand_accept", live_space.hand)
    assert Participant.objects.get(room=room, user=live_space.hand).role == "speaker"
    act(host, room, "invite_speaker", live_space.listener)
    invite = Invite.objects.get(invitee=live_space.listener)
    listener = client_for(live_space.listener)
    response = act(listener, room, "invite_accept", invite=invite.pk)
    assert "You are on stage" in response.content.decode()
    act(listener, room, "unmute")
    assert not Participant.objects.get(room=room, user=live_space.listener).is_muted


def test_a_refused_button_explains_and_changes_nothing(client_for, live_space):
    response = act(client_for(live_space.speaker), live_space.room, "end")
    assert response.status_code == 200
    assert "Only the host can do that." in response.content.decode()
    live_space.room.refresh_from_db()
    assert live_space.room.is_live


def test_joining_from_the_public_page_and_leaving(client_for, live_space):
    person = UserFactory()
    client = client_for(person)
    response = act(client, live_space.room, "join")
    assert response.redirect_chain[-1][0] == reverse("room_detail", args=[live_space.room.slug])
    assert Participant.objects.get(room=live_space.room, user=person).is_present
    response = act(client, live_space.room, "leave")
    assert response.redirect_chain[-1][0] == reverse("home")


def test_room_actions_need_post_and_csrf(client_for, live_space):
    from django.test import Client

    url = reverse("room_action", args=[live_space.room.slug])
    assert client_for(live_space.host).get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(live_space.host)
    assert strict.post(url, {"action": "end"}).status_code == 403
    live_space.room.refresh_from_db()
    assert live_space.room.is_live


def test_unknown_actions_and_people_are_refused_politely(client_for, live_space):
    client = client_for(live_space.host)
    assert "Unknown action." in act(client, live_space.room, "explode").content.decode()
    response = client.post(
        reverse("room_action", args=[live_space.room.slug]),
        {"action": "mute", "user": "abc"},
        follow=True,
    )
    assert "That person is not in this Space." in response.content.decode()


# My Spaces


def test_my_spaces_groups_what_i_host_and_joined(client_for, user):
    hosting = RoomFactory(host=user, title="Hosting now")
    upcoming = ScheduledRoomFactory(host=user, title="My next one")
    reminded = ScheduledRoomFactory(title="Someone else's")
    Reminder.objects.create(room=reminded, user=user)
    past = RoomFactory(title="Last week", state="ended", ended_at=timezone.now(), with_host=False)
    ParticipantFactory(room=past, user=user, left_at=timezone.now())
    ScheduledRoomFactory(title="Not mine")
    page = client_for(user).get(reverse("my_spaces")).content.decode()
    live, rest = page.split('data-testid="my-upcoming"')
    upcoming_part, past_part = rest.split('data-testid="my-past"')
    assert hosting.title in live
    assert upcoming.title in upcoming_part and "Someone else&#x27;s" in upcoming_part
    assert past.title in past_part
    assert "Not mine" not in page


def test_signed_in_header_links(client_for, user):
    page = client_for(user).get(reverse("home")).content.decode()
    assert f'href="{reverse("room_create")}"' in page and f'href="{reverse("my_spaces")}"' in page
