"""The installable app in Chromium: a valid manifest with loadable icons, the favicon, the
service worker keeping only the shell, and the lock screen's Media Session on a Space's page."""

from playwright.sync_api import expect

from tests.browser.room_helpers import hears_tone
from tests.browser.test_audio_browser import host_on_air
from tests.factories import ParticipantFactory, RoomFactory, UserFactory


def test_the_manifest_is_valid_and_its_icons_load(new_page):
    failures = []
    page = new_page(None)
    page.on("response", lambda r: failures.append(r.url) if r.status >= 400 else None)
    page.goto("/")
    href = page.locator('link[rel="manifest"]').get_attribute("href")
    manifest = page.evaluate(
        """async (href) => {
            const response = await fetch(href);
            return {type: response.headers.get("content-type"), body: await response.json()};
        }""",
        href,
    )
    assert manifest["type"] == "application/manifest+json"
    body = manifest["body"]
    for field in ("name", "short_name", "start_url", "display", "icons", "theme_color"):
        assert body.get(field), field
    assert body["display"] in {"standalone", "fullscreen", "minimal-ui"}
    loaded = page.evaluate(
        """(icons) => Promise.all(icons.map((icon) => new Promise((resolve) => {
            const image = new Image();
            const size = () => `${image.naturalWidth}x${image.naturalHeight}`;
            image.onload = () => resolve([icon.sizes, size()]);
            image.onerror = () => resolve([icon.sizes, "failed"]);
            image.src = icon.src;
        })))""",
        body["icons"],
    )
    assert {declared for declared, actual in loaded if declared == actual} >= {
        "192x192",
        "512x512",
    }
    assert all(declared == actual for declared, actual in loaded), loaded
    favicon = page.evaluate(
        "fetch('/favicon.ico').then((r) => [r.status, r.headers.get('content-type')])"
    )
    assert favicon[0] == 200 and "icon" in favicon[1]
    assert failures == []  # no 404 (the favicon used to be one) on the home page


def test_the_service_worker_keeps_the_shell_and_never_a_space(new_page):
    room = RoomFactory(title="Not for the cache")
    page = new_page("/")
    page.evaluate("navigator.serviceWorker.ready")
    page.goto(f"/s/{room.slug}/")
    expect(page.get_by_role("heading", name="Not for the cache")).to_be_visible()
    page.reload()
    cached = page.evaluate(
        """async () => {
            await navigator.serviceWorker.ready;
            const urls = [];
            for (const key of await caches.keys()) {
                const cache = await caches.open(key);
                for (const request of await cache.keys()) urls.push(new URL(request.url).pathname);
            }
            return urls;
        }"""
    )
    assert "/offline/" in cached
    assert any(url.endswith(".css") for url in cached)
    assert not any(
        url.startswith(("/s/", "/rooms/", "/ws/", "/media/", "/oembed")) for url in cached
    )


def test_a_space_page_sets_the_lock_screen_metadata(new_page):
    host = UserFactory(profile="Night Owl")
    room = RoomFactory(host=host, title="Synths after dark")
    page = new_page(f"/s/{room.slug}/")
    page.wait_for_function("navigator.mediaSession.metadata !== null")
    metadata = page.evaluate(
        """() => {
            const m = navigator.mediaSession.metadata;
            return {title: m.title, artist: m.artist, artwork: m.artwork.map((a) => a.src)};
        }"""
    )
    assert metadata["title"] == "Synths after dark"
    assert metadata["artist"] == "Night Owl"
    card = page.locator('meta[property="og:image"]').get_attribute("content")
    assert metadata["artwork"] == [card]
    # The artwork is the Space's card and loads as a 1200x630 picture.
    size = page.evaluate(
        """(src) => new Promise((resolve) => {
            const image = new Image();
            image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
            image.onerror = () => resolve(null);
            image.src = src;
        })""",
        card,
    )
    assert size == [1200, 630]


CAPTURE_HANDLERS = """
    window.__mediaHandlers = {};
    const original = navigator.mediaSession.setActionHandler.bind(navigator.mediaSession);
    navigator.mediaSession.setActionHandler = (action, handler) => {
        window.__mediaHandlers[action] = handler;
        original(action, handler);
    };
"""


def test_lock_screen_pause_and_play_stop_and_resume_the_rooms_audio(new_page, signed_in_page):
    host = UserFactory(profile="Night Owl")
    room = RoomFactory(host=host, title="Synths after dark")
    ParticipantFactory(room=room, role="cohost", user__profile="Early Bird")
    on_air = host_on_air(signed_in_page, room)
    page = new_page(None)
    page.add_init_script(CAPTURE_HANDLERS)  # what the phone's lock screen would call
    page.goto(f"/s/{room.slug}/")
    page.wait_for_function("!!(window.__mediaHandlers && window.__mediaHandlers.pause)")
    metadata = page.evaluate(
        "() => ({title: navigator.mediaSession.metadata.title,"
        " artist: navigator.mediaSession.metadata.artist})"
    )
    assert metadata == {"title": "Synths after dark", "artist": "Night Owl"}
    app = page.locator("[data-room-app]")
    count = page.locator("#room-app [data-testid=listener-count]")

    # Play from the lock screen: the page's own Listen path, and the host's tone is heard.
    page.evaluate("window.__mediaHandlers.play()")
    expect(app).to_have_attribute("data-audio", "connected")
    hears_tone(page)
    expect(count).to_have_text("1 listening")
    assert page.evaluate("navigator.mediaSession.playbackState") == "playing"

    # Pause really stops: no connection, no stream, and the Space no longer counts a listener.
    page.evaluate("window.__mediaHandlers.pause()")
    expect(app).to_have_attribute("data-audio", "off")
    assert page.evaluate("window.spacesRoom.pc === null")
    assert page.evaluate("window.spacesRoom.audio.element.srcObject === null")
    expect(count).to_have_text("0 listening")
    expect(on_air.locator("#room-app [data-testid=listener-count]")).to_have_text("0 listening")
    assert page.evaluate("navigator.mediaSession.playbackState") == "paused"
    expect(page.get_by_test_id("listen")).to_be_visible()

    # Play again: audio comes back.
    page.evaluate("window.__mediaHandlers.play()")
    expect(app).to_have_attribute("data-audio", "connected")
    hears_tone(page)

    # The host hands over: the lock screen names the new host without a reload.
    on_air.get_by_test_id("leave").click()
    page.wait_for_function("navigator.mediaSession.metadata.artist === 'Early Bird'")
