// The replay of a recorded Space at its own link (templates/rooms/space_replay.html).
//
// Plays the VOD playlist (hls.js through MSE, or the browser's own HLS on Safari, or the .m4a
// when neither works), with seek, ±15 s, 1×/1.5×/2×, the position kept in localStorage so a
// reload resumes there, and lock-screen controls (Media Session). Beside it, the timeline sent
// by the server (rooms/replay.py): who is on stage at the playing moment, and the posts, pins
// and stage changes up to it. Only textContent is written.

import { gettext, interpolate } from "./i18n.js";
import { attachHls } from "./room/hls.js";
import { setSpaceMediaSession, setPlaybackState } from "./media-session.js";

const SKIP = 15;
const SAVE_EVERY = 3000;  // ms

const root = document.querySelector("[data-replay]");
const data = JSON.parse(document.getElementById("replay-data").textContent);
const hlsScript = document.getElementById("replay-script").dataset.hlsScript;
const audio = root.querySelector("[data-replay-audio]");
const seek = root.querySelector("[data-replay-seek]");
const playButton = root.querySelector("[data-replay-play]");
const back = root.querySelector("[data-replay-back]");
const forward = root.querySelector("[data-replay-forward]");
const positionText = root.querySelector("[data-replay-position]");
const durationText = root.querySelector("[data-replay-duration]");
const statusLine = root.querySelector("[data-replay-status]");
const report = root.querySelector("[data-replay-report]");
const stageList = document.querySelector("[data-replay-stage]");
const feed = document.querySelector("[data-replay-feed]");
const storageKey = `spaces-replay:${data.slug}`;

let counted = false;
let lastSaved = 0;
let seeking = false;

export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function post(url) {
  // no body: an empty multipart body is refused by the server's parser
  return fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
}

function say(text) {
  statusLine.textContent = text;
}

// Where to resume: a saved position inside the recording (not in its last seconds).
function savedPosition() {
  try {
    const value = Number(window.localStorage.getItem(storageKey));
    return Number.isFinite(value) && value > 0 && value < data.duration - 2 ? value : 0;
  } catch {
    return 0;
  }
}

function savePosition(force) {
  const now = Date.now();
  if (!force && now - lastSaved < SAVE_EVERY) return;
  lastSaved = now;
  try {
    if (audio.ended) window.localStorage.removeItem(storageKey);
    else window.localStorage.setItem(storageKey, String(Math.floor(audio.currentTime)));
  } catch {
    // Private browsing without storage: the position is not kept.
  }
}

function moveTo(seconds) {
  audio.currentTime = Math.min(Math.max(0, seconds), data.duration);
  render();
}

function setSpeed(rate) {
  audio.playbackRate = rate;
  root.querySelectorAll("[data-replay-speed]").forEach((button) => {
    button.setAttribute("aria-pressed", String(Number(button.dataset.replaySpeed) === rate));
  });
}

// The timeline beside the player

function personLine(person, text) {
  const item = document.createElement("li");
  const name = document.createElement("strong");
  name.textContent = person.name;
  item.append(name);
  if (text) {
    const body = document.createElement("span");
    body.className = "post-body";
    body.textContent = text;
    item.append(body);
  }
  return item;
}

function describe(entry) {
  switch (entry.kind) {
    case "joined_stage": return interpolate(gettext("%(name)s came on stage"), { name: entry.person.name });
    case "left_stage": return interpolate(gettext("%(name)s left the stage"), { name: entry.person.name });
    case "pin": return gettext("Pinned");
    default: return "";
  }
}

let shownItems = -1;
let shownStage = "";

function renderTimeline(now) {
  const stage = data.timeline.turns.filter((turn) => turn.start <= now && now < turn.end);
  const stageKey = stage.map((turn) => `${turn.person.id}:${turn.recorded}`).join(",");
  if (stageKey !== shownStage) {
    shownStage = stageKey;
    stageList.replaceChildren();
    for (const turn of stage) {
      const item = document.createElement("li");
      item.dataset.user = String(turn.person.id);
      const initial = document.createElement("span");
      initial.className = "avatar";
      initial.setAttribute("aria-hidden", "true");
      initial.textContent = (turn.person.name.trim()[0] || "?").toUpperCase();
      item.append(initial);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = turn.person.name;
      item.append(name);
      if (!turn.recorded) {
        const note = document.createElement("span");
        note.className = "muted";
        note.textContent = ` ${gettext("(not in the recording)")}`;
        item.append(note);
      }
      stageList.append(item);
    }
    if (!stage.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = gettext("Nobody is on stage right now.");
      stageList.append(empty);
    }
  }
  const upTo = data.timeline.items.filter((entry) => entry.at <= now).length;
  if (upTo === shownItems) return;
  shownItems = upTo;
  feed.replaceChildren();
  data.timeline.items.slice(0, upTo).forEach((entry) => {
    const item = entry.kind === "post" ? personLine(entry.person, entry.text) : document.createElement("li");
    if (entry.kind === "pin") {
      item.replaceChildren();
      item.className = "pinned";
      const label = document.createElement("span");
      label.className = "muted";
      label.textContent = describe(entry);
      item.append(label, personLine(entry.person, entry.text));
    } else if (entry.kind !== "post") {
      item.className = "muted";
      item.textContent = describe(entry);
    }
    item.dataset.kind = entry.kind;
    const when = document.createElement("button");
    when.type = "button";
    when.className = "link-action replay-at";
    when.textContent = clock(entry.at);
    when.setAttribute("aria-label", interpolate(gettext("Play from %(time)s"), { time: clock(entry.at) }));
    when.addEventListener("click", () => { moveTo(entry.at); play(); });
    item.prepend(when);
    feed.append(item);
  });
  feed.scrollTop = feed.scrollHeight;
}

