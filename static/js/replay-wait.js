// While an ended Space's recording is being prepared, its page waits for the replay and shows
// it once it is ready: it asks for the replay's playlist (404 until then) every few seconds.

const waiting = document.querySelector("[data-replay-wait]");
const EVERY_MS = 3000;
const SLOWER_AFTER = 40;  // tries (about two minutes), then every 15 s
const GIVE_UP_AFTER = 160;

async function check(tries) {
  try {
    const response = await fetch(waiting.dataset.replayWait, {
      method: "HEAD", cache: "no-store", credentials: "same-origin",
    });
    // ready: the page shows the player, or (403) asks this person to sign in to hear it
    if (response.ok || response.status === 403) {
      window.location.reload();
      return;
    }
  } catch { /* offline for a moment: ask again */ }
  if (tries < GIVE_UP_AFTER) {
    setTimeout(() => check(tries + 1), tries < SLOWER_AFTER ? EVERY_MS : 5 * EVERY_MS);
  }
}

if (waiting) setTimeout(() => check(1), EVERY_MS);
