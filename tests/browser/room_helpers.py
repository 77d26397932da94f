"""What a person hears on a room page, measured in Chromium: WebRTC stats and Web Audio."""

import time

INBOUND = """async () => {
  const pc = window.spacesRoom && window.spacesRoom.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  for (const report of stats.values()) {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      return {packets: report.packetsReceived || 0, level: report.audioLevel || 0,
              energy: report.totalAudioEnergy || 0};
    }
  }
  return null;
}"""

# The loudness (RMS) of the received stream, through an AnalyserNode on the page's <audio>.
ANALYSER = """() => {
  const element = window.spacesRoom && window.spacesRoom.audio.element;
  const stream = element && element.srcObject;
  if (!stream) return 0;
  let probe = window.__probe;
  if (!probe || probe.stream !== stream) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(stream).connect(analyser);
    context.resume();
    probe = window.__probe = {stream, analyser};
  }
  const samples = new Float32Array(probe.analyser.fftSize);
  probe.analyser.getFloatTimeDomainData(samples);
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}"""


def inbound(page) -> dict:
    return page.evaluate(INBOUND) or {"packets": 0, "level": 0, "energy": 0}


def wait_until(check, timeout=20.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out; last seen {last}")


def hears_tone(page, timeout=20.0) -> dict:
    """Wait until the page receives audio with energy and its analyser measures sound."""
    first = inbound(page)

    def check():
        stats = inbound(page)
        rms = page.evaluate(ANALYSER)
        heard = stats["level"] > 0.01 and stats["energy"] > first["energy"] and rms > 0.005
        return heard, {**stats, "rms": rms}

    return wait_until(check, timeout=timeout, interval=0.1)


def max_level(page, seconds=1.5) -> float:
    levels = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        levels.append(inbound(page)["level"])
        time.sleep(0.1)
    return max(levels)


def tone_microphone(frequency: float) -> str:
    """An init script: the page's microphone is a steady sine at `frequency` Hz (Web Audio), so
    two people in one browser can speak two tones an FFT tells apart."""
    return f"""(() => {{
  navigator.mediaDevices.getUserMedia = async () => {{
    const context = new AudioContext({{sampleRate: 48000}});
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = {float(frequency)};
    gain.gain.value = 0.3;
    const out = context.createMediaStreamDestination();
    tone.connect(gain).connect(out);
    tone.start();
    await context.resume();
    return out.stream;
  }};
}})()"""


# The level (dB) at each of `frequencies` in what the page plays: the room's received stream
# (`source` null) or a media element (`source` a selector; it still plays to the speakers).
SPECTRUM = """async ([source, frequencies]) => {
  const key = source || "room";
  window.__spectra = window.__spectra || {};
  let probe = window.__spectra[key];
  const stream = !source && window.spacesRoom && window.spacesRoom.audio.element.srcObject;
  if (!probe || (stream && probe.stream !== stream)) {
    const context = new AudioContext({sampleRate: 48000});
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0.5;
    if (source) {
      const element = document.querySelector(source);
      const node = element.__spectraSource || context.createMediaElementSource(element);
      element.__spectraSource = node;
      node.connect(analyser);
      analyser.connect(context.destination);
    } else {
      if (!stream) return null;
      context.createMediaStreamSource(stream).connect(analyser);
    }
    probe = window.__spectra[key] = {context, analyser, stream};
    await new Promise((done) => setTimeout(done, 300));
  }
  await probe.context.resume();
  const bins = new Float32Array(probe.analyser.frequencyBinCount);
  probe.analyser.getFloatFrequencyData(bins);
  const width = probe.context.sampleRate / probe.analyser.fftSize;
  return frequencies.map((f) => {
    const at = Math.round(f / width);
    let best = -Infinity;
    for (let i = at - 3; i <= at + 3; i++) if (bins[i] > best) best = bins[i];
    return best;
  });
}"""


def spectrum(page, frequencies, source=None) -> list[float]:
    """The level in dB at each frequency in what the page plays now (see SPECTRUM)."""
    return page.evaluate(SPECTRUM, [source, list(frequencies)]) or [-200.0] * len(frequencies)
