"""A French-speaking guest, in Chromium: the browser's language picks French, the switcher
changes it, the page's scripts speak it too."""

import re

from playwright.sync_api import expect

from tests.factories import RoomFactory, UserFactory


def test_a_french_guest_finds_a_space_and_switches_to_english(new_page):
    host = UserFactory(profile="Radio Lyon")
    room = RoomFactory(host=host, title="La matinale")
    page = new_page(None)
    page.set_extra_http_headers({"Accept-Language": "fr-FR,fr;q=0.9"})
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Des conversations en direct")).to_be_visible()
    expect(page.get_by_role("link", name="Se connecter").first).to_be_visible()
    # The page's JavaScript has the French catalog.
    page.wait_for_function("typeof window.gettext === 'function'")
    assert page.evaluate("gettext('Link copied.')") == "Lien copié."

    page.get_by_test_id("space-card").filter(has_text="La matinale").click()
    expect(page).to_have_url(f"{page.url.split('/s/')[0]}/s/{room.slug}/")
    expect(page.get_by_role("heading", name="La matinale")).to_be_visible()
    expect(page.get_by_role("link", name="S’inscrire")).to_be_visible()
    card = page.locator('meta[property="og:image"]').get_attribute("content")
    description = page.evaluate(
        """async (src) => {
            const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
            return new TextDecoder().decode(bytes).includes("EN DIRECT");
        }""",
        card,
    )
    assert description  # the card itself is drawn in French

    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Changer").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="La matinale")).to_be_visible()  # same page
    expect(page.get_by_role("link", name="Sign up")).to_be_visible()


def test_the_live_room_speaks_french_to_a_guest_and_to_the_host(
    new_page, signed_in_page, daphne_server
):
    host = UserFactory(profile="Radio Lyon")
    room = RoomFactory(host=host, title="La matinale")
    guest = new_page(None)
    guest.set_extra_http_headers({"Accept-Language": "fr-FR,fr;q=0.9"})
    guest.goto(f"/s/{room.slug}/")
    # The room client, not the no-JavaScript fallback, draws these.
    listen = guest.locator("#room-app").get_by_test_id("listen")
    expect(listen).to_have_text("Écouter")
    expect(guest.get_by_test_id("sign-in-prompt")).to_contain_text("Connectez-vous pour publier")
    expect(guest.get_by_test_id("report-space")).to_have_text("Signaler")
    expect(guest.locator("#room-app").get_by_role("heading", name="Sur scène")).to_be_visible()
    listen.click()
    count = guest.locator("#room-app [data-testid=listener-count]")
    expect(count).to_have_text("1 à l’écoute")

    host_page = signed_in_page(host, None)
    host_page.context.add_cookies(
        [{"name": "django_language", "value": "fr", "url": daphne_server.url}]
    )
    host_page.goto(f"/rooms/{room.slug}/")
    bar = host_page.get_by_test_id("action-bar")
    expect(bar.get_by_test_id("self-mute")).to_have_text(re.compile("^(Activer|Couper) le micro$"))
    expect(bar.get_by_test_id("end-space")).to_have_text("Terminer le Space")
    expect(bar.get_by_test_id("leave")).to_have_text("Quitter")
    expect(bar).to_have_attribute("aria-label", "Vos commandes")
    expect(host_page.locator("[data-you-line]")).to_have_text("Vous êtes l’hôte")
