// Listening through the Space's HLS stream (docs/protocol.md, "Live HLS stream"): when the
// media worker's WebRTC seats are full (`use_hls`), when the listener chooses it (save data,
// listen in the background) or when a phone's page goes to the background. hls.js (vendored,
// loaded on first use) plays it through MSE; Safari plays HLS natively.
//
// HLS is a few seconds behind live, so what an HLS listener sees is held back as much:
// speaking rings, reactions and stage changes wait until the audio they go with is heard.
// The delay is measured: now minus the program date-time of the playing position.

import { gettext } from "../i18n.js";
import { el } from "./dom.js";
import { ON_STAGE } from "./state.js";

const DEFAULT_DELAY = 3;  // seconds, until the first measurement
const MAX_DELAY = 30;
const HELD = new Set(["levels", "reactions", "speaker_promoted", "cohost_promoted",
  "moved_to_audience", "cohost_removed", "hand_accepted", "invite_accepted", "host_changed",
  "participant_joined", "participant_left", "participant_removed", "speaker_muted",
  "speaker_unmuted"]);

let loading = null;

function loadHlsJs(src) {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = () => resolve(window.Hls);
      script.onerror = () => { loading = null; reject(new Error("hls.js did not load")); };
      document.head.append(script);
    });
  }
  return loading;
}

function nativeHls(audio) {
  return Boolean(audio.canPlayType("application/vnd.apple.mpegurl"));
}

// Play `url` in `audio`: hls.js through MSE where the browser has MediaSource, else the
// browser's own HLS (iPhone Safari, which keeps it playing when the screen locks), else hls.js
// on ManagedMediaSource. Returns { stop(), playingDate() }; throws when it can play neither.
export async function attachHls(audio, url, scriptSrc) {
  const load = () => loadHlsJs(scriptSrc).catch(() => null);
  let Hls = window.MediaSource ? await load() : null;
  if (!(Hls && Hls.isSupported()) && !nativeHls(audio) && window.ManagedMediaSource) Hls = await load();
  if (Hls && Hls.isSupported()) {
    // A low-latency stream (LL-HLS parts) plays its PART-HOLD-BACK behind the live edge, which
    // a liveSyncDurationCount would override; a plain one two target durations behind (~3 s
    // p95 in docs/benchmarks.md, no stalls).
    const lowLatency = await fetch(url, { credentials: "same-origin" })
      .then((response) => response.text())
      .then((text) => text.includes("#EXT-X-PART-INF"))
      .catch(() => false);
    const hls = new Hls(lowLatency ? { lowLatencyMode: true } : { liveSyncDurationCount: 2 });
    let stopped = false;
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal || stopped) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else setTimeout(() => stopped || hls.loadSource(url), 1000);  // not started yet: retry
    });
    hls.loadSource(url);
    hls.attachMedia(audio);
    return {
      stop: () => { stopped = true; hls.destroy(); },
      playingDate: () => hls.playingDate,
    };
  }
  if (nativeHls(audio)) {
    audio.src = url;
    return {
      stop: () => { audio.removeAttribute("src"); audio.load(); },
      playingDate: () => {
        const start = audio.getStartDate ? audio.getStartDate().getTime() : NaN;
        return Number.isFinite(start) ? new Date(start + audio.currentTime * 1000) : null;
      },
    };
  }
  throw new Error("This browser can't play HLS.");
}

export class HlsListener {
  // onChange() after every phase change; replay(event) applies an event that was held back.
  constructor({ scriptSrc, onChange, replay }) {
    this.scriptSrc = scriptSrc;
    this.onChange = onChange;
    this.replay = replay;
    this.element = document.createElement("audio");
    this.element.dataset.testid = "room-hls-audio";
    this.player = null;
    this.phase = "off";   // off | loading | playing | blocked | failed
    this.reason = null;   // full | chosen | background
    this.queue = [];
    this.timer = null;
    this.measured = null;
    this.element.addEventListener("playing", () => this.set("playing"));
  }

