"""Chromium plays the Space's HLS segments through MSE, continuously, and hears the tone.

The page-side player (hls.js) is not part of this test: the page fetches the playlist and
appends the init and media segments to a SourceBuffer itself, as hls.js does with fMP4, which
shows the segments the server writes are what a browser can play back to back.
"""

import base64
import time

import numpy as np

from rooms.hls import StorageWriter
from tests.factories import RoomFactory
from tests.media.audio_peers import dominant_frequency, rms, tone_share
from tests.test_nginx_hls import LiveStream

from .test_packet_switch_browser import TAKE_RECORDING

PLAY = """async (slug) => {
  const audio = document.createElement("audio");
  document.body.appendChild(audio);
  const media = new MediaSource();
  audio.src = URL.createObjectURL(media);
  await new Promise((done) => media.addEventListener("sourceopen", done, {once: true}));
  const buffer = media.addSourceBuffer('audio/mp4; codecs="mp4a.40.2"');
  const append = (data) => new Promise((done, fail) => {
    buffer.addEventListener("updateend", done, {once: true});
    buffer.addEventListener("error", fail, {once: true});
    buffer.appendBuffer(data);
  });
  const base = `/s/${slug}/hls/`;
  const get = async (name) => (await fetch(base + name)).arrayBuffer();
  const seen = new Set();
  let initialised = false;
  window.hlsFetched = [];
  const poll = async () => {
    const playlist = await (await fetch(base + "live.m3u8")).text();
    if (!initialised) {
      await append(await get(playlist.match(/URI="([^"]+)"/)[1]));
      initialised = true;
    }
    for (const line of playlist.split("\\n")) {
      if (line.endsWith(".m4s") && !seen.has(line)) {
        seen.add(line);
        await append(await get(line));
        window.hlsFetched.push(line);
      }
    }
  };
  await poll();
  const context = new AudioContext({sampleRate: 48000});
  const worklet = `registerProcessor("tap", class extends AudioWorkletProcessor {
    process(inputs) { if (inputs[0][0]) this.port.postMessage(inputs[0][0].slice()); return true; }
  });`;
  const source = new Blob([worklet], {type: "text/javascript"});
  await context.audioWorklet.addModule(URL.createObjectURL(source));
  const tap = new AudioWorkletNode(context, "tap");
  window.recorded = [];
  tap.port.onmessage = (e) => window.recorded.push(e.data);
  context.createMediaElementSource(audio).connect(tap);
  audio.currentTime = buffer.buffered.start(0);
  await audio.play();
  window.hlsPolling = setInterval(poll, 500);
  window.hlsAudio = audio;
  window.hlsBuffer = buffer;
  return true;
}"""

STATE = """() => {
  const ranges = window.hlsBuffer.buffered;
  return {ranges: ranges.length, end: ranges.end(ranges.length - 1),
          time: window.hlsAudio.currentTime, fetched: window.hlsFetched.length,
          stalled: window.hlsAudio.readyState < 3};
}"""


def test_chromium_plays_the_live_segments_back_to_back_and_hears_the_tone(new_page):
    room = RoomFactory(title="On HLS")
    stream = LiveStream(room)
    stream.start()
    try:
        time.sleep(2.0)  # a few segments exist
        page = new_page(f"/s/{room.slug}/")
        assert page.evaluate(PLAY, room.slug)
        time.sleep(4.0)
        state = page.evaluate(STATE)
        samples = np.frombuffer(base64.b64decode(page.evaluate(TAKE_RECORDING)), dtype="<i2")
    finally:
        stream.stop.set()
        stream.join(timeout=5)
        StorageWriter(room.pk).clear()
    print(state, samples.size)
    assert state["ranges"] == 1  # every segment joined the one before it: no hole
    # The first playlist's window (6 segments), then new ones as they came.
    assert state["fetched"] >= 8
    assert state["time"] > 3.0
    heard = samples[9600:]  # past the first 200 ms
    assert heard.size >= 3 * 48_000
    assert abs(dominant_frequency(heard) - 440) <= 5 and tone_share(heard, 440) > 0.95
    levels = [rms(w) for w in heard[: heard.size // 960 * 960].reshape(-1, 960)]
    assert min(levels) > 0.6 * np.median(levels), min(levels)  # no gap at a segment boundary
