"""Which path a listener gets, in Chromium: past the media worker's WebRTC seats (one, here) a
guest's page switches to the HLS stream by itself and hears the host's tone a few seconds late;
an HLS listener counts as listening, and one brought on stage moves to WebRTC and is heard.
"""

import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.factories import RoomFactory, UserFactory

from .conftest import run_daphne
from .room_helpers import max_level, wait_until
from .test_audio_browser import guest_listening
from .test_packet_switch_browser import (
    PLAIN_MICROPHONE,
    browser,  # noqa: F401  (a fake microphone playing 440 Hz)
)

# What the page's HLS <audio> element plays, decoded: its level (RMS) and the frequency of the
# FFT's peak, from an AnalyserNode on the element.
ANALYSE = """async (selector) => {
  if (!window.hlsAnalyser) {
    const audio = document.querySelector(selector);
    const ctx = new AudioContext({sampleRate: 48000});
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaElementSource(audio).connect(analyser);
    window.hlsAnalyser = analyser;
    await new Promise((done) => setTimeout(done, 300));
  }
  const analyser = window.hlsAnalyser;
  const wave = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(wave);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(spectrum);
  let peak = 0;
  for (let i = 1; i < spectrum.length; i++) if (spectrum[i] > spectrum[peak]) peak = i;
  const rms = Math.sqrt(wave.reduce((sum, x) => sum + x * x, 0) / wave.length);
  return {rms, peak: peak * analyser.context.sampleRate / analyser.fftSize};
}"""

