"""A guest replays a recorded Space at its link, without an account, in Chromium: the tone is
heard (AnalyserNode), a seek plays that moment's audio, 2× plays twice as fast, the position
comes back after a reload, and the first play is counted once."""

import time

import pytest

from rooms.models import ReplayPlay
from tests.recording_fixtures import recorded_space

# What the player hears: energy and the loudest frequency, through an AnalyserNode on the
# replay's <audio> (created once; the element keeps playing through it).
PROBE = """() => {
  if (!window.replayProbe) {
    const audio = document.querySelector("[data-replay-audio]");
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    context.createMediaElementSource(audio).connect(analyser);
    analyser.connect(context.destination);
    window.replayProbe = {context, analyser};
  }
  const {context, analyser} = window.replayProbe;
  context.resume();
  const wave = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(wave);
  let sum = 0;
  for (const v of wave) sum += v * v;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return {rms: Math.sqrt(sum / wave.length), peak: best * context.sampleRate / analyser.fftSize,
          time: document.querySelector("[data-replay-audio]").currentTime};
}"""

LOW, HIGH = 440.0, 1320.0


def heard(page, frequency: float, timeout: float = 10.0) -> dict:
    """Wait until the loudest frequency is `frequency` (±40 Hz) with real energy."""
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        last = page.evaluate(PROBE)
        if last["rms"] > 0.05 and abs(last["peak"] - frequency) < 40:
            return last
        time.sleep(0.2)
    raise AssertionError(f"did not hear {frequency} Hz: {last}")


def current_time(page) -> float:
    return page.evaluate("document.querySelector('[data-replay-audio]').currentTime")


