"""Staff act on Spaces from the Django admin through the same services, with the same rules."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from rooms.models import Participant, RoomEvent
from tests.factories import ParticipantFactory, RoomFactory, ScheduledRoomFactory, UserFactory

pytestmark = pytest.mark.django_db

PARTICIPANTS = reverse("admin:rooms_participant_changelist")
ROOMS = reverse("admin:rooms_room_changelist")


def run_action(client, url, action, objects):
    response = client.post(
        url, {"action": action, "_selected_action": [o.pk for o in objects]}, follow=True
    )
    assert response.status_code == 200
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def row(space, user):
    return Participant.objects.get(room=space.room, user=user)


def test_staff_promote_a_listener_to_speaker(client_for, staff_moderator, live_space):
    client = client_for(staff_moderator)
    said = run_action(
        client, PARTICIPANTS, "promote_to_speaker", [row(live_space, live_space.listener)]
    )
    assert row(live_space, live_space.listener).role == "speaker"
    assert said == [("success", "Promoted to speaker: 1.")]
    event = RoomEvent.objects.get(verb="speaker_promoted")
    assert event.actor == staff_moderator and event.target == live_space.listener


def test_the_change_is_broadcast_to_the_room_after_commit(
    client_for, staff_moderator, live_space, broadcasts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_action(
            client_for(staff_moderator),
            PARTICIPANTS,
            "move_to_audience",
            [row(live_space, live_space.speaker)],
        )
    [(_, event)] = broadcasts
    assert event["room"] == live_space.room.slug
    assert event["type"] == "moved_to_audience" and event["actor"] == staff_moderator.pk


def test_staff_promote_to_co_host_until_the_seats_are_full(client_for, staff_moderator, live_space):
    client = client_for(staff_moderator)
    run_action(client, PARTICIPANTS, "promote_to_cohost", [row(live_space, live_space.speaker)])
    assert row(live_space, live_space.speaker).role == "cohost"
    events_before = RoomEvent.objects.count()
    said = run_action(
        client, PARTICIPANTS, "promote_to_cohost", [row(live_space, live_space.listener)]
    )
    assert said[0][0] == "error" and "All 2 co-host seats are taken." in said[0][1]
    assert row(live_space, live_space.listener).role == "listener"
    assert RoomEvent.objects.count() == events_before


def test_each_person_succeeds_or_fails_on_their_own(client_for, staff_moderator, live_space):
    said = run_action(
        client_for(staff_moderator),
        PARTICIPANTS,
        "move_to_audience",
        [row(live_space, live_space.speaker), row(live_space, live_space.host)],
    )
    assert row(live_space, live_space.speaker).role == "listener"
    assert row(live_space, live_space.host).role == "host"
    assert ("success", "Moved to the audience: 1.") in said
    assert any(level == "error" and "host" in text for level, text in said)


def test_staff_remove_someone_who_then_cannot_rejoin(client_for, staff_moderator, live_space):
    run_action(
        client_for(staff_moderator),
        PARTICIPANTS,
        "remove_from_space",
        [row(live_space, live_space.hand)],
    )
    assert row(live_space, live_space.hand).removed_at is not None


def test_staff_end_a_space_and_a_refused_one_is_explained(client_for, staff_moderator, live_space):
    scheduled = ScheduledRoomFactory()
    said = run_action(
        client_for(staff_moderator), ROOMS, "end_spaces", [live_space.room, scheduled]
    )
    live_space.room.refresh_from_db()
    scheduled.refresh_from_db()
    assert live_space.room.state == "ended"
    assert scheduled.state == "scheduled"
    assert ("success", "Spaces ended: 1.") in said
    assert ("error", f"{scheduled.title}: That only works while the Space is live.") in said


def test_staff_cancel_a_scheduled_space(client_for, staff_moderator):
    scheduled = ScheduledRoomFactory()
    run_action(client_for(staff_moderator), ROOMS, "cancel_spaces", [scheduled])
    scheduled.refresh_from_db()
    assert scheduled.state == "cancelled"


def test_staff_without_the_permission_cannot_run_actions(client_for, staff_plain, live_space):
    client = client_for(staff_plain)
    page = client.get(PARTICIPANTS).content.decode()
    assert "promote_to_speaker" not in page
    run_action(client, PARTICIPANTS, "promote_to_speaker", [row(live_space, live_space.listener)])
    assert row(live_space, live_space.listener).role == "listener"
    run_action(client, ROOMS, "end_spaces", [live_space.room])
    live_space.room.refresh_from_db()
    assert live_space.room.is_live


def test_people_who_are_not_staff_never_reach_the_admin(client_for, live_space):
    response = client_for(live_space.host).post(
        ROOMS, {"action": "end_spaces", "_selected_action": [live_space.room.pk]}
    )
    assert response.status_code == 302 and "login" in response.url
    live_space.room.refresh_from_db()
    assert live_space.room.is_live


def test_superusers_have_every_action(client_for, live_space):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    page = client_for(admin_user).get(PARTICIPANTS).content.decode()
    for action in (
        "promote_to_speaker",
        "promote_to_cohost",
        "move_to_audience",
        "remove_from_space",
    ):
        assert f'value="{action}"' in page


def test_room_list_filters_and_search(client_for, staff_moderator, live_space):
    client = client_for(staff_moderator)
    ScheduledRoomFactory(title="Upcoming chat")
    live_only = client.get(ROOMS, {"state__exact": "live"}).content.decode()
    assert "Engines at dawn" in live_only and "Upcoming chat" not in live_only
    for query in ("Engines", live_space.host.email, live_space.room.slug):
        found = client.get(ROOMS, {"q": query}).content.decode()
        assert "Engines at dawn" in found and "Upcoming chat" not in found
    page = client.get(ROOMS).content.decode()
    assert "scheduled_for" in page  # the date filter


def test_room_page_shows_its_people_inline_read_only(client_for, staff_moderator, live_space):
    client = client_for(staff_moderator)
    page = client.get(
        reverse("admin:rooms_room_change", args=[live_space.room.pk])
    ).content.decode()
    for person in (live_space.host, live_space.cohost, live_space.speaker, live_space.listener):
        assert person.username in page
    # The row itself is not editable: changes go through actions.
    response = client.post(
        reverse("admin:rooms_room_change", args=[live_space.room.pk]), {"title": "Hacked"}
    )
    live_space.room.refresh_from_db()
    assert live_space.room.title == "Engines at dawn"
    assert response.status_code in (302, 403)


def test_event_log_is_read_only(client_for, staff_moderator, live_space):
    client = client_for(staff_moderator)
    RoomEvent.objects.create(room=live_space.room, verb="speaker_muted", actor=live_space.host)
    event = RoomEvent.objects.get()
    assert client.get(reverse("admin:rooms_roomevent_changelist")).status_code == 200
    assert client.get(reverse("admin:rooms_roomevent_add")).status_code == 403
    assert client.post(reverse("admin:rooms_roomevent_delete", args=[event.pk])).status_code == 403
    assert RoomEvent.objects.count() == 1


def test_changelists_are_a_fixed_number_of_queries(
    client_for, staff_moderator, django_assert_max_num_queries
):
    client = client_for(staff_moderator)

    def build(spaces):
        for _ in range(spaces):
            room = RoomFactory()
            for role in ("cohost", "speaker", "listener", "listener"):
                person = ParticipantFactory(room=room, role=role).user
                RoomEvent.objects.create(
                    room=room, verb="participant_joined", actor=person, target=person
                )

    def count(url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    build(3)
    small = {
        url: count(url)
        for url in (ROOMS, PARTICIPANTS, reverse("admin:rooms_roomevent_changelist"))
    }
    build(27)
    for url, queries in small.items():
        with django_assert_max_num_queries(queries):
            client.get(url)
