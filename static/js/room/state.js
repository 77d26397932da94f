// The room's state and the one dispatcher that applies each server event to it. Render
// functions only read this state; nothing else changes it.

import { applyQuestionEvent } from "./questions.js";

export const ON_STAGE = ["host", "cohost", "speaker"];
const STAGE_ORDER = { host: 0, cohost: 1, speaker: 2 };

export function initialState() {
  return {
    snapshot: null,        // the last snapshot, with every later event applied
    connection: "connecting",
    closedCode: null,
    ending: null,          // null | "ended" | "cancelled" | "removed" | "left" | "suspended" | other
    endingMessage: "",
    hostAwaySince: null,   // ms timestamp, when the host's last socket went
    levels: {},
    flash: null,           // {text, kind}
    pendingPosts: [],      // texts queued while the socket was down ("sending…")
  };
}

function upsertStage(room, user, role, muted) {
  const old = room.stage.find((p) => p.user.id === user.id);
  room.stage = room.stage.filter((p) => p.user.id !== user.id);
  if (ON_STAGE.includes(role)) {
    room.stage.push({ user: { ...(old ? old.user : {}), ...user }, role,
      muted: muted ?? (old ? old.muted : true) });
    room.stage.sort((a, b) => STAGE_ORDER[a.role] - STAGE_ORDER[b.role]);
    dropFromAudience(room, user.id);
  } else if (role === "listener" && old) {
    const audience = room.audience || (room.audience = { people: [], guests: 0 });
    if (!audience.people.some((p) => p.id === user.id)) {
      audience.people.push({ ...old.user, ...user, hand: false });
    }
  }
}

function dropFromAudience(room, userId) {
  if (room.audience) room.audience.people = room.audience.people.filter((p) => p.id !== userId);
}

function setHand(room, user, raised) {
  room.hands = room.hands.filter((h) => h.user.id !== user.id);
  if (raised) room.hands.push({ user });
  if (room.audience) for (const p of room.audience.people) if (p.id === user.id) p.hand = raised;
}

// Apply one server event. Returns nothing; the caller re-renders.
export function apply(state, event) {
  if (event.type === "snapshot") {
    state.snapshot = event;
    event.audience = event.audience || { people: [], guests: 0 };
    state.hostAwaySince = event.room.host_present === false ? Date.now() : null;
    state.levels = {};
    return;
  }
  const room = state.snapshot;
  switch (event.type) {
    case "closing":
      state.ending = event.code || "closed";
      state.endingMessage = event.message || "";
      return;
    case "room_ended":
      state.ending = "ended";
      if (room) room.room.state = "ended";
      return;
    case "room_cancelled":
      state.ending = "cancelled";
      if (room) room.room.state = "cancelled";
      return;
    case "error":
      state.flash = { text: event.message, kind: "error" };
      return;
    case "invite_declined":
      state.flash = { text: { declined: event.user.name }, kind: "info" };
      return;
  }
  if (!room) return;
  const you = room.you;
  switch (event.type) {
    case "you":
      room.you = event.you;
      if (event.you.user && ON_STAGE.includes(event.you.role)) {
        const mine = room.stage.find((p) => p.user.id === event.you.user.id);
        if (mine) mine.muted = event.you.muted;
      }
      break;
    case "room_live":
      room.room.state = "live";
      room.room.started_at = event.started_at;
      break;
    case "room_updated":
      Object.assign(room.room, { title: event.title, guests_may_listen: event.guests_may_listen,
        scheduled_for: event.scheduled_for });
      break;
    case "host_away":
      if (state.hostAwaySince === null) state.hostAwaySince = Date.now();
      room.room.host_present = false;
      break;
    case "host_back":
      state.hostAwaySince = null;
      room.room.host_present = true;
      break;
    case "listeners":
      room.listeners = event.count;
      // `people` is left out when it has not changed since the server last sent it.
      if (event.audience) room.audience = { ...room.audience, ...event.audience };
      break;
    case "levels":
      state.levels = event.levels;
      break;
    case "speaker_promoted": case "cohost_promoted": case "moved_to_audience":
    case "cohost_removed": case "hand_accepted": case "invite_accepted":
      upsertStage(room, event.user, event.role);
      setHand(room, event.user, false);
      break;
    case "host_changed":
      if (event.previous_host) upsertStage(room, event.previous_host, "listener");
      upsertStage(room, event.user, "host");
      room.room.host = { ...room.room.host, ...event.user };
      state.hostAwaySince = null;
      break;
    case "participant_joined":
      upsertStage(room, event.user, event.role);
      break;
    case "participant_left":
      upsertStage(room, event.user, "gone");
      dropFromAudience(room, event.user.id);
      break;
    case "participant_removed":
      upsertStage(room, event.user, "gone");
      setHand(room, event.user, false);
      dropFromAudience(room, event.user.id);
      break;
    case "speaker_muted": case "speaker_unmuted":
      for (const p of room.stage) if (p.user.id === event.user.id) p.muted = event.muted;
      if (you.user && you.user.id === event.user.id) you.muted = event.muted;
      break;
    case "hand_raised":
      setHand(room, event.user, true);
      applyQuestionEvent(room, event, you);
      break;
    case "question_voted": case "question_removed": case "question_answered":
      applyQuestionEvent(room, event, you);
      break;
    case "hand_lowered":
      setHand(room, event.user, false);
      break;
    case "invite_received":
      you.invite = { id: event.invite, role: event.role, inviter: event.inviter };
      break;
    case "invite_revoked":
      you.invite = null;
      break;
    case "post_created":
      if (!room.posts.some((p) => p.id === event.post.id)) {
        room.posts.push(event.post);
        room.posts = room.posts.slice(-100);
      }
      break;
    case "recording_consent":
      for (const p of room.stage) if (p.user.id === event.user_id) p.recording_consent = event.consent;
      break;
    case "post_deleted":
      room.posts = room.posts.filter((p) => p.id !== event.post);
      break;
    case "post_pinned":
      for (const p of room.posts) p.pinned = p.id === event.post ? event.pinned : (event.pinned ? false : p.pinned);
      break;
  }
}

export function isOnStage(state) {
  return Boolean(state.snapshot && ON_STAGE.includes(state.snapshot.you.role));
}

export function myTile(state) {
  const { snapshot } = state;
  if (!snapshot || !snapshot.you.user) return null;
  return snapshot.stage.find((p) => p.user.id === snapshot.you.user.id) || null;
}