@pytest.mark.django_db(transaction=True)
def test_a_guest_replays_seeks_changes_speed_and_resumes(new_page):
    # 440 Hz for the first 20 s, 1320 Hz for the next 20 s
    room, recording = recorded_space(tones=[(LOW, 20.0), (HIGH, 20.0)], title="Taped talk")
    page = new_page(f"/s/{room.slug}/")
    play = page.get_by_test_id("replay-play")
    page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    page.evaluate(PROBE)  # the analyser is in place before the first sound
    play.click()
    first = heard(page, LOW)
    assert first["time"] < 20
    # the lock screen knows what plays, and may seek
    session = page.evaluate(
        "({title: navigator.mediaSession.metadata && navigator.mediaSession.metadata.title,"
        " state: navigator.mediaSession.playbackState})"
    )
    assert session == {"title": "Taped talk", "state": "playing"}

    # the first play is counted, once, for this guest
    deadline = time.monotonic() + 5
    while not ReplayPlay.objects.filter(recording=recording).exists():
        assert time.monotonic() < deadline, "the play was not counted"
        time.sleep(0.1)

    # seek to 25 s: the second half's tone plays
    page.evaluate(
        """() => { const seek = document.querySelector('[data-replay-seek]');
                   seek.value = '25'; seek.dispatchEvent(new Event('change')); }"""
    )
    later = heard(page, HIGH)
    assert 25 <= later["time"] < 32
    # back 15 s: the first tone again
    page.get_by_test_id("replay-back").click()
    assert 10 <= current_time(page) < 17
    heard(page, LOW)

    # 2×: the position moves twice as fast as the clock
    page.get_by_role("button", name="2×").click()
    assert page.get_by_role("button", name="2×").get_attribute("aria-pressed") == "true"
    assert page.evaluate("document.querySelector('[data-replay-audio]').playbackRate") == 2
    before, started = current_time(page), time.monotonic()
    time.sleep(2.0)
    rate = (current_time(page) - before) / (time.monotonic() - started)
    assert 1.6 < rate < 2.4, rate
    page.get_by_role("button", name="1×").click()

    # pause, reload: the player resumes where it was
    play.click()  # pause
    page.wait_for_function("document.querySelector('[data-replay-audio]').paused")
    kept = current_time(page)
    assert kept > 5
    page.reload()
    page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    assert abs(current_time(page) - kept) < 1.5
    assert "Resuming at" in page.get_by_test_id("replay-status").inner_text()
    page.evaluate(PROBE)
    page.get_by_test_id("replay-play").click()
    expected = LOW if kept < 19 else HIGH
    heard(page, expected)
    # still one play for this guest today
    assert ReplayPlay.objects.filter(recording=recording).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_replay_and_clip_pages_fit_a_phone_and_pass_axe(new_page, signed_in_page):
    """At 390×844, in English and French: nothing wider than the screen, no serious axe
    violation; with SPACES_SCREENSHOTS set, screenshots of both pages at phone and desktop."""
    import os
    from datetime import timedelta
    from pathlib import Path

    from rooms.models import Clip, RoomEvent
    from tests.browser.test_a11y_browser import serious_violations
    from tests.browser.test_room_layout_browser import DESKTOP, PHONE, check_fits
    from tests.factories import PostFactory, UserFactory

    host = UserFactory(profile="Alexandria Montgomery-Wellington")
    room, recording = recorded_space(
        host=host, tones=[(LOW, 30.0)], title="Night shift: jazz, tea and questions"
    )
    speaker = UserFactory(profile="Bartholomew Speakerson")
    event = RoomEvent.objects.create(
        room=room, verb="speaker_promoted", actor=host, target=speaker, data={"role": "speaker"}
    )
    RoomEvent.objects.filter(pk=event.pk).update(
        created_at=recording.started_at + timedelta(seconds=1)
    )
    post = PostFactory(
        room=room,
        author=speaker,
        text="<img src=x onerror=window.pwned=1> Requests go in the posts! " * 2,
    )
    type(post).objects.filter(pk=post.pk).update(
        created_at=recording.started_at + timedelta(seconds=2)
    )
    clip = Clip.objects.create(
        recording=recording,
        room=room,
        creator=speaker,
        start=3,
        duration=20,
        state=Clip.State.READY,
        audio_file="replay.m4a",
        speakers=[{"handle": host.username, "name": host.display_name}],
    )
    pages = {}
    for language in ("en", "fr"):
        page = new_page(None)
        page.set_extra_http_headers({"Accept-Language": language})
        page.goto(f"/s/{room.slug}/")
        page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
        page.evaluate(
            "() => { const a = document.querySelector('[data-replay-audio]'); a.currentTime = 5; }"
        )
        page.wait_for_timeout(300)
        feed = page.get_by_test_id("replay-feed")
        assert feed.locator("li").count() >= 2
        # a post is text, never markup
        assert "<img src=x onerror=window.pwned=1>" in feed.inner_text()
        assert feed.locator("img").count() == 0 and page.evaluate("window.pwned") is None
        check_fits(page, PHONE["width"], f"replay ({language})")
        assert serious_violations(page) == [], f"replay ({language})"
        if language == "fr":
            assert page.get_by_test_id("replay-play").inner_text() == "Lire"
        clip_page = new_page(None)
        clip_page.set_extra_http_headers({"Accept-Language": language})
        clip_page.goto(f"/c/{clip.slug}/")
        check_fits(clip_page, PHONE["width"], f"clip ({language})")
        assert serious_violations(clip_page) == [], f"clip ({language})"
        pages[f"replay-{language}"], pages[f"clip-{language}"] = page, clip_page
    host_page = signed_in_page(host, f"/s/{room.slug}/")
    host_page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    check_fits(host_page, PHONE["width"], "replay (host)")
    assert serious_violations(host_page) == [], "replay (host)"

    folder = os.environ.get("SPACES_SCREENSHOTS")
    if folder:
        shots = {
            "replay-guest": pages["replay-en"],
            "replay-host": host_page,
            "clip": pages["clip-en"],
        }
        Path(folder).mkdir(parents=True, exist_ok=True)
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            for name, page in shots.items():
                page.set_viewport_size(viewport)
                page.wait_for_timeout(300)
                page.evaluate("window.scrollTo(0, 0); document.activeElement?.blur()")
                page.screenshot(path=str(Path(folder) / f"{name}-{size}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_listener_clips_the_replay_and_the_clip_page_plays_it(signed_in_page):
    from playwright.sync_api import expect

    from rooms.models import Clip
    from tests.factories import UserFactory

    room, recording = recorded_space(tones=[(LOW, 10.0), (HIGH, 20.0)], title="Clip me")
    person = UserFactory(profile="Cleo Clipper")
    page = signed_in_page(person, f"/s/{room.slug}/#t=12")
    page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    assert 11 <= current_time(page) <= 13  # the #t= link starts there
    # a report from here says where the player is
    page.get_by_test_id("replay-report").click()
    page.wait_for_url(f"**/s/{room.slug}/report/?offset=12")
    assert page.locator("input[name=offset]").input_value() == "12"
    page.go_back()
    page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    page.get_by_test_id("clip-panel").locator("summary").click()
    page.locator("[data-clip-length]").fill("8")
    page.get_by_test_id("clip-make").click()
    link = page.get_by_test_id("clip-link")
    expect(link).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("clip-status")).to_have_text("Your clip is ready.")
    clip = Clip.objects.get()
    assert (round(clip.start), clip.duration, clip.creator) == (12, 8.0, person)
    link.click()
    page.wait_for_url(f"**/c/{clip.slug}/")
    expect(page.get_by_test_id("clip-state")).to_contain_text("clipped by Cleo Clipper")
    played = page.evaluate(
        """async () => {
            const audio = document.querySelector("[data-clip-audio]");
            const context = new AudioContext();
            const analyser = context.createAnalyser();
            analyser.fftSize = 8192;
            context.createMediaElementSource(audio).connect(analyser);
            analyser.connect(context.destination);
            await audio.play();
            await new Promise((r) => setTimeout(r, 1500));
            const bins = new Float32Array(analyser.frequencyBinCount);
            analyser.getFloatFrequencyData(bins);
            let best = 0;
            for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
            return {peak: best * context.sampleRate / analyser.fftSize, duration: audio.duration};
        }"""
    )
    # the clip is of the second part: 1320 Hz, 8 s long
    assert abs(played["peak"] - HIGH) < 40, played
    assert played["duration"] == pytest.approx(8.0, abs=0.2)


@pytest.mark.django_db(transaction=True)
def test_what_became_of_a_recording_reads_on_a_phone_for_the_host_and_a_guest(
    new_page, signed_in_page
):
    """Being prepared, failed, deleted, removed: each says so, in English and French, and fits
    390 px for the host (with their clips and the delete box where it still applies) and a
    guest."""
    import os
    from pathlib import Path

    from playwright.sync_api import expect

    from rooms.models import Clip, Recording
    from tests.browser.test_room_layout_browser import PHONE, check_fits
    from tests.factories import UserFactory

    host = UserFactory(profile="Alexandria Montgomery-Wellington")
    room, recording = recorded_space(
        host=host, tones=[(LOW, 4.0)], title="Night shift: jazz, tea and questions, all night"
    )
    Clip.objects.create(
        recording=recording,
        room=room,
        creator=UserFactory(profile="Bartholomew Speakerson"),
        start=1,
        duration=3,
        state=Clip.State.READY,
        audio_file="replay.m4a",
    )
    host_page = signed_in_page(host, None)
    folder = os.environ.get("SPACES_SCREENSHOTS")
    for state in ("assembling", "failed", "deleted", "removed"):
        Recording.objects.filter(pk=recording.pk).update(state=state)
        for language in ("en", "fr"):
            for who, page in (("host", host_page), ("guest", new_page(None))):
                page.set_extra_http_headers({"Accept-Language": language})
                page.goto(f"/s/{room.slug}/")
                expect(page.get_by_test_id("replay-state")).to_have_attribute("data-state", state)
                expect(page.get_by_test_id("replay")).to_have_count(0)
                hosting = who == "host" and state in ("assembling", "failed")
                expect(page.get_by_test_id("recording-delete")).to_have_count(int(hosting))
                # the host's clips are listed while the recording is there (gone with it)
                expect(page.get_by_test_id("host-clips")).to_have_count(int(hosting))
                check_fits(page, PHONE["width"], f"{state} ({who}, {language})")
                if folder and language == "en":
                    Path(folder).mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=f"{folder}/replay-{state}-{who}-phone.png", full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_guest_waiting_for_the_recording_gets_the_player_when_it_is_ready(new_page):
    from playwright.sync_api import expect

    from rooms.models import Recording

    room, recording = recorded_space(tones=[(LOW, 6.0)], title="Just ended")
    Recording.objects.filter(pk=recording.pk).update(state=Recording.State.ASSEMBLING)
    page = new_page(f"/s/{room.slug}/")
    expect(page.get_by_test_id("replay-state")).to_have_attribute("data-state", "assembling")
    expect(page.get_by_test_id("replay")).to_have_count(0)
    Recording.objects.filter(pk=recording.pk).update(state=Recording.State.READY)
    # no reload by the person: the page finds the replay ready and plays it
    expect(page.get_by_test_id("replay")).to_be_visible(timeout=20_000)
    page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    page.evaluate(PROBE)
    page.get_by_test_id("replay-play").click()
    heard(page, LOW)
