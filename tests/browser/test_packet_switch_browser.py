"""Chromium keeps hearing the host's tone while the listener packets switch 20 -> 60 -> 20 ms.

The thresholds are set so a second guest moves the Space to 60 ms packets and its leaving moves
it back. The first guest's decoded audio is recorded (an AudioWorklet on the received track)
and checked window by window: no gap, no click, the tone throughout.
"""

import base64
import time
import wave

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.factories import RoomFactory
from tests.media.audio_peers import rms, tone_share

from .conftest import CHROMIUM, CHROMIUM_ARGS, run_daphne
from .room_helpers import inbound, wait_until
from .test_audio_browser import guest_listening

RATE = 48_000

# The host's microphone without echo cancellation, noise suppression and gain control, which
# would treat a steady tone as noise and fade it.
PLAIN_MICROPHONE = """(() => {
  const get = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => get({audio: {
    echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
})()"""

RECORD = """async () => {
  const pc = window.spacesRoom.pc;
  const track = pc.getReceivers().map((r) => r.track).find((t) => t && t.kind === "audio");
  const ctx = new AudioContext({sampleRate: 48000});
  const worklet = `registerProcessor("tap", class extends AudioWorkletProcessor {
    process(inputs) { if (inputs[0][0]) this.port.postMessage(inputs[0][0].slice()); return true; }
  });`;
  const source = new Blob([worklet], {type: "text/javascript"});
  await ctx.audioWorklet.addModule(URL.createObjectURL(source));
  const tap = new AudioWorkletNode(ctx, "tap");
  window.recorded = [];
  tap.port.onmessage = (e) => window.recorded.push(e.data);
  ctx.createMediaStreamSource(new MediaStream([track])).connect(tap);
  window.recordingContext = ctx;
  return ctx.sampleRate;
}"""

TAKE_RECORDING = """() => {
  const parts = window.recorded; window.recorded = [];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const pcm = new Int16Array(total);
  let at = 0;
  for (const part of parts) for (const x of part) pcm[at++] = Math.max(-1, Math.min(1, x)) * 32767;
  let text = "";
  const bytes = new Uint8Array(pcm.buffer);
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(text);
}"""

# Every 50 ms: (ms since the recording began, packets received, samples concealed, samples
# received).
LOG_STATS = """() => {
  window.statsLog = [];
  const started = performance.now();
  setInterval(async () => {
    for (const r of (await window.spacesRoom.pc.getStats()).values()) {
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        window.statsLog.push([performance.now() - started, r.packetsReceived, r.concealedSamples,
          r.totalSamplesReceived]);
      }
    }
  }, 50);
}"""


def switch_times(log, start=0.0):
    """When the packets grew from 20 to 60 ms and back, from the 50 ms stats log:
    [(ms, "up" | "down"), ...]. Read from samples per packet, which a stall does not change."""
    rows = np.array(log, dtype=float)
    times, packets = rows[:, 0], rows[:, 1]
    decoded = rows[:, 3] - rows[:, 2]  # samples that came from packets, not made up

    def packet_ms(i):  # over the next 500 ms, when it brought enough packets to tell
        j = min(int(np.searchsorted(times, times[i] + 500)), len(rows) - 1)
        count = packets[j] - packets[i]
        return (decoded[j] - decoded[i]) / count / 48 if count >= 5 else None

    switches, after, kind = [], start, "up"
    for i in range(len(rows)):
        length = packet_ms(i) if times[i] >= after else None
        if length is None:
            continue
        if (kind == "up" and length > 50) or (kind == "down" and length < 30):
            # the first 500 ms that are (almost) all new packets: the switch is in their first
            # 50 ms, heard a jitter buffer later
            switches.append((times[i] + 100, kind))
            after, kind = times[i] + 1000, "down" if kind == "up" else "up"
    return switches


