"""The public link `/s/<slug>/`: anyone may open it, share it, report it, add it to a calendar."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from rooms.calendar import escape, fold
from rooms.models import Participant, Presence, Reminder
from tests.factories import ParticipantFactory, RoomFactory, ScheduledRoomFactory, UserFactory

from .conftest import grant_moderation

pytestmark = pytest.mark.django_db


def public(client, room, status=200):
    response = client.get(reverse("space_public", args=[room.slug]))
    assert response.status_code == status
    return response.content.decode()


def meta(html: str, key: str) -> str:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    assert found, f"no {key} meta tag"
    return unescape(found.group(1))


def connected(room, *people):
    for person in people:
        Presence.objects.create(
            room=room, user=person, channel_name=f"c{person.pk}", listening=True
        )


def test_a_signed_out_visitor_sees_a_live_space_and_can_listen(client, live_space):
    connected(live_space.room, live_space.listener, live_space.hand)
    page = public(client, live_space.room)
    assert "Engines at dawn" in page
    assert f"Hosted by {live_space.host.display_name}" in page
    stage = page.split('data-testid="stage"')[1].split("</ul>")[0]
    for person in (live_space.host, live_space.cohost, live_space.speaker):
        assert person.display_name in stage
    assert live_space.listener.display_name not in stage
    assert "2 listening" in page
    assert "data-room-app" in page  # the live client draws the Listen button
    assert reverse("space_report", args=[live_space.room.slug]) in page
    assert 'data-share="copy"' in page and 'data-share="sheet"' in page
    assert "share.js" in page


@pytest.mark.parametrize("who", ["listener", "speaker", "cohost", "host", "staff"])
def test_signed_in_visitors_listen_by_joining(client_for, live_space, who):
    person = (
        grant_moderation(UserFactory(is_staff=True)) if who == "staff" else getattr(live_space, who)
    )
    page = public(client_for(person), live_space.room)
    assert re.search(r'name="action" value="join">\s*<button[^>]*data-action="listen"', page)
    assert 'id="listen-button"' not in page


def test_when_guests_may_not_listen_signed_out_visitors_are_asked_to_sign_in(client, live_space):
    live_space.room.guests_may_listen = False
    live_space.room.save()
    page = public(client, live_space.room)
    assert 'data-testid="sign-in-prompt"' in page
    assert 'data-action="listen"' not in page
    assert f"{reverse('account_login')}?next=/s/{live_space.room.slug}/" in page


def test_open_graph_and_twitter_cards_unfurl_with_title_and_host(client, live_space):
    live_space.host.profile.display_name = 'Ada "The Host" <Lovelace>'
    live_space.host.profile.save()
    connected(live_space.room, live_space.listener, live_space.hand)
    page = public(client, live_space.room)
    url = f"http://testserver/s/{live_space.room.slug}/"
    assert meta(page, "og:title") == "Engines at dawn"
    assert meta(page, "og:url") == url
    assert meta(page, "og:type") == "website"
    assert 'Ada "The Host" <Lovelace>' in meta(page, "og:description")
    assert "2 listening" in meta(page, "og:description")
    assert meta(page, "twitter:card") == "summary_large_image"
    assert meta(page, "twitter:title") == "Engines at dawn"
    assert "<Lovelace>" not in page  # escaped everywhere


def test_a_scheduled_space_shows_its_start_and_remind_me(client, client_for, scheduled_space):
    page = public(client, scheduled_space)
    assert scheduled_space.scheduled_for.strftime("%H:%M") + " UTC" in page
    assert f'datetime="{scheduled_space.scheduled_for.isoformat()}"' in page
    assert "Sign in to get a reminder" in page
    assert reverse("space_calendar", args=[scheduled_space.slug]) in page
    assert "starts" in meta(page, "og:description")

    person = UserFactory()
    client = client_for(person)
    assert 'data-action="remind"' in public(client, scheduled_space)
    client.post(reverse("space_remind", args=[scheduled_space.slug]))
    assert Reminder.objects.filter(room=scheduled_space, user=person).exists()
    assert "Reminder set" in public(client, scheduled_space)
    client.post(reverse("space_remind", args=[scheduled_space.slug]), {"remind": "off"})
    assert not Reminder.objects.exists()


def test_reminders_need_sign_in_and_post(client, scheduled_space):
    url = reverse("space_remind", args=[scheduled_space.slug])
    assert client.post(url).status_code == 302
    assert not Reminder.objects.exists()


def test_an_ended_space_says_so(client):
    room = RoomFactory(state="ended", ended_at=timezone.now(), with_host=False)
    page = public(client, room)
    assert "This Space has ended." in page
    assert 'data-action="listen"' not in page


def test_a_cancelled_space_says_so(client):
    room = ScheduledRoomFactory(state="cancelled")
    assert "This Space was cancelled." in public(client, room)


def test_an_unknown_slug_is_a_proper_404(client):
    response = client.get("/s/not-a-real-space-slug-000/")
    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()
    assert client.get("/s/not-a-real-space-slug-000/event.ics").status_code == 404
    assert client.get("/rooms/not-a-real-space-slug-000/").status_code in (302, 404)


def test_the_report_link_leads_somewhere_useful(client, live_space):
    response = client.get(reverse("space_report", args=[live_space.room.slug]))
    assert response.status_code == 200
    assert "Report this Space" in response.content.decode()


# .ics


def test_calendar_file_for_a_scheduled_space(client, scheduled_space):
    scheduled_space.title = "Q&A; coffee, code\\ and more"
    scheduled_space.description = "Line one\nLine two"
    scheduled_space.scheduled_for = datetime(2030, 5, 17, 18, 30, tzinfo=UTC)
    scheduled_space.save()
    response = client.get(reverse("space_calendar", args=[scheduled_space.slug]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert f'filename="space-{scheduled_space.slug}.ics"' in response["Content-Disposition"]
    body = response.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert "\r\nDTSTART:20300517T183000Z\r\n" in body
    assert "\r\nDTEND:20300517T193000Z\r\n" in body
    assert "\r\nSUMMARY:Q&A\\; coffee\\, code\\\\ and more\r\n" in body
    unfolded = body.replace("\r\n ", "")
    assert "Line one\\nLine two" in unfolded
    assert f"UID:{scheduled_space.slug}@testserver" in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


def test_ics_lines_fold_without_breaking_characters():
    line = "DESCRIPTION:" + "é" * 100
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line
    assert escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


def test_calendar_file_is_not_offered_for_ended_spaces(client):
    room = RoomFactory(state="ended", with_host=False)
    assert client.get(reverse("space_calendar", args=[room.slug])).status_code == 404


def test_a_removed_person_cannot_listen_through_the_link(client_for, live_space):
    now = timezone.now()
    removed = ParticipantFactory(room=live_space.room, removed_at=now, left_at=now).user
    client = client_for(removed)
    response = client.post(
        reverse("room_action", args=[live_space.room.slug]), {"action": "join"}, follow=True
    )
    assert "You were removed from this Space." in response.content.decode()
    assert not Participant.objects.get(room=live_space.room, user=removed).is_present


def test_a_scheduled_space_public_page_for_its_host(client_for, scheduled_space):
    page = public(client_for(scheduled_space.host), scheduled_space)
    assert 'data-action="remind"' in page
    assert scheduled_space.scheduled_for > timezone.now() + timedelta(hours=1)
