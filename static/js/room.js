// The live room page: one client renders the whole live room for every role (host, co-host,
// speaker, listener, guest) from the room socket (docs/protocol.md). The server HTML is the
// page without JavaScript; once the Space is live this module hides it and draws the room.
//
// Modules: room/connection.js (socket and protocol rules), room/audio.js (WebRTC),
// room/hls.js (the HLS stream for listeners past WebRTC, and holding back what they see),
// room/state.js (the one dispatcher), room/render.js and room/controls.js (drawing, per-role
// controls). User text only ever goes through textContent.

import { gettext, ngettext, interpolate } from "./i18n.js";
import { setPlaybackState, setSpaceMediaSession } from "./media-session.js";
import { Audio } from "./room/audio.js";
import { Connection } from "./room/connection.js";
import { actionBar, handsQueue, inviteCard } from "./room/controls.js";
import { el } from "./room/dom.js";
import { hlsControl, HlsListener, onPhone } from "./room/hls.js";
import { ConsentPrompt } from "./room/consent.js";
import { askForm, questionsPanel } from "./room/questions.js";
import {
  endedPanel, HOST_AWAY_GRACE, listenControl, renderAudience, renderLevels, renderNotices,
  renderPosts, renderStage, statusText, youLine,
} from "./room/render.js";
import { apply, initialState, isOnStage, myTile, ON_STAGE } from "./room/state.js";

class RoomApp {
  constructor(root) {
    this.root = root;
    this.slug = root.dataset.slug;
    this.staff = root.dataset.staff === "true";
    this.openMic = root.dataset.openMic === "true";
    this.shareUrl = root.dataset.shareUrl || location.href;
    this.record = root.dataset.record === "true";  // a recorded Space: speakers choose consent
    this.state = initialState();
    this.ui = { openMenu: null, reactOpen: false, search: "" };
    // Audio stopped on purpose (the lock screen's or a headset's pause): not restarted by itself.
    this.paused = false;
    this.mediaSessionKey = null;
    this.connection = new Connection({
      slug: this.slug,
      onEvent: (event) => this.handle(event),
      onStatus: (status, code) => this.connectionChanged(status, code),
    });
    this.audio = new Audio({
      iceServers: JSON.parse(root.dataset.iceServers || "[]"),
      send: (type, fields) => this.connection.send(type, fields),
      onChange: () => this.render(),
    });
    this.hls = new HlsListener({
      scriptSrc: root.dataset.hlsScript,
      onChange: () => this.render(),
      replay: (event) => this.handle(event, true),
    });
    this.consent = new ConsentPrompt(this);
    this.build();
    this.connection.connect();
  }

  get pc() { return this.audio.pc; }