function render() {
  const now = audio.currentTime || 0;
  if (!seeking) seek.value = String(Math.floor(now));
  positionText.textContent = clock(now);
  playButton.textContent = audio.paused ? gettext("Play") : gettext("Pause");
  renderTimeline(now);
}

// Playing

function countFirstPlay() {
  if (counted) return;
  counted = true;
  post(data.play).catch(() => { counted = false; });
}

async function play() {
  try {
    await audio.play();
  } catch (error) {
    if (error && error.name !== "AbortError") say(gettext("The recording can't be played here."));
  }
}

async function start() {
  durationText.textContent = clock(data.duration);
  let player = null;
  try {
    if (!data.playlist) throw new Error("no playlist");
    player = await attachHls(audio, data.playlist, hlsScript);
  } catch {
    if (data.audio) audio.src = data.audio;  // neither MSE nor native HLS: the whole file
    else {
      say(gettext("The recording can't be played here."));
      return;
    }
  }
  // "Listen to the full Space" from a clip links here with #t=<seconds>.
  const linked = window.location.hash.match(/^#t=(\d+(?:\.\d+)?)$/);
  const resumeAt = linked ? Math.min(Number(linked[1]), data.duration) : savedPosition();
  const ready = () => {
    for (const control of [seek, playButton, back, forward]) control.disabled = false;
    if (resumeAt) {
      audio.currentTime = resumeAt;
      say(interpolate(gettext("Resuming at %(time)s"), { time: clock(resumeAt) }));
    }
    render();
  };
  if (audio.readyState >= 1) ready();
  else audio.addEventListener("loadedmetadata", ready, { once: true });
  window.spacesReplay = { audio, player };
}

playButton.addEventListener("click", () => (audio.paused ? play() : audio.pause()));
back.addEventListener("click", () => moveTo(audio.currentTime - SKIP));
forward.addEventListener("click", () => moveTo(audio.currentTime + SKIP));
seek.addEventListener("input", () => { seeking = true; positionText.textContent = clock(Number(seek.value)); });
seek.addEventListener("change", () => { seeking = false; moveTo(Number(seek.value)); });
root.querySelectorAll("[data-replay-speed]").forEach((button) => {
  button.addEventListener("click", () => setSpeed(Number(button.dataset.replaySpeed)));
});
audio.addEventListener("play", () => { countFirstPlay(); say(""); render(); setPlaybackState("playing"); });
audio.addEventListener("pause", () => { savePosition(true); render(); setPlaybackState("paused"); });
audio.addEventListener("timeupdate", () => { render(); savePosition(false); });
audio.addEventListener("seeked", () => { savePosition(true); render(); });
audio.addEventListener("ended", () => { savePosition(true); render(); });
audio.addEventListener("ratechange", () => setSpeed(audio.playbackRate));
window.addEventListener("pagehide", () => savePosition(true));

// A report made during the replay says when in the recording.
report.addEventListener("click", () => {
  const url = new URL(report.href, window.location.href);
  url.searchParams.set("offset", String(Math.floor(audio.currentTime || 0)));
  report.href = url.pathname + url.search;
});

// Lock screen and headset: play, pause, ±15 s, seek.
const sessionData = JSON.parse(document.getElementById("replay-session").textContent || "null") || {};
if (setSpaceMediaSession({ ...sessionData, play, pause: () => audio.pause() })) {
  const handlers = {
    seekbackward: (details) => moveTo(audio.currentTime - (details.seekOffset || SKIP)),
    seekforward: (details) => moveTo(audio.currentTime + (details.seekOffset || SKIP)),
    seekto: (details) => moveTo(details.seekTime),
  };
  for (const [action, handler] of Object.entries(handlers)) {
    try { navigator.mediaSession.setActionHandler(action, handler); } catch { /* unknown action */ }
  }
}

// Clips: from the playing position, of the chosen length.
const clipPanel = document.querySelector("[data-clip-make]");
if (clipPanel && data.clip) {
  const length = document.querySelector("[data-clip-length]");
  const lengthValue = document.querySelector("[data-clip-length-value]");
  length.addEventListener("input", () => { lengthValue.textContent = length.value; });
  import("./clip.js").then(({ makeClip }) => {
    clipPanel.addEventListener("click", () => makeClip({
      url: data.clip,
      start: Math.floor(audio.currentTime || 0),
      duration: Number(length.value),
      button: clipPanel,
      status: document.querySelector("[data-clip-status]"),
      progress: document.querySelector("[data-clip-progress]"),
      link: document.querySelector("[data-clip-link]"),
    }));
  });
}

start();
