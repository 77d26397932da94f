// Render functions: each reads the state and draws one part of the live room.

import { gettext, ngettext, interpolate } from "../i18n.js";
import { avatar, el } from "./dom.js";
import { icon } from "./icons.js";
import { actionBar, handsQueue, inviteCard, personMenu } from "./controls.js";
import { ON_STAGE } from "./state.js";
import { consentBadge } from "./consent.js";

export const HOST_AWAY_GRACE = 6000;
const SEARCH_FROM = 12;

const ROLE_LABEL = {
  host: () => gettext("Host"), cohost: () => gettext("Co-host"), speaker: () => gettext("Speaker"),
  listener: () => gettext("Listener"), guest: () => gettext("Guest"),
};

export function youLine(you, staff) {
  const words = {
    host: gettext("You are the host"), cohost: gettext("You are a co-host"), speaker: gettext("You are a speaker"),
    listener: gettext("You are a listener"), guest: gettext("You are listening as a guest"),
    outsider: gettext("You are not in this Space"), removed: gettext("You were removed from this Space"),
  };
  return (words[you.role] || "") + (staff ? ` · ${gettext("staff")}` : "");
}

function stageTile(app, p) {
  const level = app.state.levels[String(p.user.id)] || 0;
  const speaking = level > 0.02 && !p.muted;
  const role = ROLE_LABEL[p.role]();
  return el("li", { class: `tile${speaking ? " speaking" : ""}`, "data-user": String(p.user.id),
    "data-role": p.role, "data-muted": String(p.muted), testid: "tile" },
  el("div", { class: "tile-avatar" }, avatar(p.user),
    p.muted ? el("span", { class: "mic-badge", title: gettext("Muted") }, icon("micOff")) : null,
    consentBadge(app, p, icon)),
  el("span", { class: "name", text: p.user.name, title: p.user.name }),
  el("span", { class: "role", text: p.muted ? `${role} · ${gettext("muted")}` : role }),
  el("span", { class: "visually-hidden speaking-text", text: speaking ? gettext("speaking") : "" }),
  personMenu(app, p.user, p.role));
}

export function renderStage(app) {
  const { stage } = app.state.snapshot;
  return el("section", { class: "card", "aria-labelledby": "stage-heading" },
    el("h2", { id: "stage-heading", text: gettext("On stage") }),
    el("ul", { class: "stage-grid", testid: "stage" },
      stage.length ? stage.map((p) => stageTile(app, p))
        : el("li", { class: "muted", text: gettext("Nobody is on stage right now.") })));
}

// The speaking rings change five times a second: only classes and texts, no redraw.
export function renderLevels(app, root) {
  const spoken = [];
  for (const tile of root.querySelectorAll(".stage-grid .tile")) {
    const level = app.state.levels[tile.dataset.user] || 0;
    const speaking = level > 0.02 && tile.dataset.muted !== "true";
    if (speaking !== tile.classList.contains("speaking")) {
      tile.classList.toggle("speaking", speaking);
      tile.querySelector(".speaking-text").textContent = speaking ? gettext("speaking") : "";
      if (speaking) spoken.push(tile.querySelector(".name").textContent);
    }
  }
  return spoken;
}

export function renderAudience(app) {
  const { audience, listeners } = app.state.snapshot;
  const people = audience.people || [];
  const query = app.ui.search.trim().toLowerCase();
  const shown = query ? people.filter((p) => p.name.toLowerCase().includes(query)) : people;
  // The grid lists who has the page open; `listeners` counts who has audio on.
  const others = Math.max(0, listeners - people.length - (audience.guests || 0));
  const search = people.length >= SEARCH_FROM ? app.searchInput : null;
  return el("section", { class: "card", testid: "audience", "aria-labelledby": "audience-heading" },
    el("h2", { id: "audience-heading", text: gettext("Listeners") }),
    search,
    el("ul", { class: "audience-grid" },
      shown.map((p) => el("li", { class: "tile tile-small", "data-user": String(p.id), testid: "listener" },
        el("div", { class: "tile-avatar" }, avatar(p),
          p.hand ? el("span", { class: "hand-badge", title: gettext("Hand raised") }, icon("hand")) : null),
        el("span", { class: "name", text: p.name, title: p.name }),
        el("span", { class: "role", text: p.hand ? gettext("hand raised") : gettext("Listener") }),
        personMenu(app, p, "listener")))),
    !people.length && !audience.guests ? el("p", { class: "muted", text: gettext("No listeners yet.") }) : null,
    query && !shown.length ? el("p", { class: "muted", text: gettext("Nobody by that name.") }) : null,
    audience.guests ? el("p", { class: "muted", testid: "guest-count",
      text: interpolate(ngettext("and %(n)s guest", "and %(n)s guests", audience.guests), { n: audience.guests }) }) : null,
    others ? el("p", { class: "muted",
      text: interpolate(ngettext("and %(n)s more", "and %(n)s more", others), { n: others }) }) : null);
}