def concealed_between(log, start, end):
    rows = [row for row in log if start <= row[0] <= end]
    return rows[-1][2] - rows[0][2]


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The site with listener packets switching at 2 listeners up and 1 down."""
    with run_daphne(
        tmp_path_factory,
        SPACES_LISTENER_PACKET_MS="auto",
        SPACES_LISTENER_PACKET_UP_AT="2",
        SPACES_LISTENER_PACKET_DOWN_AT="1",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser(browser, tmp_path_factory):
    """Chromium whose fake microphone plays a steady 440 Hz tone (a file it loops)."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    n = np.arange(10 * RATE)  # 4,400 whole periods: the loop joins without a click
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes((8000 * np.sin(2 * np.pi * 440 * n / RATE)).astype("<i2").tobytes())
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={path}"],
    )
    yield chromium
    chromium.close()


def packet_rate(page, seconds=1.5) -> float:
    before, started = inbound(page)["packets"], time.monotonic()
    time.sleep(seconds)
    return (inbound(page)["packets"] - before) / (time.monotonic() - started)


def test_a_guest_hears_the_tone_unbroken_while_the_packets_switch(new_page, signed_in_page):
    room = RoomFactory(title="Growing crowd")
    host = signed_in_page(room.host, "/")
    host.add_init_script(PLAIN_MICROPHONE)
    host.goto(f"/rooms/{room.slug}/")
    # On stage, the page connects audio by itself: no Listen step.
    expect(host.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Unmute")
    host.get_by_test_id("self-mute").click()
    expect(host.get_by_test_id("self-mute")).to_have_accessible_name("Mute")

    guest = guest_listening(new_page, room)
    wait_until(lambda: ((s := inbound(guest))["level"] > 0.05, s))
    assert guest.evaluate(RECORD) == RATE
    guest.evaluate(LOG_STATS)
    time.sleep(1.0)
    small = packet_rate(guest)

    rates = [small]
    for _ in range(2):  # twice: a loaded machine may glitch at one switch, a bug at every one
        crowd = guest_listening(new_page, room)  # the second listener: 60 ms packets
        time.sleep(1.5)  # the crowd must stay that large for a second
        rates.append(packet_rate(guest))
        crowd.context.close()  # back to one listener: 20 ms packets
        wait_until(lambda: ((rate := packet_rate(guest, 1.0)) > 40, rate), timeout=15)
        rates.append(packet_rate(guest))
    time.sleep(0.5)
    log = guest.evaluate("() => window.statsLog")
    samples = np.frombuffer(base64.b64decode(guest.evaluate(TAKE_RECORDING)), dtype="<i2")

    print("packets/s", " -> ".join(f"{rate:.1f}" for rate in rates))
    assert all(40 <= rate <= 60 for rate in rates[::2])
    assert all(12 <= rate <= 20 for rate in rates[1::2])
    assert samples.size >= 8 * RATE
    # the whole recording is the host's tone ...
    assert tone_share(samples[RATE // 2 :], 440) > 0.9
    switches = switch_times(log, start=1000)
    assert [kind for _, kind in switches] == ["up", "down", "up", "down"], switches
    clean = {"up": [], "down": []}
    for at, kind in switches:
        # ... around a switch, Chromium's decoder had at most one packet's worth to make up,
        # no 20 ms of the decoded audio went quiet (without priming it dipped to 0.3 of the
        # level) and nothing but the tone was heard
        concealed = concealed_between(log, at - 500, at + 500)
        around = samples[int((at - 500) * 48) : int((at + 500) * 48)]
        levels = [rms(window) for window in around[: around.size // 960 * 960].reshape(-1, 960)]
        lowest = min(levels) / np.median(levels)
        share = tone_share(around, 440)
        print(
            f"{kind} at {at / 1000:.2f} s: concealed {concealed}, lowest 20 ms level "
            f"{lowest:.2f} of the median, tone {share:.3f}"
        )
        clean[kind].append(concealed <= 2880 and lowest > 0.6 and share > 0.9)
    # a switch that glitches glitches every time; load on this shared machine strikes at random
    assert any(clean["up"]) and any(clean["down"]), clean
