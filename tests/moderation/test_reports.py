"""Reporting a Space, a post or a person: the form, the confirmation, the evidence kept, guest
rate limits and duplicate suppression."""

import pytest
from django.urls import reverse

from moderation.models import Report
from moderation.views import REPORTER_COOKIE
from rooms import posts as room_posts
from rooms import services as room_services
from rooms.models import RoomEvent
from tests.factories import ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


def report_url(space, **query):
    url = reverse("space_report", args=[space.room.slug])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def send(client, url, category="spam", text="", ip="203.0.113.7"):
    return client.post(url, {"category": category, "text": text}, REMOTE_ADDR=ip)


def test_the_public_page_links_to_the_report_form(client, space):
    page = client.get(reverse("space_public", args=[space.room.slug])).content.decode()
    assert report_url(space) in page
    form = client.get(report_url(space))
    assert form.status_code == 200
    body = form.content.decode()
    assert "Report this Space" in body
    assert "Night talk" in body
    assert "Harassment or bullying" in body


def test_a_guest_reports_a_space_and_sees_a_clear_confirmation(client, space):
    last_event = RoomEvent.objects.filter(room=space.room).order_by("-id").first()
    response = send(client, report_url(space), category="hate", text="Slurs from the stage.")

    assert response.status_code == 200
    assert "Thanks, we got your report" in response.content.decode()
    assert REPORTER_COOKIE in response.cookies
    report = Report.objects.get()
    assert report.reporter is None and report.guest_key and report.ip_hash
    assert "203.0.113.7" not in report.ip_hash
    assert (report.target_type, report.target_key) == ("space", f"space:{space.room.pk}")
    assert report.category == "hate" and report.text == "Slurs from the stage."
    assert report.accused == space.host
    assert report.room == space.room
    assert report.last_event_id == (last_event.pk if last_event else None)
    assert report.status == "open" and not report.flagged
    evidence = report.snapshot["space"]
    assert evidence["title"] == "Night talk"
    assert evidence["host"]["id"] == space.host.pk
    assert {s["id"] for s in evidence["speakers"]} == {space.host.pk, space.speaker.pk}


def test_the_snapshot_keeps_the_evidence_after_edits_and_deletion(client_for, space):
    client = client_for(UserFactory())
    send(client, report_url(space, post=space.post.pk), category="spam")
    report = Report.objects.get()
    assert report.target_type == "post"
    assert report.accused == space.listener
    assert report.snapshot["post"]["text"] == "Buy cheap followers at spam.example"

    # The host deletes the post and renames the Space: the report still shows what was said.
    room_posts.post_delete(room=space.room, post_id=space.post.pk, actor=space.host)
    space.room.title = "Something else"
    space.room.save()
    report.refresh_from_db()
    assert report.snapshot["post"]["text"] == "Buy cheap followers at spam.example"
    assert report.snapshot["space"]["title"] == "Night talk"


def test_the_report_links_to_the_event_log_at_that_moment(client, space):
    room_services.hand_raise(room=space.room, user=space.listener)
    raised = RoomEvent.objects.filter(room=space.room, verb="hand_raised").get()
    send(client, report_url(space, person=space.listener.pk), category="harassment")
    room_services.hand_lower(room=space.room, user=space.listener)  # after the report

    report = Report.objects.get()
    assert report.target_type == "person" and report.accused == space.listener
    assert report.last_event_id == raised.pk
    assert report.snapshot["person"]["name"] == space.listener.display_name


def test_reporting_a_person_from_their_profile(client_for, space):
    client = client_for(UserFactory())
    profile = client.get(reverse("profile_detail", args=[space.speaker.username]))
    url = reverse("report_person", args=[space.speaker.username])
    assert url in profile.content.decode()
    response = send(client, url, category="impersonation", text="Pretends to be me.")
    assert "Thanks, we got your report" in response.content.decode()
    report = Report.objects.get()
    assert report.target_key == f"person:{space.speaker.pk}" and report.room is None


def test_things_not_in_the_space_cannot_be_reported_through_it(client, space):
    other = ParticipantFactory()  # in another Space
    assert client.get(report_url(space, post=999999)).status_code == 404
    assert client.get(report_url(space, person=other.user.pk)).status_code == 404
    assert client.get(reverse("space_report", args=["no-such-space"])).status_code == 404


