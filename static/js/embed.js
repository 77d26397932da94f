// The embed page's listen-only player: it plays the Space's HLS stream (no room socket, which
// a third-party frame could not join as a guest: it gets no cookie), or, once a recorded Space
// has ended, its replay (the VOD playlist, or the whole .m4a where HLS can't play). hls.js
// through MSE, or the browser's own HLS (Safari); the button plays and pauses for real.

import { attachHls } from "./room/hls.js";

function livePlayer(root, button, audio, note, label) {
  let player = null;
  button.addEventListener("click", async () => {
    if (player) {
      player.stop();
      player = null;
      note.hidden = true;
      label(false);
      root.dataset.state = "paused";
      return;
    }
    try {
      player = await attachHls(audio, root.dataset.hls, root.dataset.hlsScript);
    } catch (error) {
      note.textContent = root.dataset.labelFailed;
      note.hidden = false;
      return;
    }
    label(true);
    note.hidden = false;
    root.dataset.state = "loading";
    audio.addEventListener("playing", () => { if (player) root.dataset.state = "playing"; }, { once: true });
    audio.play().catch(() => {});
  });
}

// A replay pauses where it is and plays on from there.
function replayPlayer(root, button, audio, note, label) {
  let attached = null;
  const attach = async () => {
    if (root.dataset.hls) {
      try {
        await attachHls(audio, root.dataset.hls, root.dataset.hlsScript);
        return true;
      } catch { /* neither MSE nor native HLS: the whole file */ }
    }
    if (!root.dataset.audio) return false;
    audio.src = root.dataset.audio;
    return true;
  };
  // A play is counted like one on the replay page (once per listener a day, by the server);
  // the frame has no CSRF cookie, so it goes to the embed's own count-only endpoint.
  let counted = false;
  audio.addEventListener("playing", () => {
    root.dataset.state = "playing";
    label(true);
    if (counted || !root.dataset.play) return;
    counted = true;
    fetch(root.dataset.play, { method: "POST", credentials: "include", keepalive: true })
      .then((response) => { root.dataset.counted = response.ok ? "yes" : "no"; })
      .catch(() => { root.dataset.counted = "no"; });
  });
  audio.addEventListener("pause", () => { root.dataset.state = "paused"; label(false); });
  audio.addEventListener("ended", () => { root.dataset.state = "ended"; label(false); });
  button.addEventListener("click", async () => {
    if (!audio.paused) {
      audio.pause();
      return;
    }
    attached = attached || attach();
    if (!(await attached)) {
      attached = null;
      note.textContent = root.dataset.labelFailed;
      note.hidden = false;
      return;
    }
    root.dataset.state = "loading";
    audio.play().catch((error) => {
      if (error && error.name === "AbortError") return;
      note.textContent = root.dataset.labelFailed;
      note.hidden = false;
    });
  });
}

for (const root of document.querySelectorAll("[data-embed-player]")) {
  const button = root.querySelector("button");
  const audio = root.querySelector("audio");
  const note = root.querySelector("[data-testid=embed-note]");
  const label = (playing) => { button.textContent = playing ? root.dataset.labelPause : root.dataset.labelPlay; };
  button.hidden = false;
  if (root.dataset.kind === "replay") replayPlayer(root, button, audio, note, label);
  else livePlayer(root, button, audio, note, label);
}
