// Clips: making one (from a replay, or the last 30 s of a live recorded Space) and the clip
// page's player. Only textContent is written.

import { gettext } from "./i18n.js";

const POLL_MS = 1000;
const POLL_LIMIT = 120;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function post(url, fields) {
  const options = { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } };
  if (fields) {  // an empty multipart body is refused by the server's parser: none at all then
    options.body = new FormData();
    for (const [key, value] of Object.entries(fields)) options.body.append(key, String(value));
  }
  return fetch(url, options);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// POST the clip, then follow its cutting until it is ready (or failed).
// start: seconds into the replay, or null for "the last `duration` seconds" while live.
export async function makeClip({ url, start, duration, button, status, progress, link }) {
  const fields = { duration };
  if (start !== null && start !== undefined) fields.start = start;
  button.disabled = true;
  link.hidden = true;
  status.textContent = gettext("Making your clip…");
  try {
    const response = await post(url, fields);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.textContent = answer.error || gettext("The clip could not be made.");
      return null;
    }
    progress.hidden = false;
    let clip = answer;
    for (let i = 0; i < POLL_LIMIT && (clip.state === "pending" || clip.state === "cutting"); i += 1) {
      progress.value = clip.progress || 0;
      status.textContent = gettext("Cutting your clip…");
      await sleep(POLL_MS);
      const polled = await fetch(clip.status, { credentials: "same-origin", cache: "no-store" });
      if (polled.ok) clip = await polled.json();
    }
    progress.hidden = true;
    if (clip.state !== "ready") {
      status.textContent = gettext("The clip could not be made.");
      return null;
    }
    status.textContent = gettext("Your clip is ready.");
    link.href = clip.page;
    link.hidden = false;
    link.focus();
    return clip;
  } catch {
    status.textContent = gettext("The clip could not be made.");
    return null;
  } finally {
    button.disabled = false;
  }
}

// The clip page: count the first play.
export function initClipPage() {
  const audio = document.querySelector("[data-clip-audio]");
  if (!audio) return;
  let counted = false;
  audio.addEventListener("play", () => {
    if (counted) return;
    counted = true;
    post(audio.dataset.playUrl).catch(() => { counted = false; });
  });
}

// The live room page: "Clip the last 30 s" for a signed-in listener of a recorded Space.
export function initLiveClip() {
  const button = document.querySelector("[data-live-clip]");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", () => makeClip({
    url: button.dataset.url,
    start: null,
    duration: Number(button.dataset.seconds || 30),
    button,
    status: document.querySelector("[data-live-clip-status]"),
    progress: document.querySelector("[data-live-clip-progress]"),
    link: document.querySelector("[data-live-clip-link]"),
  }));
}

if (document.querySelector("[data-clip-audio]")) initClipPage();
if (document.querySelector("[data-live-clip]")) initLiveClip();