def test_a_report_needs_a_category_and_you_cannot_report_yourself(client_for, space):
    client = client_for(space.speaker)
    response = client.post(report_url(space), {"category": "", "text": "?"})
    assert "Pick what kind of problem this is." in response.content.decode()
    response = send(client, reverse("report_person", args=[space.speaker.username]))
    assert response.status_code == 400
    assert "You can&#x27;t report yourself." in response.content.decode()
    assert not Report.objects.exists()


def test_the_same_person_reporting_again_within_a_day_gets_a_friendly_answer(client_for, space):
    client = client_for(UserFactory())
    send(client, report_url(space))
    again = send(client, report_url(space), category="hate")
    assert again.status_code == 200
    assert "You already reported this" in again.content.decode()
    assert Report.objects.count() == 1
    # Another target is a new report.
    send(client, report_url(space, post=space.post.pk))
    assert Report.objects.count() == 2


def test_a_report_older_than_a_day_does_not_suppress_a_new_one(client_for, space, now):
    from datetime import timedelta

    client = client_for(UserFactory())
    send(client, report_url(space))
    Report.objects.update(created_at=now - timedelta(hours=25))
    response = send(client, report_url(space))
    assert "Thanks, we got your report" in response.content.decode()
    assert Report.objects.count() == 2


def test_a_guest_is_recognised_by_cookie_and_by_address(client, space):
    send(client, report_url(space), ip="198.51.100.1")
    # Same cookie, other address (a phone changing networks).
    again = send(client, report_url(space), ip="198.51.100.2")
    assert "You already reported this" in again.content.decode()
    # Cookie cleared, same address.
    client.cookies.clear()
    again = send(client, report_url(space), ip="198.51.100.1")
    assert "You already reported this" in again.content.decode()
    assert Report.objects.count() == 1


def test_guests_are_rate_limited_per_cookie(client, space, settings):
    settings.MODERATION_GUEST_REPORTS_PER_COOKIE = (2, 3600)
    targets = [report_url(space), report_url(space, post=space.post.pk)]
    targets += [report_url(space, person=space.speaker.pk)]
    for index, url in enumerate(targets[:2]):
        assert send(client, url, ip=f"192.0.2.{index}").status_code == 200
    refused = send(client, targets[2], ip="192.0.2.9")
    assert refused.status_code == 429
    assert "Please try again later." in refused.content.decode()
    assert Report.objects.count() == 2
    # Someone else (another cookie, another address) is not affected.
    client.cookies.clear()
    assert send(client, targets[2], ip="192.0.2.10").status_code == 200


def test_guests_are_rate_limited_per_address_even_without_cookies(client, space, settings):
    settings.MODERATION_GUEST_REPORTS_PER_IP = (2, 3600)
    urls = [
        report_url(space),
        report_url(space, post=space.post.pk),
        report_url(space, person=space.speaker.pk),
    ]
    for url in urls[:2]:
        client.cookies.clear()
        assert send(client, url, ip="192.0.2.50").status_code == 200
    client.cookies.clear()
    assert send(client, urls[2], ip="192.0.2.50").status_code == 429
    client.cookies.clear()
    assert send(client, urls[2], ip="192.0.2.51").status_code == 200


def test_a_forged_reporter_cookie_is_replaced(client, space):
    client.cookies[REPORTER_COOKIE] = "forged-value"
    response = send(client, report_url(space))
    assert response.status_code == 200
    assert response.cookies[REPORTER_COOKIE].value != "forged-value"
    assert Report.objects.get().guest_key


def test_signed_in_people_have_a_looser_limit(client_for, space, settings):
    settings.MODERATION_USER_REPORTS = (1, 3600)
    client = client_for(UserFactory())
    assert send(client, report_url(space)).status_code == 200
    assert send(client, report_url(space, post=space.post.pk)).status_code == 429


def test_a_person_is_reported_by_handle_whatever_its_case(client_for, space):
    """Handles ignore case, as their profile pages do: /u/Mixed_Case/report/ is that person."""
    person = UserFactory(username="mixed_case")
    client = client_for(UserFactory())
    url = reverse("report_person", args=["Mixed_Case"])
    form = client.get(url)
    assert form.status_code == 200
    assert reverse("profile_detail", args=["mixed_case"]) in form.content.decode()
    response = send(client, url, category="spam")
    assert "Thanks, we got your report" in response.content.decode()
    assert Report.objects.get().target_key == f"person:{person.pk}"
    assert client.get(reverse("report_person", args=["Nobody_Here"])).status_code == 404