HLS_AUDIO = "[data-testid=room-hls-audio]"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
# The live playlist and its newest segment as the page's origin serves them.
STREAM_HEADERS = """async (slug) => {
  const playlist = await fetch(`/s/${slug}/hls/live.m3u8`);
  const text = await playlist.text();
  const name = text.trim().split("\\n").filter((line) => !line.startsWith("#")).pop();
  const segment = await fetch(`/s/${slug}/hls/${name}`);
  const seen = (r) => [r.status, r.headers.get("content-type"), r.headers.get("cache-control")];
  return {playlist: seen(playlist), segment: seen(segment), name,
          lowLatency: text.includes("#EXT-X-PART-INF")};
}"""


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The site with one WebRTC listener seat per media worker."""
    with run_daphne(tmp_path_factory, SPACES_WEBRTC_LISTENER_CAPACITY="1") as server:
        yield server


def host_on_air(signed_in_page, room):
    """The host's page, on stage and unmuted; the microphone's tone is not processed away."""
    host = signed_in_page(room.host, "/")
    host.add_init_script(PLAIN_MICROPHONE)
    host.goto(f"/rooms/{room.slug}/")
    expect(host.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Unmute")
    host.get_by_test_id("self-mute").click()
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Mute")
    return host


def hears_tone_on_hls(page, selector=HLS_AUDIO):
    return wait_until(
        lambda: (
            (s := page.evaluate(ANALYSE, selector))["rms"] > 0.02 and abs(s["peak"] - 440) < 15,
            s,
        ),
        timeout=25,
    )


def test_a_guest_past_the_webrtc_seats_hears_the_host_through_hls_and_counts(
    new_page, signed_in_page
):
    room = RoomFactory(title="Full house")
    host = host_on_air(signed_in_page, room)
    seated = guest_listening(new_page, room)  # takes the one WebRTC seat

    guest = new_page(f"/s/{room.slug}/")
    guest.get_by_test_id("listen").click()
    app = guest.locator("[data-room-app]")
    expect(app).to_have_attribute("data-hls", "playing", timeout=25_000)
    expect(guest.get_by_test_id("hls-note")).to_contain_text("a few seconds behind live")
    expect(app).not_to_have_attribute("data-audio", "connected")
    heard = hears_tone_on_hls(guest)
    print("HLS guest hears", heard)

    delay = guest.evaluate("() => window.spacesRoom.hls.delay()")
    print(f"HLS delay measured by the page: {delay:.2f} s")
    assert 0.5 < delay < 10
    # What the page fetched carries the headers shared caches need; the stream is LL-HLS
    fetched = guest.evaluate(STREAM_HEADERS, room.slug)
    assert fetched["playlist"] == [200, PLAYLIST_TYPE, "public, max-age=1"], fetched
    assert fetched["segment"] == [200, "audio/mp4", "public, max-age=31536000, immutable"]
    assert fetched["lowLatency"]
    # Both guests count as listening: the WebRTC one and the HLS one.
    expect(host.locator("[data-room-app]").get_by_test_id("listener-count")).to_have_text(
        "2 listening"
    )

    # What the HLS guest sees waits for what they hear: the host's mute reaches the WebRTC
    # guest's page at once, and the HLS guest's about as late as the stream.
    host.get_by_test_id("self-mute").click()
    host_tile = f"[data-testid=tile][data-user='{room.host.pk}']"
    expect(seated.locator(host_tile)).to_have_attribute("data-muted", "true")
    seen_live = time.monotonic()
    assert guest.locator(host_tile).get_attribute("data-muted") == "false"
    expect(guest.locator(host_tile)).to_have_attribute("data-muted", "true", timeout=12_000)
    held = time.monotonic() - seen_live
    print(f"the mute reached the HLS guest's page {held:.2f} s after the WebRTC guest's")
    assert held > 0.5 * delay
    guest.get_by_test_id("hls-leave").click()  # back to WebRTC, still full: back on the stream
    expect(app).to_have_attribute("data-hls", "playing", timeout=25_000)
    expect(host.locator("[data-room-app]").get_by_test_id("listener-count")).to_have_text(
        "2 listening"
    )

    # The host ends the Space (not recorded): its live files are gone, not only unlisted
    host.get_by_test_id("end-space").click()
    host.get_by_test_id("confirm-yes").click()
    expect(guest.get_by_test_id("ended")).to_contain_text("This Space has ended.")
    segment = f"/s/{room.slug}/hls/{fetched['name']}"
    gone = '(url) => fetch(url, {cache: "no-store"}).then((r) => r.status)'
    assert guest.evaluate(gone, segment) == 404
    on_disk = Path(settings.MEDIA_ROOT) / "hls" / str(room.pk)
    wait_until(lambda: (not on_disk.exists(), on_disk), timeout=10)


def test_an_hls_listener_brought_on_stage_moves_to_webrtc_and_is_heard(new_page, signed_in_page):
    room = RoomFactory(title="Questions from the floor")
    listener = UserFactory()
    host = host_on_air(signed_in_page, room)
    guest_listening(new_page, room)  # takes the one WebRTC seat

    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    page.get_by_test_id("listen").click()
    app = page.locator("[data-room-app]")
    expect(app).to_have_attribute("data-hls", "playing", timeout=25_000)
    hears_tone_on_hls(page)
    assert max_level(host, 1.0) < 0.01  # the host hears nobody but themselves (left out)

    page.get_by_test_id("raise-hand").click()
    page.get_by_test_id("ask-submit").click()  # a hand raised without a question
    host.get_by_test_id("hand-accept").click()
    expect(app).to_have_attribute("data-role", "speaker")
    expect(app).to_have_attribute("data-audio", "connected")
    expect(app).to_have_attribute("data-hls", "off")
    page.get_by_test_id("self-mute").click()
    expect(page.get_by_test_id("self-mute")).to_have_accessible_name("Mute")
    heard = wait_until(lambda: ((level := max_level(host, 0.5)) > 0.01, level))
    print("host hears the new speaker at", heard)


def test_the_embed_page_plays_the_live_stream_without_a_socket(new_page, signed_in_page):
    room = RoomFactory(title="Embedded show")
    host_on_air(signed_in_page, room)
    player = new_page(f"/s/{room.slug}/embed/")
    player.get_by_test_id("embed-play").click()
    expect(player.locator("[data-embed-player]")).to_have_attribute(
        "data-state", "playing", timeout=25_000
    )
    expect(player.get_by_test_id("embed-note")).to_have_text("A few seconds behind live.")
    heard = hears_tone_on_hls(player, "[data-testid=embed-audio]")
    print("the embed plays", heard)
    player.get_by_test_id("embed-play").click()  # pause: the stream really stops
    expect(player.get_by_test_id("embed-play")).to_have_text("Listen")


def test_a_listener_may_choose_the_stream_and_a_phone_moves_to_it_in_the_background(
    browser,  # noqa: F811
    daphne_server,
    new_page,
    signed_in_page,
):
    room = RoomFactory(title="Commute")
    host_on_air(signed_in_page, room)
    phone = browser.new_context(
        base_url=daphne_server.url,
        is_mobile=True,
        has_touch=True,
        viewport={"width": 390, "height": 844},
    )
    try:
        page = phone.new_page()
        page.goto(f"/s/{room.slug}/")
        page.get_by_test_id("listen").click()
        app = page.locator("[data-room-app]")
        expect(app).to_have_attribute("data-audio", "connected")  # the one WebRTC seat
        # The screen locks: the page goes to the background and moves to the stream.
        page.evaluate("""() => {
          Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
        }""")
        expect(app).to_have_attribute("data-hls", "playing", timeout=25_000)
        expect(app).to_have_attribute("data-audio", "off")
        hears_tone_on_hls(page)
    finally:
        phone.close()

    # The seat it gave up is free: a desktop listener gets WebRTC, then chooses the stream.
    desktop = guest_listening(new_page, room)
    desktop.get_by_test_id("hls-choose").click()
    app = desktop.locator("[data-room-app]")
    expect(app).to_have_attribute("data-hls", "playing", timeout=25_000)
    expect(desktop.get_by_test_id("hls-note")).to_contain_text("a few seconds behind live")
    hears_tone_on_hls(desktop)
    desktop.get_by_test_id("hls-leave").click()  # and back: the seat is free again
    expect(app).to_have_attribute("data-audio", "connected")
    expect(app).to_have_attribute("data-hls", "off")
