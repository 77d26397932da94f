"""A signed-out visitor reports a Space from its public link in Chromium; a moderator finds it at
the top of the admin queue, suspends the host with a reason, and the host is turned away at
sign-in with that reason."""

import re

from playwright.sync_api import expect

from tests.factories import ModeratorFactory, RoomFactory, UserFactory

PASSWORD = "a-long-test-password"  # UserFactory's


def sign_in(page, email, next_path=""):
    page.goto("/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()


def test_a_guest_reports_a_space_and_a_moderator_acts_on_it(new_page, daphne_server):
    host = UserFactory(email="loud@example.org", profile="Loud host")
    room = RoomFactory(host=host, title="Buy my course")
    moderator = ModeratorFactory(email="mod@example.org")

    guest = new_page(f"/s/{room.slug}/")
    guest.get_by_role("link", name="Report this Space").click()
    expect(guest.get_by_role("heading", name="Report this Space")).to_be_visible()
    guest.get_by_label("Spam").check()
    guest.fill("textarea[name=text]", "Nothing but ads for an hour.")
    guest.get_by_test_id("send-report").click()
    expect(guest.get_by_role("heading", name="Thanks, we got your report")).to_be_visible()
    expect(guest.get_by_test_id("report-sent")).to_contain_text("Buy my course")

    # Sending it again (a double tap) is recognised.
    guest.go_back()
    guest.get_by_label("Spam").check()
    guest.get_by_test_id("send-report").click()
    expect(guest.get_by_role("heading", name="You already reported this")).to_be_visible()

    # Staff with moderation rights were emailed.
    mail = daphne_server.outbox()
    assert any(
        "Someone reported something on Spaces." in message and moderator.email in message
        for message in mail
    ), mail

    staff = new_page(None)
    sign_in(staff, moderator.email, next_path="/admin/moderation/report/")
    row = staff.locator("#result_list tbody tr").first
    expect(row).to_contain_text("Buy my course")
    expect(row).to_contain_text("loud@example.org")

    row.locator("input[name=_selected_action]").check()
    staff.select_option("select[name=action]", "suspend_accused")
    staff.get_by_role("button", name="Go").click()
    expect(staff.get_by_test_id("people-to-suspend")).to_contain_text("loud@example.org")
    staff.select_option("select[name=hours]", str(24 * 3))
    staff.fill("textarea[name=reason]", "Advertising instead of a conversation")
    staff.get_by_role("button", name="Suspend").click()
    expect(staff.locator(".messagelist")).to_contain_text("Accounts suspended: 1.")

    person = new_page(None)
    sign_in(person, host.email)
    expect(person.get_by_test_id("suspended")).to_contain_text(
        re.compile(r"suspended until \d+ \w+ \d{4} \d\d:\d\d UTC: Advertising instead")
    )
