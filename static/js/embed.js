// The embed page's listen-only player: it plays the Space's HLS stream (no room socket, which
// a third-party frame could not join as a guest: it gets no cookie). hls.js through MSE, or the
// browser's own HLS (Safari); the button plays and pauses for real.

import { attachHls } from "./room/hls.js";

for (const root of document.querySelectorAll("[data-embed-player]")) {
  const button = root.querySelector("button");
  const audio = root.querySelector("audio");
  const note = root.querySelector("[data-testid=embed-note]");
  let player = null;
  const label = (playing) => { button.textContent = playing ? root.dataset.labelPause : root.dataset.labelPlay; };
  button.hidden = false;
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