export function renderPosts(app) {
  const { snapshot } = app.state;
  const { you } = snapshot;
  const may = new Set(you.may);
  const posts = [...snapshot.posts].sort((a, b) => (b.pinned ? 1 : 0) - (a.pinned ? 1 : 0));
  const feed = el("ul", { class: "feed", testid: "feed", "aria-live": "polite" },
    posts.map((post) => {
      const mine = you.user && you.user.id === post.author.id;
      const actions = el("span", { class: "row-actions" },
        may.has("post_pin") ? el("button", { type: "button", class: "link-action", testid: "pin",
          text: post.pinned ? gettext("Unpin") : gettext("Pin"),
          onclick: () => app.send("post_pin", { post: post.id, pinned: !post.pinned }) }) : null,
        may.has("post_delete") || (mine && may.has("post")) ? el("button", { type: "button", class: "link-action",
          testid: "delete-post", text: gettext("Delete"), onclick: () => app.send("post_delete", { post: post.id }) }) : null,
        !mine ? el("a", { class: "link-action", href: `/s/${app.slug}/report/?post=${post.id}`,
          text: gettext("Report"), testid: "report-post" }) : null);
      return el("li", { class: post.pinned ? "pinned" : "", "data-post": String(post.id) },
        post.pinned ? el("span", { class: "badge", text: gettext("Pinned") }) : null,
        el("p", { class: "post-body" }, el("strong", { text: `${post.author.name}: ` }),
          el("span", { class: "post-text", text: post.text })),
        actions);
    }),
    app.state.pendingPosts.map((text) => el("li", { class: "pending", testid: "pending-post" },
      el("p", { class: "post-body" }, el("span", { class: "post-text", text }),
        el("span", { class: "muted", text: ` · ${gettext("sending…")}` })))));
  if (!posts.length && !app.state.pendingPosts.length) {
    feed.append(el("li", { class: "muted empty", text: gettext("No posts yet.") }));
  }
  let footer = null;
  if (may.has("post")) {
    footer = app.postForm;
  } else if (you.guest) {
    footer = el("p", { class: "sign-in-prompt", testid: "sign-in-prompt" },
      el("a", { class: "button button-small", href: `/accounts/login/?next=${encodeURIComponent(location.pathname)}`,
        text: gettext("Sign in to post") }),
      " ", el("span", { class: "muted", text: gettext("Guests can listen, react, share and report.") }));
  }
  return el("section", { class: "card", testid: "posts", "aria-labelledby": "posts-heading" },
    el("h2", { id: "posts-heading", text: gettext("Posts") }), feed, footer);
}

// Status and the notices that carry a way out (retry, allow the microphone).
export function renderNotices(app) {
  const { state, audio } = app;
  const notices = [];
  const notice = (testid, text, action = null, kind = "warn") =>
    notices.push(el("div", { class: `notice notice-${kind}`, testid }, el("p", { text }), action));
  if (state.connection === "offline") {
    notice("offline", gettext("You are offline. The page reconnects when the network is back."));
  } else if (state.connection === "reconnecting") {
    notice("reconnecting", gettext("Reconnecting…"));
  }
  if (audio.error === "mic_denied") {
    notice("mic-error", gettext("Your browser blocked the microphone, so the room cannot hear you. To speak, allow microphone access for this site (the icon next to the address bar), then press Try again. You can still hear the room."),
      el("button", { type: "button", class: "button button-small", text: gettext("Try again"), testid: "mic-retry",
        onclick: () => app.retryMicrophone() }), "error");
  } else if (audio.error === "mic_missing") {
    notice("mic-error", gettext("No microphone was found. Connect one, then press Try again."),
      el("button", { type: "button", class: "button button-small", text: gettext("Try again"), testid: "mic-retry",
        onclick: () => app.retryMicrophone() }), "error");
  }
  const retry = el("button", { type: "button", class: "button button-small", text: gettext("Retry now"),
    testid: "audio-retry", onclick: () => app.audio.restart() });
  if (audio.error === "ice_failed") {
    notice("audio-error", gettext("No audio path to the Space: the connection failed (a firewall or network may block it). Retrying…"), retry, "error");
  } else if (audio.error === "unavailable") {
    notice("audio-error", gettext("Audio is not available right now. Retrying…"), retry, "error");
  } else if (audio.error === "bad_offer") {
    notice("audio-error", gettext("This browser's audio could not be connected."), retry, "error");
  }
  const you = state.snapshot && state.snapshot.you;
  if (state.hostAwaySince !== null && you && you.role !== "host"
      && Date.now() - state.hostAwaySince >= HOST_AWAY_GRACE) {
    notice("host-away", gettext("The host has stepped away. The Space stays live; they may be back soon."));
  }
  if (state.flash) notice("room-flash", typeof state.flash.text === "string" ? state.flash.text
    : interpolate(gettext("%(declined)s declined the invite."), state.flash.text), null, state.flash.kind);
  return notices;
}

