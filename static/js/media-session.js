// Lock-screen and headset controls for a page that plays a Space (the Media Session API).
//
// The live room client (static/js/room.js) calls `setSpaceMediaSession({title, host, artwork,
// play, pause})` once it knows the Space, and again when its title or host changes; `play`/`pause`
// are its own functions that really start (its Listen path) and stop the audio. Pages that only
// have <audio> elements get `attachToPage(data)` from templates/base.html, whose default handlers
// pause and resume those elements.

const ARTWORK_SIZES = "1200x630";

export function setSpaceMediaSession({ title, host, artwork, play, pause } = {}) {
  if (!("mediaSession" in navigator) || typeof window.MediaMetadata !== "function") return false;
  const session = navigator.mediaSession;
  session.metadata = new window.MediaMetadata({
    title: title || "Spaces",
    artist: host || "",
    album: "Spaces",
    artwork: artwork ? [{ src: artwork, sizes: ARTWORK_SIZES, type: "image/png" }] : [],
  });
  // The lock screen shows the new state at once; the page's own play/pause may take a while.
  const run = (action, state) => () => {
    session.playbackState = state;
    Promise.resolve().then(action).catch(() => {});
  };
  const handlers = {
    play: play && run(play, "playing"),
    pause: pause && run(pause, "paused"),
    stop: pause && run(pause, "paused"),
  };
  for (const [action, handler] of Object.entries(handlers)) {
    try {
      session.setActionHandler(action, handler || null);
    } catch {
      // An action this browser does not know: leave it.
    }
  }
  return true;
}

export function setPlaybackState(state) {
  if ("mediaSession" in navigator) navigator.mediaSession.playbackState = state;
}

function pageAudio() {
  // Only elements with something to play: play() on an empty one never settles.
  return Array.from(document.querySelectorAll("audio")).filter((audio) => audio.srcObject || audio.currentSrc || audio.src);
}

// Default wiring: the metadata now, play/pause on the page's <audio> elements, and the lock
// screen's state kept in step with them.
export function attachToPage(data) {
  // The live room client (static/js/room.js) wires its own listen/stop.
  if (document.querySelector("[data-room-app]")) return false;
  const ok = setSpaceMediaSession({
    ...data,
    play: () => pageAudio().forEach((audio) => audio.play().catch(() => {})),
    pause: () => pageAudio().forEach((audio) => audio.pause()),
  });
  if (!ok) return false;
  document.addEventListener("play", () => setPlaybackState("playing"), true);
  document.addEventListener("pause", () => {
    if (pageAudio().every((audio) => audio.paused)) setPlaybackState("paused");
  }, true);
  return true;
}
