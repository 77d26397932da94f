"""A host starts a Space in Chromium; a signed-out visitor opens its public link and sees it."""

from urllib.parse import urlparse

from playwright.sync_api import expect

from tests.factories import UserFactory


def sign_in(page, email):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", "a-long-test-password")
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_test_id("nav-profile")).to_be_visible()


def test_host_starts_a_space_and_a_guest_opens_its_link(new_page):
    host = UserFactory(email="ada@example.org", profile="Ada on air")
    page = new_page("/")
    sign_in(page, host.email)

    page.get_by_test_id("nav-host").click()
    page.fill("input[name=title]", "Engines & looms <live>")
    page.fill("textarea[name=description]", "Questions welcome.")
    page.get_by_role("button", name="Create Space").click()
    expect(page.get_by_role("heading", name="Engines & looms <live>")).to_be_visible()
    expect(page.locator("#room-app")).to_have_attribute("data-role", "host")
    expect(page.get_by_role("button", name="End Space")).to_be_visible()

    link = page.locator("[data-share-link]").input_value()
    path = urlparse(link).path
    assert path.startswith("/s/")

    guest = new_page(path)
    expect(guest.get_by_role("heading", name="Engines & looms <live>")).to_be_visible()
    expect(guest.get_by_test_id("host")).to_contain_text("Ada on air")
    # The live room module may take the stage over once its socket opens: look at what shows.
    expect(guest.locator("[data-testid=stage]:visible").first).to_contain_text("Ada on air")
    expect(guest.get_by_role("button", name="Listen").first).to_be_visible()
    expect(guest.get_by_role("link", name="Report this Space")).to_be_visible()
    expect(guest.locator('meta[property="og:title"]')).to_have_attribute(
        "content", "Engines & looms <live>"
    )
    expect(guest.get_by_role("button", name="Copy link").first).to_be_visible()
