"""A recorded Space from start to replay, in Chromium, as people use it: the host records it from
the create form and speaks 440 Hz; a listener brought on stage asks to be left out of the
recording and speaks 880 Hz; a guest hears both live. After the end, the same link plays the
replay, which has the host's tone and not the speaker's; a listener clips it and the clip plays.
"""

import io
import re
import time

import av
import numpy as np
from playwright.sync_api import expect

from rooms.models import Clip, Participant, Recording, Room
from tests.browser.room_helpers import spectrum, tone_microphone, wait_until
from tests.browser.test_a11y_browser import serious_violations
from tests.browser.test_room_layout_browser import PHONE, check_fits
from tests.factories import UserFactory

HOST_TONE, SPEAKER_TONE = 440.0, 880.0
# A tone is "heard" this far above the noise floor (dB, FFT level at its frequency), and "not
# heard" when it is this far below the other tone.
HEARD_DB = -70.0
LEFT_OUT_DB = 30.0


def levels(page, source=None) -> dict:
    host, speaker = spectrum(page, [HOST_TONE, SPEAKER_TONE], source)
    return {"host": host, "speaker": speaker}


def hears(page, *, host: bool, speaker: bool, source=None, timeout=30.0) -> dict:
    """Wait until the page plays the host's tone (or not) and the speaker's (or not)."""

    def check():
        now = levels(page, source)
        ok = (now["host"] > HEARD_DB) == host
        if speaker:
            ok = ok and now["speaker"] > HEARD_DB
        else:
            ok = ok and now["speaker"] < now["host"] - LEFT_OUT_DB
        return ok, now

    return wait_until(check, timeout=timeout, interval=0.25)


def host_only_to_the_end(page, source: str, seconds: float) -> None:
    """The element plays to its end: the host's tone most of the time, the speaker's never."""
    hears(page, host=True, speaker=False, source=source)
    seen = []
    deadline = time.monotonic() + seconds + 30
    while time.monotonic() < deadline:
        position = page.evaluate(f"document.querySelector('{source}').currentTime")
        now = levels(page, source)
        seen.append((round(position, 1), now))
        if now["speaker"] > HEARD_DB and now["speaker"] > now["host"] - LEFT_OUT_DB:
            raise AssertionError(f"{source} plays the speaker who declined at {position}: {now}")
        if page.evaluate(f"document.querySelector('{source}').ended"):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{source} did not play to its end: {seen[-3:]}")
    assert len([s for _, s in seen if s["host"] > HEARD_DB]) > len(seen) * 0.6, seen
    print(f"{source}: {len(seen)} samples to {seen[-1][0]} s, the host only")


def tone_levels(m4a: bytes, frequencies) -> list[float]:
    """Decode an .m4a (PyAV) and give the level in dB of each frequency over the whole file."""
    with av.open(io.BytesIO(m4a)) as container:
        samples = np.concatenate(
            [frame.to_ndarray().mean(axis=0) for frame in container.decode(audio=0)]
        )
        rate = container.streams.audio[0].rate
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / rate)
    peak = spectrum.max()
    return [20 * np.log10(spectrum[np.abs(bins - f) < 5].max() / peak + 1e-12) for f in frequencies]


def written(room) -> float:
    from rooms.recordings import written_seconds

    recording = Recording.objects.filter(room=room).first()
    return written_seconds(recording) if recording else 0.0


def stage_tile(page, user):
    return page.locator(f'#room-app [data-testid=stage] li[data-user="{user.pk}"]')


