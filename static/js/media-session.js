// Lock-screen and headset controls for a page that plays a Space (the Media Session API).
//
// The room page calls `setSpaceMediaSession({title, host, artwork, play, pause})` when audio
// starts; `play`/`pause` are its own functions that really resume/stop the audio. Pages that only
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
  const handlers = {
    play: play && (async () => { await play(); session.playbackState = "playing"; }),
    pause: pause && (async () => { await pause(); session.playbackState = "paused"; }),
    stop: pause && (async () => { await pause(); session.playbackState = "paused"; }),
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
  return Array.from(document.querySelectorAll("audio"));
}

// Default wiring: the metadata now, play/pause on the page's <audio> elements, and the lock
// screen's state kept in step with them.
export function attachToPage(data) {
  const ok = setSpaceMediaSession({
    ...data,
    play: () => Promise.all(pageAudio().map((audio) => audio.play().catch(() => {}))),
    pause: () => pageAudio().forEach((audio) => audio.pause()),
  });
  if (!ok) return false;
  document.addEventListener("play", () => setPlaybackState("playing"), true);
  document.addEventListener("pause", () => {
    if (pageAudio().every((audio) => audio.paused)) setPlaybackState("paused");
  }, true);
  return true;
}