  build() {
    this.statusNode = el("span", { role: "status", testid: "room-status" });
    this.countNode = el("span", { testid: "listener-count" });
    this.announcer = el("p", { class: "visually-hidden", "aria-live": "polite", testid: "announcer" });
    this.body = el("div", { class: "room-live" });
    // The listeners and the posts go beside the stage where the page has a side column.
    this.side = document.querySelector("[data-room-side]") || el("div");
    this.side.classList.add("room-live");
    this.reactionsNode = el("div", { class: "reaction-float", "aria-hidden": "true" });
    this.searchInput = el("input", { type: "search", class: "audience-search", testid: "audience-search",
      placeholder: gettext("Search listeners"), "aria-label": gettext("Search listeners"),
      oninput: () => { this.ui.search = this.searchInput.value; this.render(); } });
    const input = el("input", { type: "text", maxlength: "280", name: "text",
      placeholder: gettext("Say something to the room"), "aria-label": gettext("Post") });
    this.postForm = el("form", { class: "post-form", testid: "post-form", onsubmit: (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      if (!this.connection.post(text)) this.state.pendingPosts.push(text);
      this.render();
    } }, input, el("button", { type: "submit", class: "button button-small", text: gettext("Post") }));
    this.dialog = el("dialog", { class: "confirm", testid: "confirm-dialog" });
    this.root.replaceChildren(el("p", { class: "status status-line" }, this.statusNode, this.countNode), this.body, this.reactionsNode,
      this.announcer, this.dialog, this.audio.element, this.hls.element);
    this.root.hidden = false;
    document.addEventListener("click", (event) => {
      if ((this.ui.openMenu || this.ui.reactOpen) && !event.target.closest(".menu, .reaction-picker")) {
        this.closeMenus();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && (this.ui.openMenu || this.ui.reactOpen)) this.closeMenus();
    });
    setInterval(() => this.tick(), 1000);
    // On a phone, WebRTC audio stops when the screen locks (iOS); the stream in an <audio>
    // element keeps playing, so a listener going to the background moves to it.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden" && onPhone() && this.audio.want
        && !isOnStage(this.state)) this.useHls(null, "background");
    });
  }

  // -- events ------------------------------------------------------------------------------
  handle(event, replayed = false) {
    // An HLS listener hears the room a few seconds late: what goes with the audio waits.
    if (!replayed && this.hls.hold(event, this.myId())) return;
    const before = this.state.snapshot ? { role: this.state.snapshot.you.role,
      state: this.state.snapshot.room.state } : null;
    apply(this.state, event);
    switch (event.type) {
      case "levels": {
        const spoken = renderLevels(this, this.body);
        if (spoken.length) this.announce(interpolate(gettext("%(name)s is speaking"), { name: spoken[0] }));
        return;
      }
      case "reactions":
        for (const [emoji, count] of Object.entries(event.counts)) {
          for (let i = 0; i < Math.min(count, 5); i++) this.burst(emoji);
        }
        return;
      case "rtc_answer":
        this.audio.answer(event.sdp);
        return;
      case "media_moved":
        if (this.audio.want) this.audio.restart();
        return;
      case "error":
        if (event.ref === "rtc_offer" && event.code === "use_hls") {
          // The media worker's WebRTC seats are full: listen through the stream instead.
          this.state.flash = null;
          this.audio.outstanding = Math.max(0, this.audio.outstanding - 1);
          if (this.audio.want && !isOnStage(this.state)) this.useHls(event.hls, "full");
          return;
        }
        if (event.ref === "rtc_offer") {
          this.state.flash = null;
          this.audio.refused(event.code);
        }
        break;
      case "pong":
        return;
      case "recording_removed":
        // Staff took the recording down: nothing is recorded any more; no REC, no live clips.
        this.record = false;
        for (const gone of document.querySelectorAll("[data-testid=live-clip], [data-testid=rec-badge]")) gone.hidden = true;
        this.announce(gettext("This Space is no longer recorded."));
        break;
    }
    if (this.state.ending) {
      this.finish();
      return;
    }
    const snap = this.state.snapshot;
    if (event.type === "snapshot") {
      this.state.pendingPosts = [];
      this.audio.outstanding = 0;  // a new socket: earlier offers will not be answered
      this.hls.drop();  // the snapshot already reflects what was held
      if (this.hls.active) this.connection.send("hls_listening", { listening: true });
    }
    if (snap && before && before.role !== snap.you.role) this.roleChanged(before.role, snap.you.role);
    if (snap && (event.type === "snapshot" || event.type === "you" || event.type === "room_live")) {
      this.syncAudio();
    }
    if (event.type === "speaker_muted" || event.type === "speaker_unmuted") {
      if (snap && snap.you.user && snap.you.user.id === event.user.id) this.audio.setMuted(event.muted);
    }
    this.render();
  }

  connectionChanged(status, code) {
    this.state.connection = status;
    if (status === "closed" && !this.state.ending) {
      this.state.ending = { 4403: "removed", 4410: "ended" }[code] || "closed";
    }
    if (this.state.ending) this.finish();
    else this.render();
  }

  roleChanged(from, to) {
    const words = { host: gettext("You are now the host."), cohost: gettext("You are now a co-host."),
      speaker: gettext("You are now a speaker. Unmute when you are ready."), listener: gettext("You are now a listener.") };
    if (words[to]) this.announce(words[to]);
    for (const node of document.querySelectorAll(".messages")) node.remove();
    if (ON_STAGE.includes(from) && !ON_STAGE.includes(to)) this.audio.releaseMic();
  }

  // People on stage publish and hear the room at once; listeners once they press Listen.
  async syncAudio() {
    const snap = this.state.snapshot;
    if (!snap || snap.room.state !== "live" || this.state.ending) {
      if (this.audio.want) this.audio.stop();
      if (this.hls.active) this.stopHls();
      return;
    }
    if (this.paused) return;
    const onStage = isOnStage(this.state);
    if (onStage && this.hls.active) this.stopHls();  // brought on stage: WebRTC from here
    const mine = myTile(this.state);
    const muted = mine ? mine.muted : snap.you.muted;
    if (onStage && !(this.audio.want && this.audio.publish && this.audio.pc)) {
      await this.audio.start({ publish: true, muted });
      this.openMicOnce();
    } else if (!onStage && this.audio.want && this.audio.publish) {
      this.audio.releaseMic();
      await this.audio.start({ publish: false, muted: true });
    } else if (this.audio.want && !this.audio.pc) {
      await this.audio.start({ publish: onStage, muted });
    }
  }

  // The host pressed Start now / Go live now: that click was the go-ahead to speak.
  openMicOnce() {
    if (!this.openMic || !this.audio.hasMic) return;
    this.openMic = false;
    const snap = this.state.snapshot;
    const mine = myTile(this.state);
    if (snap.you.user && mine && mine.muted) this.toggleMute();
  }

  // -- actions -----------------------------------------------------------------------------
  send(type, fields = {}) {
    this.state.flash = null;
    if (!this.connection.send(type, fields)) {
      this.state.flash = { text: gettext("Not connected: try again in a moment."), kind: "error" };
      this.render();
      return false;
    }
    return true;
  }

  listen() {
    this.paused = false;
    this.audio.start({ publish: false, muted: true });
    this.render();
  }

  myId() {
    const snap = this.state.snapshot;
    return snap && snap.you.user ? snap.you.user.id : null;
  }

  // Listen through the Space's HLS stream instead of WebRTC (full, chosen or in the background).
  useHls(url, reason) {
    this.paused = false;
    this.hlsUrl = url || this.hlsUrl || `/s/${encodeURIComponent(this.slug)}/hls/live.m3u8`;
    if (this.audio.want) this.audio.stop();
    this.hls.start(this.hlsUrl, reason);
    this.connection.send("hls_listening", { listening: true });
    this.render();
  }

  stopHls() {
    if (!this.hls.active) return;
    this.hls.stop();
    this.connection.send("hls_listening", { listening: false });
  }

  // Back to WebRTC: if it is still full, the server says so and the stream comes back.
  leaveHls() {
    this.stopHls();
    this.hls.reason = null;
    this.listen();
  }

  // Play and pause from the lock screen, a headset or the Listen button: audio really starts
  // (through the same path as Listen, or the stage's own connection) and really stops.
  resume() {
    if (isOnStage(this.state)) {
      this.paused = false;
      this.syncAudio().then(() => this.render());
    } else if (this.hls.reason && this.hls.reason !== "background") {
      this.useHls(null, this.hls.reason);  // a listener who was on the stream stays on it
    } else {
      this.listen();
    }
  }

  pause() {
    this.paused = true;
    this.audio.stop();
    this.stopHls();
    this.render();
  }

  // The lock screen shows the Space's title and host, and its play/pause drive this page.
  updateMediaSession(room) {
    const key = JSON.stringify([room.title, room.host && room.host.name]);
    if (key === this.mediaSessionKey) return;
    this.mediaSessionKey = key;
    const data = document.getElementById("media-session-data");
    const artwork = data ? JSON.parse(data.textContent).artwork : null;
    setSpaceMediaSession({ title: room.title, host: room.host ? room.host.name : "", artwork,
      play: () => this.resume(), pause: () => this.pause() });
  }

  toggleMute() {
    const snap = this.state.snapshot;
    const mine = myTile(this.state);
    if (!snap.you.user || !mine) return;
    const muted = !mine.muted;
    // Unmuting needs a microphone: ask for it again if it was refused.
    if (!muted && !this.audio.hasMic) {
      this.retryMicrophone().then(() => { if (this.audio.hasMic) this.send("mute", { user: snap.you.user.id, muted: false }); });
      return;
    }
    this.audio.setMuted(muted);
    this.send("mute", { user: snap.you.user.id, muted });
  }

  async retryMicrophone() {
    this.paused = false;
    const mine = myTile(this.state);
    this.audio.releaseMic();
    await this.audio.start({ publish: isOnStage(this.state), muted: mine ? mine.muted : true });
  }

  leave() {
    this.send("leave");
  }

  share() {
    const title = this.state.snapshot ? this.state.snapshot.room.title : document.title;
    navigator.share({ title, url: this.shareUrl }).catch((error) => {
      if (error && error.name !== "AbortError") this.copyLink();
    });
  }

  copyLink() {
    const done = () => { this.state.flash = { text: gettext("Link copied."), kind: "info" }; this.render(); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(this.shareUrl).then(done, () => this.showLink());
    } else {
      this.showLink();
    }
  }

  showLink() {
    const field = document.querySelector("[data-share-link]");
    if (field) { field.focus(); field.select(); }
    this.state.flash = { text: gettext("Select the link and copy it."), kind: "info" };
    this.render();
  }

  closeMenus() {
    this.ui.openMenu = null;
    this.ui.reactOpen = false;
    this.render();
  }

  confirm(text, yes) {
    return new Promise((resolve) => {
      const answer = (value) => () => { this.dialog.close(); resolve(value); };
      this.dialog.replaceChildren(
        el("p", { text, testid: "confirm-text" }),
        el("div", { class: "controls" },
          el("button", { type: "button", class: "button button-danger", text: yes, testid: "confirm-yes", onclick: answer(true) }),
          el("button", { type: "button", class: "button button-ghost", text: gettext("Cancel"), testid: "confirm-no", onclick: answer(false) })));
      this.dialog.onclose = () => resolve(false);
      this.dialog.showModal();
    });
  }

  announce(text) {
    this.announcer.textContent = text;
  }

  burst(emoji) {
    const node = el("span", { class: "reaction-burst", text: emoji });
    node.style.left = `${10 + Math.random() * 75}%`;
    this.reactionsNode.append(node);
    setTimeout(() => node.remove(), 1700);
  }

  tick() {
    // The host-away notice appears after its grace without waiting for another event.
    const away = this.state.hostAwaySince;
    if (away !== null && Date.now() - away >= HOST_AWAY_GRACE && !this.root.querySelector("[data-testid=host-away]")) {
      this.render();
    }
  }

  // The Space is over for this page: ended, cancelled, removed, left or refused.
  finish() {
    this.audio.stop();
    this.hls.stop();
    setPlaybackState("none");
    this.connection.close();
    this.render();
  }

  // -- drawing -----------------------------------------------------------------------------
  render() {
    const { snapshot, ending } = this.state;
    this.root.dataset.audio = this.audio.phase === "connected" ? "connected" : this.audio.phase;
    this.root.dataset.hls = this.hls.phase;
    this.root.dataset.connection = this.state.connection;
    if (snapshot) this.root.dataset.role = snapshot.you.role;
    const badge = document.querySelector("[data-room-badge]");
    const line = document.querySelector("[data-you-line]");
    if (ending) {
      this.setFallbackHidden(true);
      if (badge && (ending === "ended" || ending === "cancelled")) {
        badge.textContent = ending === "ended" ? gettext("Ended") : gettext("Cancelled");
        badge.classList.remove("badge-live");
      }
      if (line) line.textContent = "";
      this.statusNode.textContent = "";
      this.countNode.textContent = "";
      this.consent.hide();
      this.body.replaceChildren(endedPanel(this));
      this.side.replaceChildren();
      document.body.classList.remove("has-action-bar");
      return;
    }
    this.statusNode.textContent = statusText(this);
    if (!snapshot) {
      this.body.replaceChildren(...renderNotices(this));
      return;
    }
    const live = snapshot.room.state === "live";
    this.setFallbackHidden(live);
    this.updateMediaSession(snapshot.room);
    setPlaybackState(this.audio.want || this.hls.active ? "playing" : "paused");
    if (badge && live) { badge.textContent = gettext("Live"); badge.classList.add("badge-live"); }
    if (line) line.textContent = youLine(snapshot.you, this.staff);
    document.title = `${snapshot.room.title} · Spaces`;
    if (!live) {
      this.countNode.textContent = "";
      this.body.replaceChildren(...renderNotices(this));
      this.side.replaceChildren();
      return;
    }
    this.countNode.textContent = interpolate(
      ngettext("%(n)s listening", "%(n)s listening", snapshot.listeners), { n: snapshot.listeners });
    const bar = actionBar(this);
    document.body.classList.toggle("has-action-bar", Boolean(bar));
    this.body.replaceChildren(...[
      ...renderNotices(this),
      listenControl(this),
      hlsControl(this),
      inviteCard(this),
      renderStage(this),
      handsQueue(this),
      askForm(this),
      questionsPanel(this),
      this.side.isConnected ? null : renderAudience(this),
      this.side.isConnected ? null : renderPosts(this),
      bar,
    ].filter(Boolean));
    if (this.side.isConnected) this.side.replaceChildren(renderAudience(this), renderPosts(this));
    this.consent.check();
  }

  setFallbackHidden(hidden) {
    for (const node of document.querySelectorAll("[data-fallback]")) node.hidden = hidden;
  }
}

for (const root of document.querySelectorAll("[data-room-app]")) {
  window.spacesRoom = new RoomApp(root);
}
