"""The live room in Chromium: everything happens without a page reload."""

import re

from playwright.sync_api import expect

from rooms.models import Participant
from tests.factories import ParticipantFactory, RoomFactory, UserFactory


def test_a_raised_hand_accepted_by_the_host_gives_the_listener_speaker_controls(
    signed_in_page,
):
    room = RoomFactory(title="Hands up")
    listener = UserFactory(profile="Lin Listener")
    host_page = signed_in_page(room.host, f"/rooms/{room.slug}/")
    listener_page = signed_in_page(listener, f"/rooms/{room.slug}/")

    expect(listener_page.get_by_test_id("raise-hand")).to_be_visible()
    listener_page.get_by_test_id("raise-hand").click()
    listener_page.get_by_test_id("ask-submit").click()  # no question: just the hand

    queue = host_page.get_by_test_id("hands-queue")
    expect(queue).to_contain_text("Lin Listener")
    queue.get_by_test_id("hand-accept").click()

    # The listener is now on stage with a microphone toggle, without reloading.
    mine = listener_page.locator(f'#room-app [data-testid=stage] li[data-user="{listener.pk}"]')
    expect(mine).to_have_attribute("data-role", "speaker")
    expect(listener_page.get_by_test_id("self-mute")).to_be_visible()
    expect(listener_page.get_by_test_id("raise-hand")).to_have_count(0)
    assert Participant.objects.get(room=room, user=listener).role == "speaker"


def test_a_guest_on_the_public_page_sees_a_post_just_written(new_page, signed_in_page):
    room = RoomFactory(title="Open mic")
    speaker = ParticipantFactory(room=room, role="speaker", user__profile="Sam Speaker").user
    guest_page = new_page(f"/s/{room.slug}/")
    count = guest_page.locator("#room-app [data-testid=listener-count]")
    expect(count).to_have_text("0 listening")  # the page is open; nobody listens yet
    guest_page.get_by_test_id("listen").click()
    expect(count).to_have_text("1 listening")

    speaker_page = signed_in_page(speaker, f"/rooms/{room.slug}/")
    form = speaker_page.get_by_test_id("post-form")
    form.locator("input").fill("<b>Welcome</b> everyone")
    form.get_by_role("button", name="Post").click()

    feed = guest_page.get_by_test_id("feed")
    expect(feed).to_contain_text("Sam Speaker: <b>Welcome</b> everyone")
    # Guests read the feed but cannot post; they can report a post.
    expect(guest_page.get_by_test_id("post-form")).to_be_hidden()
    expect(guest_page.get_by_test_id("sign-in-prompt")).to_contain_text("Sign in to post")
    report = feed.get_by_test_id("report-post")
    expect(report).to_have_attribute("href", re.compile(rf"/s/{room.slug}/report/\?post=\d+$"))
