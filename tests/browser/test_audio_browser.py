"""Real audio in Chromium: the host speaks with the fake microphone, a guest hears it."""

import time

from playwright.sync_api import expect

from tests.browser.room_helpers import inbound, max_level, wait_until
from tests.factories import RoomFactory


def host_on_air(signed_in_page, room):
    """The host's page, listening and unmuted (the fake microphone plays a tone)."""
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    # On stage, the page connects audio by itself: no Listen step.
    expect(host.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Unmute")
    host.get_by_test_id("self-mute").click()
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Mute")
    return host


def guest_listening(new_page, room):
    """A guest on the public page who pressed Listen and whose audio connected."""
    guest = new_page(f"/s/{room.slug}/")
    guest.get_by_test_id("listen").click()
    expect(guest.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    return guest


def test_the_host_speaks_a_guest_listens_and_the_mute_silences_them(new_page, signed_in_page):
    room = RoomFactory(title="On air")
    host = host_on_air(signed_in_page, room)
    started = time.monotonic()
    guest = guest_listening(new_page, room)

    first = wait_until(lambda: ((s := inbound(guest))["level"] > 0.01, s))
    print(f"press Listen to first audio: {time.monotonic() - started:.2f} s")
    later = wait_until(lambda: ((s := inbound(guest))["packets"] > first["packets"] + 25, s))
    assert later["packets"] > first["packets"]

    host.get_by_test_id("self-mute").click()
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Unmute")
    # The router drops the muted speaker: the guest's level falls to silence.
    wait_until(lambda: ((level := max_level(guest, 1.0)) < 0.001, level))
    # Packets keep flowing (silence is still sent), so the guest stays connected.
    assert inbound(guest)["packets"] > later["packets"]
