"""A follower hears a host went live while browsing, follows the bell into the Space, asks a
question that others upvote, and the host brings them on stage from the queue."""

import re

from playwright.sync_api import expect

from rooms.models import Room
from tests.factories import UserFactory


def test_a_follower_is_told_joins_asks_is_upvoted_and_brought_on_stage(signed_in_page):
    host = UserFactory(profile="Hana Host")
    fan = UserFactory(profile="Fay Fan")
    voters = [UserFactory(profile=f"Voter {n}") for n in (1, 2)]

    fan_page = signed_in_page(fan, f"/u/{host.username}/")
    fan_page.locator("[data-follow=follow]").click()
    expect(fan_page.locator("[data-follow=unfollow]")).to_be_visible()
    fan_page.goto("/")  # browsing elsewhere

    host_page = signed_in_page(host, "/rooms/new/")
    host_page.fill("input[name=title]", "Open mic night")
    host_page.get_by_role("button", name="Create Space").click()
    expect(host_page.get_by_test_id("self-mute")).to_be_visible()
    room = Room.objects.get(title="Open mic night")

    # The next page the follower opens shows the bell; the notification leads into the Space.
    fan_page.goto("/my-spaces/")
    expect(fan_page.get_by_test_id("nav-notifications")).to_contain_text("1")
    fan_page.get_by_test_id("nav-notifications").click()
    fan_page.get_by_role("link", name="Hana Host is live: “Open mic night”.").click()
    expect(fan_page).to_have_url(re.compile(f"/rooms/{room.slug}/$"))
    expect(fan_page.get_by_test_id("raise-hand")).to_be_visible()

    voter_pages = [signed_in_page(v, f"/rooms/{room.slug}/") for v in voters]
    fan_page.get_by_test_id("raise-hand").click()
    fan_page.get_by_test_id("question-input").fill("How did you start hosting?")
    fan_page.get_by_test_id("ask-submit").click()

    for page in voter_pages:
        question = page.get_by_test_id("question").filter(has_text="How did you start hosting?")
        expect(question).to_be_visible()
        question.get_by_test_id("question-upvote").click()
        expect(question.get_by_test_id("question-upvote")).to_have_attribute("aria-pressed", "true")
    asked = host_page.get_by_test_id("question").filter(has_text="How did you start hosting?")
    expect(asked.get_by_test_id("question-votes")).to_have_attribute("data-votes", "2")
    # The asker cannot upvote their own question.
    expect(fan_page.get_by_test_id("question-upvote")).to_have_count(0)

    asked.get_by_test_id("question-accept").click()
    expect(fan_page.get_by_test_id("self-mute")).to_be_visible()
    expect(fan_page.locator("[data-room-app]")).to_have_attribute("data-role", "speaker")
    answered = voter_pages[0].get_by_test_id("answered")
    expect(answered).to_contain_text("How did you start hosting?")
    expect(voter_pages[0].get_by_test_id("question-queue")).to_have_count(0)