export function statusText(app) {
  const { state, audio } = app;
  if (state.connection === "connecting" || !state.snapshot) return gettext("Connecting…");
  const { room, you } = state.snapshot;
  if (room.state === "scheduled") {
    return you.user && room.host.id === you.user.id
      ? gettext("Scheduled: go live when you are ready.")
      : gettext("Waiting for the host to start the Space…");
  }
  if (room.state !== "live") return "";
  if (audio.phase === "connected") return ON_STAGE.includes(you.role) ? gettext("Live · on stage") : gettext("Live · listening");
  if (app.hls.phase === "playing") return gettext("Live · listening");
  if (audio.phase === "connecting") return gettext("Live · connecting audio…");
  return gettext("Live");
}

export function listenControl(app) {
  const { snapshot } = app.state;
  if (!snapshot || snapshot.room.state !== "live") return null;
  if (app.audio.phase === "blocked") {
    return el("button", { type: "button", class: "button listen-big", testid: "play",
      onclick: () => app.audio.play() }, gettext("Tap to hear the room"));
  }
  if ((ON_STAGE.includes(snapshot.you.role) && !app.paused) || app.audio.want || app.hls.active) return null;
  return el("button", { type: "button", class: "button listen-big", testid: "listen",
    onclick: () => app.resume() }, icon("play"), gettext("Listen"));
}

export function endedPanel(app) {
  const { ending, endingMessage } = app.state;
  const home = el("a", { class: "button", href: "/", text: gettext("See live Spaces") });
  if (ending === "ended" && app.record) {  // its replay comes to the same link
    return el("section", { class: "card ended", testid: "ended", role: "status" },
      el("h2", { text: gettext("This Space has ended.") }),
      el("p", { class: "muted", text: gettext("Its replay will be at this link in a few minutes.") }),
      el("a", { class: "button", href: `/s/${encodeURIComponent(app.slug)}/`, testid: "replay-link",
        text: gettext("Go to the replay") }));
  }
  if (ending === "ended" || ending === "cancelled") {
    return el("section", { class: "card ended", testid: "ended", role: "status" },
      el("h2", { text: ending === "ended" ? gettext("This Space has ended.") : gettext("This Space was cancelled.") }),
      el("p", { class: "muted", text: gettext("Thanks for listening.") }), home);
  }
  if (ending === "removed") {
    return el("section", { class: "card ended", testid: "removed", role: "alert" },
      el("h2", { text: gettext("You were removed from this Space.") }),
      el("p", { text: gettext("You can't rejoin it or take part in it.") }), home);
  }
  if (ending === "left") {
    return el("section", { class: "card ended", testid: "left", role: "status" },
      el("h2", { text: gettext("You left the Space.") }),
      el("p", {}, el("a", { class: "button", href: location.pathname, text: gettext("Rejoin") }), " ", home));
  }
  return el("section", { class: "card ended", testid: "room-closed", role: "alert" },
    el("h2", { text: endingMessage || gettext("Disconnected.") }),
    app.state.ending === "guests_off" || app.state.ending === "no_guest_cookie"
      ? el("a", { class: "button", href: `/accounts/login/?next=${encodeURIComponent(location.pathname)}`, text: gettext("Sign in") })
      : home);
}
