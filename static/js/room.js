// The live room: one WebSocket per person per Space (docs/protocol.md), audio over WebRTC.
// Drives both the signed-in room page and the public page. User text only ever goes through
// textContent, never innerHTML.

const ON_STAGE = ["host", "cohost", "speaker"];
const ROLE_LABEL = { host: "Host", cohost: "Co-host", speaker: "Speaker", listener: "Listener", guest: "Guest" };
const FATAL_CLOSE = new Set([4400, 4403, 4404, 4410, 4429]);
const REACTIONS = ["👏", "❤️", "😂", "🔥", "💯", "🙌"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

class RoomClient {
  constructor(root) {
    this.root = root;
    this.slug = root.dataset.slug;
    this.iceServers = JSON.parse(root.dataset.iceServers || "[]");
    this.state = null;
    this.socket = null;
    this.attempt = 0;
    this.closedForGood = false;
    this.pc = null;
    this.micStream = null;
    this.wantAudio = false;
    this.levels = {};
    this.audio = el("audio", { autoplay: "", "data-testid": "room-audio" });
    this.audio.volume = 1;
    this.build();
    this.connect();
  }

  // --- socket ---------------------------------------------------------------------------
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.setStatus(this.attempt ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(`${scheme}://${location.host}/ws/rooms/${this.slug}/`);
    this.socket = socket;
    socket.onmessage = (message) => this.onEvent(JSON.parse(message.data));
    socket.onclose = (close) => this.onClose(close);
    socket.onopen = () => { this.attempt = 0; };
  }

  onClose(close) {
    if (this.socket && this.socket.readyState !== WebSocket.CLOSED) return;
    clearInterval(this.pinger);
    if (FATAL_CLOSE.has(close.code) || this.closedForGood) {
      this.closedForGood = true;
      this.stopAudio();
      if (!this.finalStatus) this.setStatus(close.reason || "Disconnected.");
      this.root.dataset.connection = "closed";
      return;
    }
    this.root.dataset.connection = "reconnecting";
    // Jittered exponential backoff so a restarted server is not hit by everyone at once.
    const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + Math.random());
    this.attempt += 1;
    this.setStatus("Reconnecting…");
    setTimeout(() => this.connect(), delay);
  }

  send(type, fields = {}) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type, ...fields }));
    }
  }

  onEvent(event) {
    const handler = this[`on_${event.type}`];
    if (handler) handler.call(this, event);
    if (this.state) this.render();
  }

  // --- events ---------------------------------------------------------------------------
  on_snapshot(event) {
    this.state = event;
    this.root.dataset.connection = "open";
    this.root.dataset.role = event.you.role;
    this.setStatus(event.room.state === "live" ? "Live" : `This Space is ${event.room.state}.`);
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.send("ping"), 25000);
    if (this.wantAudio) this.startAudio();
  }

  on_you(event) {
    const before = this.state.you.role;
    this.state.you = event.you;
    this.root.dataset.role = event.you.role;
    const nowOnStage = ON_STAGE.includes(event.you.role);
    const wasOnStage = ON_STAGE.includes(before);
    if (!nowOnStage) this.stopMic();
    // Brought on stage: ask for the microphone now (the prompt), and publish muted.
    if (nowOnStage && !wasOnStage) this.startAudio();
    else if (nowOnStage !== wasOnStage && this.wantAudio) this.startAudio();
  }

  on_error(event) { this.flash(event.message, "error"); }
  on_closing(event) { this.closedForGood = true; this.finalStatus = true; this.setStatus(event.message); }

  on_listeners(event) { this.state.listeners = event.count; }
  on_levels(event) { this.levels = event.levels; }

  on_room_live(event) { this.state.room.state = "live"; this.setStatus("Live"); }
  on_room_ended() { this.state.room.state = "ended"; this.closedForGood = true; this.finalStatus = true; this.setStatus("This Space has ended."); this.stopAudio(); }
  on_room_cancelled() { this.state.room.state = "cancelled"; this.setStatus("This Space was cancelled."); }
  on_room_updated(event) { Object.assign(this.state.room, { title: event.title, guests_may_listen: event.guests_may_listen }); }

  upsertStage(user, role, muted) {
    const stage = this.state.stage.filter((p) => p.user.id !== user.id);
    if (ON_STAGE.includes(role)) {
      const old = this.state.stage.find((p) => p.user.id === user.id);
      stage.push({ user: { ...(old ? old.user : {}), ...user }, role, muted: muted ?? (old ? old.muted : true) });
    }
    const order = { host: 0, cohost: 1, speaker: 2 };
    stage.sort((a, b) => order[a.role] - order[b.role]);
    this.state.stage = stage;
  }

  on_role_change(event) {
    this.upsertStage(event.user, event.role);
    this.state.hands = this.state.hands.filter((h) => h.user.id !== event.user.id);
  }
  on_speaker_promoted(event) { this.on_role_change(event); }
  on_cohost_promoted(event) { this.on_role_change(event); }
  on_moved_to_audience(event) { this.on_role_change(event); }
  on_cohost_removed(event) { this.on_role_change(event); }
  on_hand_accepted(event) { this.on_role_change(event); }
  on_invite_accepted(event) { this.on_role_change(event); }
  on_host_changed(event) {
    if (event.previous_host) this.upsertStage(event.previous_host, "listener");
    this.upsertStage(event.user, "host");
    this.state.room.host = event.user;
  }
  on_participant_joined(event) { this.upsertStage(event.user, event.role); }
  on_participant_left(event) { this.upsertStage(event.user, "listener"); }
  on_participant_removed(event) {
    this.upsertStage(event.user, "listener");
    this.state.hands = this.state.hands.filter((h) => h.user.id !== event.user.id);
  }
  on_speaker_muted(event) { this.setMuted(event.user.id, true); }
  on_speaker_unmuted(event) { this.setMuted(event.user.id, false); }
  setMuted(userId, muted) {
    for (const p of this.state.stage) if (p.user.id === userId) p.muted = muted;
    if (this.state.you.user && this.state.you.user.id === userId && this.micStream) {
      for (const track of this.micStream.getAudioTracks()) track.enabled = !muted;
    }
  }
  on_hand_raised(event) {
    if (!this.state.hands.some((h) => h.user.id === event.user.id)) this.state.hands.push({ user: event.user });
  }
  on_hand_lowered(event) { this.state.hands = this.state.hands.filter((h) => h.user.id !== event.user.id); }

  on_invite_received(event) { this.state.you.invite = { id: event.invite, role: event.role, inviter: event.inviter }; }
  on_invite_revoked() { this.state.you.invite = null; }
  on_invite_declined(event) { this.flash(`${event.user.name} declined the invite.`); }

  on_post_created(event) {
    if (this.state.posts.some((p) => p.id === event.post.id)) return;  // already in the snapshot
    this.state.posts.push(event.post);
    this.state.posts = this.state.posts.slice(-100);
  }
  on_post_deleted(event) { this.state.posts = this.state.posts.filter((p) => p.id !== event.post); }
  on_post_pinned(event) { for (const p of this.state.posts) p.pinned = p.id === event.post && event.pinned; }
  on_reactions(event) {
    for (const [emoji, count] of Object.entries(event.counts)) {
      for (let i = 0; i < Math.min(count, 5); i++) this.burst(emoji);
    }
  }

  on_rtc_answer(event) {
    if (this.pc) this.pc.setRemoteDescription({ type: "answer", sdp: event.sdp }).catch((e) => this.flash(`Audio: ${e.message}`, "error"));
  }

  // --- audio ----------------------------------------------------------------------------
  async startAudio() {
    this.wantAudio = true;
    this.stopPeer();
    const onStage = ON_STAGE.includes(this.state.you.role);
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    pc.ontrack = (event) => {
      this.audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.audio.play().catch(() => this.setStatus("Press Listen to hear the Space."));
    };
    pc.onconnectionstatechange = () => {
      this.root.dataset.audio = pc.connectionState;
      if (pc.connectionState === "connected") this.setStatus(onStage ? "Live · on stage" : "Live · listening");
      if (pc.connectionState === "failed" && this.pc === pc) setTimeout(() => this.wantAudio && this.startAudio(), 1000);
    };
    if (onStage) {
      try {
        this.micStream = this.micStream || await navigator.mediaDevices.getUserMedia({ audio: true });
        const mine = this.state.stage.find((p) => p.user.id === this.state.you.user.id);
        for (const track of this.micStream.getAudioTracks()) {
          track.enabled = !(mine && mine.muted);
          pc.addTransceiver(track, { direction: "sendrecv", streams: [this.micStream] });
        }
      } catch (error) {
        this.flash("Microphone unavailable: you can listen, but not speak.", "error");
        pc.addTransceiver("audio", { direction: "recvonly" });
      }
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 2000);
    });
    if (this.pc === pc) this.send("rtc_offer", { sdp: pc.localDescription.sdp });
    this.render();
  }

  stopPeer() {
    if (this.pc) { this.pc.close(); this.pc = null; }
  }
  stopMic() {
    if (this.micStream) { for (const t of this.micStream.getTracks()) t.stop(); this.micStream = null; }
  }
  stopAudio() {
    this.wantAudio = false;
    this.stopPeer();
    this.stopMic();
    this.send("rtc_close");
    this.audio.srcObject = null;
    if (this.state) this.render();
  }

  // --- page -----------------------------------------------------------------------------
  build() {
    this.statusNode = el("p", { class: "status", role: "status", "data-testid": "room-status" });
    this.countNode = el("p", { class: "muted", "data-testid": "listener-count" });
    this.stageNode = el("ul", { class: "people", "data-testid": "stage" });
    this.controlsNode = el("div", { class: "controls", "data-testid": "controls" });
    this.handsNode = el("section", { "data-testid": "hands" });
    this.feedNode = el("ul", { class: "feed", "data-testid": "feed" });
    this.reactionsNode = el("div", { class: "reactions", "aria-hidden": "true" });
    this.flashNode = el("p", { class: "status", "aria-live": "polite", "data-testid": "room-flash" });
    this.volume = el("input", { type: "range", min: "0", max: "1", step: "0.05", value: "1", "aria-label": "Volume", "data-testid": "volume",
      oninput: () => { this.audio.volume = Number(this.volume.value); } });
    const postForm = el("form", { class: "post-form", "data-testid": "post-form", onsubmit: (e) => {
      e.preventDefault();
      const input = postForm.querySelector("input");
      if (input.value.trim()) this.send("post", { text: input.value.trim() });
      input.value = "";
    } }, el("input", { type: "text", maxlength: "280", placeholder: "Say something to the room", "aria-label": "Post" }),
    el("button", { type: "submit", class: "button button-small", text: "Post" }));
    this.postForm = postForm;
    const reactionBar = el("div", { class: "controls", "data-testid": "reaction-bar" },
      ...REACTIONS.map((emoji) => el("button", { type: "button", class: "button button-ghost button-small", text: emoji,
        "aria-label": `React ${emoji}`, onclick: () => this.send("react", { emoji }) })));
    // The server-rendered parts this module keeps live give way to it.
    for (const node of document.querySelectorAll("[data-replaced-by-live]")) node.hidden = true;
    this.root.classList.remove("controls");
    this.root.replaceChildren(
      this.statusNode, this.countNode,
      el("section", { class: "card" }, el("h2", { text: "On stage" }), this.stageNode, this.controlsNode,
        el("label", { class: "volume" }, "Volume ", this.volume), this.audio, this.reactionsNode, reactionBar),
      this.handsNode,
      el("section", { class: "card" }, el("h2", { text: "Posts" }), this.feedNode, postForm),
      this.flashNode,
    );
    setInterval(() => this.state && this.renderLevels(), 200);
  }

  button(label, onclick, testid, kind = "") {
    return el("button", { type: "button", class: `button button-small ${kind}`, text: label, onclick, "data-testid": testid });
  }

  render() {
    const { room, you } = this.state;
    document.title = `${room.title} · Spaces`;
    const n = this.state.listeners;
    this.countNode.textContent = `${n} listening`;
    this.renderStage();
    this.renderControls();
    this.renderHands();
    this.renderFeed();
    this.postForm.hidden = !you.may.includes("post");
  }

  renderStage() {
    const you = this.state.you;
    const may = new Set(you.may);
    const items = this.state.stage.map((p) => {
      const avatar = p.user.avatar
        ? el("img", { class: "avatar", src: p.user.avatar, alt: "" })
        : el("span", { class: "avatar", "aria-hidden": "true", text: (p.user.name || "?").slice(0, 1).toUpperCase() });
      const item = el("li", { class: "person", "data-user": String(p.user.id), "data-role": p.role, "data-muted": String(p.muted) },
        avatar, el("strong", { text: p.user.name }), el("span", { class: "role", text: `${ROLE_LABEL[p.role]}${p.muted ? " · muted" : ""}` }));
      const isMe = you.user && you.user.id === p.user.id;
      const actions = el("div", { class: "person-actions" });
      if (isMe && p.role !== "listener") {
        actions.append(this.button(p.muted ? "Unmute" : "Mute", () => this.send("mute", { user: p.user.id, muted: !p.muted }), "self-mute"));
      } else if (!isMe && p.role !== "host") {
        if (may.has("mute") && !p.muted) actions.append(this.button("Mute", () => this.send("mute", { user: p.user.id, muted: true }), "mute"));
        if (may.has("move_to_audience")) actions.append(this.button("Move to audience", () => this.send("move_to_audience", { user: p.user.id }), "move-back"));
        if (may.has("promote_cohost") && p.role === "speaker") actions.append(this.button("Make co-host", () => this.send("promote", { user: p.user.id, role: "cohost" }), "make-cohost"));
        if (may.has("remove")) actions.append(this.button("Remove", () => this.send("remove", { user: p.user.id }), "remove", "button-danger"));
      }
      if (!isMe) actions.append(this.reportLink(`person=${p.user.id}`, "report-person"));
      if (actions.childElementCount) item.append(actions);
      return item;
    });
    this.stageNode.replaceChildren(...items);
    this.renderLevels();
  }

  renderLevels() {
    for (const node of this.stageNode.children) {
      const level = this.levels[node.dataset.user] || 0;
      node.classList.toggle("speaking", level > 0.02 && node.dataset.muted !== "true");
    }
  }

  renderControls() {
    const { you, room } = this.state;
    const may = new Set(you.may);
    const controls = [];
    if (room.state === "live") {
      controls.push(this.wantAudio
        ? this.button("Stop listening", () => this.stopAudio(), "stop-listening", "button-ghost")
        : this.button("Listen", () => this.startAudio(), "listen"));
    }
    if (may.has("hand_raise")) controls.push(this.button("Raise hand ✋", () => this.send("hand_raise"), "raise-hand"));
    if (may.has("hand_lower")) controls.push(this.button("Lower hand", () => this.send("hand_lower"), "lower-hand", "button-ghost"));
    if (you.invite) {
      controls.push(el("span", { text: `${you.invite.inviter ? you.invite.inviter.name : "The host"} invites you to ${you.invite.role === "cohost" ? "co-host" : "speak"}.` }));
      controls.push(this.button("Accept", () => this.send("invite_accept", { invite: you.invite.id }), "invite-accept"));
      controls.push(this.button("Decline", () => this.send("invite_decline", { invite: you.invite.id }), "invite-decline", "button-ghost"));
    }
    if (may.has("end")) controls.push(this.button("End Space", () => confirm("End this Space for everyone?") && this.send("end"), "end-space", "button-danger"));
    this.controlsNode.replaceChildren(...controls);
  }

  renderHands() {
    const { hands, you } = this.state;
    const may = new Set(you.may);
    if (!hands.length) { this.handsNode.replaceChildren(); this.handsNode.className = ""; return; }
    this.handsNode.className = "card";
    const list = el("ul", { class: "feed", "data-testid": "hands-queue" }, ...hands.map((h) => {
      const row = el("li", { "data-user": String(h.user.id) }, el("span", { text: `✋ ${h.user.name} ` }));
      if (may.has("hand_accept")) {
        row.append(this.button("Accept", () => this.send("hand_accept", { user: h.user.id }), "hand-accept"),
          this.button("Decline", () => this.send("hand_decline", { user: h.user.id }), "hand-decline", "button-ghost"));
      }
      return row;
    }));
    this.handsNode.replaceChildren(el("h2", { text: `Raised hands (${hands.length})` }), list);
  }

  renderFeed() {
    const may = new Set(this.state.you.may);
    const posts = [...this.state.posts].sort((a, b) => (b.pinned ? 1 : 0) - (a.pinned ? 1 : 0));
    this.feedNode.replaceChildren(...posts.map((post) => {
      const row = el("li", { class: post.pinned ? "pinned" : "", "data-post": String(post.id) },
        el("strong", { text: `${post.author.name}: ` }), el("span", { class: "post-text", text: post.text }));
      if (post.pinned) row.prepend(el("span", { class: "badge", text: "Pinned" }), " ");
      if (may.has("post_pin")) row.append(" ", this.button(post.pinned ? "Unpin" : "Pin", () => this.send("post_pin", { post: post.id, pinned: !post.pinned }), "pin"));
      if (may.has("post_delete")) row.append(" ", this.button("Delete", () => this.send("post_delete", { post: post.id }), "delete-post", "button-ghost"));
      const mine = this.state.you.user && this.state.you.user.id === post.author.id;
      if (!mine) row.append(" ", this.reportLink(`post=${post.id}`, "report-post"));
      return row;
    }));
    this.feedNode.scrollTop = this.feedNode.scrollHeight;
  }

  reportLink(query, testid) {
    return el("a", { class: "muted report-link", href: `/s/${this.slug}/report/?${query}`, text: "Report", "data-testid": testid });
  }

  burst(emoji) {
    const node = el("span", { class: "reaction-burst", text: emoji });
    node.style.left = `${Math.random() * 80}%`;
    this.reactionsNode.append(node);
    setTimeout(() => node.remove(), 1700);
  }

  setStatus(text) { this.statusNode.textContent = text; }
  flash(text, kind = "info") {
    this.flashNode.textContent = text;
    this.flashNode.dataset.kind = kind;
  }
}

for (const root of document.querySelectorAll("[data-room-app]")) {
  window.spacesRoom = new RoomClient(root);
}
