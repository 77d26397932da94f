"""A newcomer signs up, verifies their email, signs in and edits their profile in Chromium."""

from playwright.sync_api import expect

from tests.factories import UserFactory


def test_sign_up_verify_sign_in_and_edit_profile(new_page, daphne_server):
    page = new_page("/accounts/signup/")
    page.fill("input[name=display_name]", "Ada")
    page.fill("input[name=username]", "ada_l")
    page.fill("input[name=email]", "ada@example.org")
    page.fill("input[name=password1]", "analytical-engine-1843")
    page.fill("input[name=password2]", "analytical-engine-1843")
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    page.goto(daphne_server.link_in_last_email(r"/accounts/confirm-email/[^\s]+/"))
    page.get_by_role("button", name="Confirm").click()
    # Confirming in the browser that signed up signs the person in: no password again.
    expect(page.get_by_test_id("nav-profile")).to_have_text("Ada")

    page.get_by_test_id("nav-profile").click()
    page.fill("input[name=display_name]", "Ada on air")
    page.fill("textarea[name=bio]", "Poetical science, live.")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    expect(page.get_by_test_id("nav-profile")).to_have_text("Ada on air")


def test_wrong_password_shows_the_usual_error(new_page):
    page = new_page("/accounts/login/")
    page.fill("input[name=login]", "nobody@example.org")
    page.fill("input[name=password]", "whatever-password")
    page.locator("form button[type=submit]").last.click()
    expect(
        page.get_by_text("The email address and/or password you specified are not correct.")
    ).to_be_visible()


HEADER_BOXES = """() => {
    const header = document.querySelector(".site-header").getBoundingClientRect();
    const items = [...document.querySelectorAll(".site-header a, .site-header button")]
        .filter((node) => !node.classList.contains("skip-link"))
        .map((node) => {
            const box = node.getBoundingClientRect();
            return {name: node.dataset.testid || node.textContent.trim(), top: box.top,
                    bottom: box.bottom, left: box.left, right: box.right};
        });
    return {height: header.height, width: document.documentElement.clientWidth, items,
            text: document.querySelector(".site-header").innerText};
}"""


def test_the_signed_in_header_is_one_line_on_a_phone_and_every_link_is_reachable(
    signed_in_page,
):
    person = UserFactory(profile="Alexandria Montgomery-Wellington")
    page = signed_in_page(person, "/")  # a 390×844 phone
    boxes = page.evaluate(HEADER_BOXES)
    centres = [(item["top"] + item["bottom"]) / 2 for item in boxes["items"]]
    assert max(centres) - min(centres) < 8, boxes  # one line
    assert boxes["height"] < 64, boxes
    assert all(0 <= item["left"] and item["right"] <= boxes["width"] for item in boxes["items"])
    # Line icons, not emoji this browser has no font for (they would show as a box).
    assert not any(ord(ch) > 0x2000 for ch in boxes["text"]), boxes["text"]
    expect(page.get_by_test_id("nav-notifications").locator("svg")).to_be_visible()
    # The long name is cut short on screen but whole for hover and screen readers.
    expect(page.get_by_test_id("nav-profile")).to_have_attribute(
        "title", "Alexandria Montgomery-Wellington"
    )
    # Every link, by keyboard, in order, with its name.
    expected = [
        ("header-search", "Search Spaces and people"),
        ("nav-host", "Host a Space"),
        ("nav-my-spaces", "My Spaces"),
        ("nav-notifications", "Notifications"),
        ("nav-profile", "Alexandria Montgomery-Wellington"),
        (None, "Sign out"),
    ]
    page.locator(".brand").focus()
    for testid, name in expected:
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        if testid:
            expect(focused).to_have_attribute("data-testid", testid)
        expect(focused).to_have_accessible_name(name)
        expect(focused).to_be_in_viewport()
    page.keyboard.press("Enter")  # Sign out works from the keyboard
    expect(
        page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign in")
    ).to_be_visible()