  get active() {
    return this.phase !== "off";
  }

  set(phase) {
    this.phase = phase;
    this.onChange();
  }

  async start(url, reason) {
    this.reason = reason;
    if (this.player) return;
    this.set("loading");
    try {
      this.player = await attachHls(this.element, url, this.scriptSrc);
    } catch (error) {
      this.set("failed");
      return;
    }
    this.play();
  }

  play() {
    const playing = this.element.play();
    if (playing && playing.catch) playing.catch(() => this.active && this.set("blocked"));
  }

  stop() {
    if (this.player) this.player.stop();
    this.player = null;
    this.measured = null;
    this.flush();
    if (this.active) this.set("off");
  }

  // Seconds between what is heard and now.
  delay() {
    const date = this.player && this.player.playingDate();
    if (date && !this.element.paused) {
      const behind = (Date.now() - date.getTime()) / 1000;
      if (behind >= 0 && behind < MAX_DELAY) this.measured = behind;
    }
    return this.measured ?? DEFAULT_DELAY;
  }

  // Hold `event` back by the delay if it is something seen that goes with what is heard;
  // true when held. Events about the listener themselves are never held.
  hold(event, myId) {
    if (!this.active || this.phase === "failed" || !HELD.has(event.type)) return false;
    if (myId != null && event.user && event.user.id === myId) return false;
    const last = this.queue.length ? this.queue[this.queue.length - 1].due : 0;
    this.queue.push({ due: Math.max(last, Date.now() + this.delay() * 1000), event });
    this.schedule();
    return true;
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.queue.length) return;
    this.timer = setTimeout(() => this.release(), Math.max(0, this.queue[0].due - Date.now()));
  }

  release() {
    const now = Date.now();
    while (this.queue.length && this.queue[0].due <= now) this.replay(this.queue.shift().event);
    this.schedule();
  }

  // Apply everything held at once (audio stopped or moved to WebRTC): nothing is lost.
  flush() {
    clearTimeout(this.timer);
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) this.replay(item.event);
  }

  // A snapshot supersedes every event held before it.
  drop() {
    clearTimeout(this.timer);
    this.queue = [];
  }
}

export function onPhone() {
  return window.matchMedia("(pointer: coarse)").matches || /Mobi|Android|iPhone|iPad/.test(navigator.userAgent);
}

// The note and the switch under the stage for a listener: on HLS, how far behind and the
// way back to live audio; on WebRTC, the way to the stream.
export function hlsControl(app) {
  const { snapshot } = app.state;
  if (!snapshot || snapshot.room.state !== "live" || ON_STAGE.includes(snapshot.you.role)) return null;
  const { hls } = app;
  if (hls.active) {
    const words = hls.phase === "failed"
      ? gettext("The stream can't be played in this browser.")
      : hls.reason === "full"
        ? gettext("Live audio is full, so you are hearing the stream: a few seconds behind live.")
        : gettext("You are hearing the stream: a few seconds behind live.");
    return el("div", { class: "hls-note", testid: "hls-note", role: "status" },
      el("p", { class: "muted", text: words }),
      hls.phase === "blocked"
        ? el("button", { type: "button", class: "button listen-big", testid: "hls-play",
          onclick: () => hls.play() }, gettext("Tap to hear the room"))
        : null,
      el("button", { type: "button", class: "button button-ghost button-small", testid: "hls-leave",
        onclick: () => app.leaveHls() }, gettext("Back to live audio")));
  }
  if (!app.audio.want) return null;
  // A short label that fits a phone; the title says what it does.
  return el("button", { type: "button", class: "button button-ghost button-small", testid: "hls-choose",
    title: gettext("Listen a few seconds behind live: less data, and it keeps playing in the background."),
    onclick: () => app.useHls(null, "chosen") }, gettext("Save data"));
}
