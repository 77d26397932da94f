"""A newcomer signs up, verifies their email, signs in and edits their profile in Chromium."""

from playwright.sync_api import expect


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