def test_a_recorded_space_from_the_create_form_to_the_replay_and_a_clip(signed_in_page, new_page):
    started = time.monotonic()
    host_user = UserFactory(profile="Rita Recorder")
    speaker_user = UserFactory(profile="Otto Offrecord")
    clipper = UserFactory(profile="Cleo Clipper")

    # The host records the Space from the create form and is on air at once, speaking 440 Hz.
    host = signed_in_page(host_user, None)
    host.add_init_script(tone_microphone(HOST_TONE))
    host.goto("/rooms/new/")
    host.fill("input[name=title]", "Taped on the record")
    host.get_by_label("Record this Space").check()
    host.get_by_role("button", name="Create Space").click()
    expect(host.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    expect(host.get_by_test_id("self-mute")).to_have_attribute("aria-pressed", "true")
    expect(host.get_by_test_id("rec-badge").first).to_be_visible()
    room = Room.objects.get(title="Taped on the record")
    assert room.record and room.state == Room.State.LIVE

    # A guest listens through the link and hears the host.
    guest = new_page(f"/s/{room.slug}/")
    expect(guest.get_by_test_id("rec-badge").first).to_be_visible()
    guest.get_by_test_id("listen").click()
    expect(guest.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    print("guest hears the host:", hears(guest, host=True, speaker=False))

    # A listener is invited on stage, is asked about the recording, and says: leave me out.
    speaker = signed_in_page(speaker_user, None)
    speaker.add_init_script(tone_microphone(SPEAKER_TONE))
    speaker.goto(f"/rooms/{room.slug}/")
    expect(speaker.locator("[data-you-line]")).to_have_text("You are a listener")
    person = host.locator(f'.room-live [data-testid=audience] li[data-user="{speaker_user.pk}"]')
    person.get_by_test_id("person-menu").click()
    person.get_by_test_id("invite-speaker").click()
    speaker.get_by_test_id("invite").get_by_test_id("invite-accept").click()
    dialog = speaker.get_by_test_id("consent-dialog")
    expect(dialog).to_contain_text("This Space is recorded")
    dialog.get_by_test_id("consent-no").click()
    expect(dialog).to_be_hidden()
    expect(stage_tile(host, speaker_user).get_by_test_id("tile-not-recorded")).to_have_count(1)
    speaker.get_by_test_id("self-mute").click()
    expect(speaker.get_by_test_id("self-mute")).to_have_attribute("aria-pressed", "true")
    assert Participant.objects.get(room=room, user=speaker_user).recording_consent is False

    # The guest hears both, live.
    both = hears(guest, host=True, speaker=True)
    print("guest hears both live:", both)

    # A signed-in listener clips the last seconds while it is live (both were speaking).
    clipper_page = signed_in_page(clipper, f"/rooms/{room.slug}/")
    expect(clipper_page.get_by_test_id("live-clip-button")).to_be_visible()
    wait_until(lambda: ((s := written(room)) >= 4, s), timeout=30, interval=0.5)
    clipper_page.get_by_test_id("live-clip-button").click()
    expect(clipper_page.get_by_test_id("live-clip-link")).to_be_visible(timeout=30_000)
    live_clip = Clip.objects.get(room=room)
    assert live_clip.state == Clip.State.READY and live_clip.duration >= 4
    # who speaks in it: the host, not the speaker who is left out of the recording
    assert [person["name"] for person in live_clip.speakers] == ["Rita Recorder"]
    clipper_page.get_by_test_id("live-clip-link").click()
    clipper_page.wait_for_url(f"**/c/{live_clip.slug}/")
    check_fits(clipper_page, PHONE["width"], "the clip page of a live clip")
    levels(clipper_page, "[data-clip-audio]")
    clipper_page.evaluate("document.querySelector('[data-clip-audio]').play()")
    host_only_to_the_end(clipper_page, "[data-clip-audio]", live_clip.duration)

    # The host ends the Space; the recording is assembled (Celery task) and the link replays it.
    host.get_by_test_id("end-space").click()
    host.get_by_test_id("confirm-yes").click()
    expect(guest.get_by_test_id("ended")).to_contain_text("Its replay will be at this link")
    check_fits(guest, PHONE["width"], "a recorded Space that just ended")
    recording = wait_until(
        lambda: (
            (r := Recording.objects.get(room=room)).state
            in (Recording.State.READY, Recording.State.FAILED),
            r,
        ),
        timeout=60,
        interval=0.5,
    )
    assert recording.state == Recording.State.READY, recording.state
    assert recording.duration > 5, recording.duration
    print(f"recording ready {time.monotonic() - started:.1f} s in, {recording.duration:.1f} s long")

    guest.get_by_test_id("ended").get_by_test_id("replay-link").click()
    guest.wait_for_url(f"**/s/{room.slug}/")
    expect(guest.get_by_test_id("replay")).to_be_visible()
    guest.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    levels(guest, "[data-replay-audio]")  # the analyser is in place before the first sound
    guest.get_by_test_id("replay-play").click()
    # the whole replay, beginning to end: the host's tone, never the speaker's
    host_only_to_the_end(guest, "[data-replay-audio]", recording.duration)

    # A signed-in listener clips 5 s from the replay; the clip page plays it.
    page = signed_in_page(clipper, f"/s/{room.slug}/")
    page.wait_for_function("!document.querySelector('[data-replay-play]').disabled")
    # from 6 s before the end: while the speaker who is left out was speaking
    page.evaluate(
        """(at) => { const seek = document.querySelector('[data-replay-seek]');
                     seek.value = String(at); seek.dispatchEvent(new Event('change')); }""",
        int(recording.duration) - 6,
    )
    page.get_by_test_id("clip-panel").locator("summary").click()
    page.locator("[data-clip-length]").fill("5")
    page.get_by_test_id("clip-make").click()
    expect(page.get_by_test_id("clip-link")).to_be_visible(timeout=30_000)
    clip = Clip.objects.exclude(pk=live_clip.pk).get(recording=recording)
    assert clip.state == Clip.State.READY and clip.creator == clipper and clip.duration == 5
    assert clip.start == int(recording.duration) - 6
    page.get_by_test_id("clip-link").click()
    page.wait_for_url(f"**/c/{clip.slug}/")
    levels(page, "[data-clip-audio]")
    page.evaluate("document.querySelector('[data-clip-audio]').play()")
    host_only_to_the_end(page, "[data-clip-audio]", clip.duration)

    # The embed plays the replay too: the host's tone, not the speaker's.
    embed = new_page(f"/s/{room.slug}/embed/")
    expect(embed.get_by_test_id("embed-play")).to_have_text("Play the recording")
    levels(embed, "[data-testid=embed-audio]")
    check_fits(embed, PHONE["width"], "the embed of a replay")
    assert serious_violations(embed) == [], "the embed of a replay"
    embed.get_by_test_id("embed-play").click()
    expect(embed.locator("[data-embed-player]")).to_have_attribute("data-state", "playing")
    # its play counts like one on the replay page (a guest of its own: no CSRF cookie needed)
    expect(embed.locator("[data-embed-player]")).to_have_attribute("data-counted", "yes")
    print("embed:", hears(embed, host=True, speaker=False, source="[data-testid=embed-audio]"))
    embed.get_by_test_id("embed-play").click()
    expect(embed.locator("[data-embed-player]")).to_have_attribute("data-state", "paused")

    # The host's podcast feed has it; a podcast app's download is the host's voice alone.
    feed = guest.request.get(f"/u/{host_user.username}/feed.xml")
    assert feed.ok and "Taped on the record" in feed.text()
    enclosure = re.search(r'<enclosure url="([^"]+)"', feed.text())[1]
    first = guest.request.get(enclosure, headers={"Range": "bytes=0-99"})
    assert first.status == 206 and len(first.body()) == 100
    whole = guest.request.get(enclosure).body()
    host_level, speaker_level = tone_levels(whole, [HOST_TONE, SPEAKER_TONE])
    assert speaker_level < host_level - LEFT_OUT_DB, (host_level, speaker_level)
    print(f"the feed's .m4a: host {host_level:.1f} dB, speaker {speaker_level:.1f} dB")

    # The host's view of the ended Space, at phone size: plays, clips, delete.
    host.goto(f"/s/{room.slug}/")
    expect(host.get_by_test_id("play-count")).to_have_text("Played 2 times")  # guest + embed
    expect(host.get_by_test_id("host-clips").locator("li")).to_have_count(2)
    check_fits(host, PHONE["width"], "the host's replay page")
    host.get_by_test_id("recording-delete-confirm").check()
    host.get_by_test_id("recording-delete").click()
    expect(host.get_by_test_id("replay-state")).to_have_attribute("data-state", "deleted")
    expect(host.get_by_test_id("host-clips")).to_have_count(0)  # they went with it
    check_fits(host, PHONE["width"], "a deleted recording, host")
    guest.goto(f"/s/{room.slug}/")
    expect(guest.get_by_test_id("replay-state")).to_have_attribute("data-state", "deleted")
    assert guest.goto(f"/c/{clip.slug}/").status == 410
    print(f"journey: {time.monotonic() - started:.1f} s")
