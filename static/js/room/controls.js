// What each role may do, as buttons: the person menus on tiles, the hands queue, and the
// fixed bottom bar with the person's own actions. The server checks every action again.

import { gettext, interpolate } from "../i18n.js";
import { el } from "./dom.js";
import { icon } from "./icons.js";
import { ON_STAGE } from "./state.js";
import { consentButton } from "./consent.js";

export const REACTIONS = ["👏", "❤️", "😂", "🔥", "💯", "🙌", "🤔", "😮"];

function button(label, onclick, testid, kind = "button-ghost", extra = {}) {
  return el("button", { type: "button", class: `button button-small ${kind}`, text: label,
    onclick, testid, ...extra });
}

// The menu of actions the viewer may take on one person (on stage or in the audience).
export function personActions(app, person, role) {
  const { snapshot } = app.state;
  const you = snapshot.you;
  const may = new Set(you.may);
  const id = person.id;
  if (you.user && you.user.id === id) return [];
  const name = person.name;
  const send = (type, fields) => () => { app.closeMenus(); app.send(type, { user: id, ...fields }); };
  const items = [];
  if (role === "listener") {
    if (may.has("invite")) items.push(button(gettext("Invite to speak"), send("invite", { role: "speaker" }), "invite-speaker"));
    if (may.has("promote_cohost")) items.push(button(gettext("Invite to co-host"), send("invite", { role: "cohost" }), "invite-cohost"));
  } else if (role !== "host") {
    const tile = snapshot.stage.find((p) => p.user.id === id);
    if (may.has("mute") && tile && !tile.muted) items.push(button(gettext("Mute"), send("mute", { muted: true }), "mute"));
    if (may.has("promote_cohost") && role === "speaker") items.push(button(gettext("Make co-host"), send("promote", { role: "cohost" }), "make-cohost"));
    if (may.has("cohost_remove") && role === "cohost") items.push(button(gettext("Remove as co-host"), send("cohost_remove"), "cohost-remove"));
    if (may.has("move_to_audience")) items.push(button(gettext("Move to audience"), send("move_to_audience"), "move-back"));
  }
  if (may.has("remove") && role !== "host") {
    items.push(button(gettext("Remove"), async () => {
      app.closeMenus();
      const ok = await app.confirm(
        interpolate(gettext("Remove %(name)s from this Space? This is permanent: they cannot come back to this Space."), { name }),
        gettext("Remove"));
      if (ok) app.send("remove", { user: id });
    }, "remove", "button-danger"));
  }
  if (!you.guest) {
    items.push(el("a", { class: "button button-small button-ghost", href: `/s/${app.slug}/report/?person=${id}`,
      text: gettext("Report"), testid: "report-person" }));
  }
  return items;
}

export function personMenu(app, person, role) {
  const items = personActions(app, person, role);
  if (!items.length) return null;
  const key = `${role}:${person.id}`;
  const open = app.ui.openMenu === key;
  const list = el("div", { class: "menu-list", role: "group",
    "aria-label": interpolate(gettext("Actions for %(name)s"), { name: person.name }), hidden: !open }, items);
  const toggle = el("button", { type: "button", class: "menu-button", "aria-expanded": String(open),
    testid: "person-menu", onclick: (event) => {
      event.stopPropagation();
      app.ui.openMenu = open ? null : key;
      app.render();
    } },
  icon("more"),
  el("span", { class: "visually-hidden", text: interpolate(gettext("Actions for %(name)s"), { name: person.name }) }));
  return el("div", { class: "menu" }, toggle, list);
}

export function handsQueue(app) {
  const { snapshot } = app.state;
  const may = new Set(snapshot.you.may);
  if (!snapshot.hands.length || !may.has("hand_accept")) return null;
  return el("section", { class: "card", testid: "hands" },
    el("h2", { text: interpolate(gettext("Raised hands (%(n)s)"), { n: snapshot.hands.length }) }),
    el("ul", { class: "hands", testid: "hands-queue" }, snapshot.hands.map((h) =>
      el("li", { "data-user": String(h.user.id) },
        el("span", { class: "name", text: h.user.name }),
        el("span", { class: "row-actions" },
          button(gettext("Accept"), () => app.send("hand_accept", { user: h.user.id }), "hand-accept", ""),
          button(gettext("Decline"), () => app.send("hand_decline", { user: h.user.id }), "hand-decline"))))));
}

export function inviteCard(app) {
  const invite = app.state.snapshot.you.invite;
  if (!invite) return null;
  const who = invite.inviter ? invite.inviter.name : gettext("The host");
  const text = invite.role === "cohost"
    ? interpolate(gettext("%(name)s invites you to co-host."), { name: who })
    : interpolate(gettext("%(name)s invites you to speak."), { name: who });
  return el("section", { class: "card invites", testid: "invite", role: "alert" },
    el("p", { text }),
    el("div", { class: "controls" },
      button(gettext("Accept"), () => app.send("invite_accept", { invite: invite.id }), "invite-accept", ""),
      button(gettext("Not now"), () => app.send("invite_decline", { invite: invite.id }), "invite-decline")));
}

function barButton(name, label, onclick, testid, extra = {}) {
  return el("button", { type: "button", class: `bar-button ${extra.class || ""}`, onclick, testid,
    "aria-pressed": extra.pressed }, icon(name, "bar-icon"), el("span", { class: "bar-label", text: label }));
}

// The fixed bottom bar: the person's own actions, by role.
export function actionBar(app) {
  const { snapshot } = app.state;
  const { you, room } = snapshot;
  const may = new Set(you.may);
  const items = [];
  if (room.state !== "live") return null;
  const onStage = ON_STAGE.includes(you.role);
  if (onStage) {
    const muted = you.muted;
    items.push(barButton(muted ? "micOff" : "mic", muted ? gettext("Unmute") : gettext("Mute"),
      () => app.toggleMute(), "self-mute", { pressed: String(!muted), class: muted ? "" : "bar-on" }));
  }
  items.push(consentButton(app, barButton));
  if (may.has("hand_raise")) {
    items.push(barButton("hand", gettext("Raise hand"), () => {
      app.ui.askOpen = true;
      app.render();
      if (app.askInput) app.askInput.focus();
    }, "raise-hand"));
  }
  if (may.has("hand_lower")) items.push(barButton("hand", gettext("Lower hand"), () => app.send("hand_lower"), "lower-hand", { class: "bar-on" }));
  if (may.has("react")) {
    items.push(barButton("smile", gettext("React"), (event) => {
      event.stopPropagation();
      app.ui.reactOpen = !app.ui.reactOpen;
      app.render();
    }, "react", { pressed: String(Boolean(app.ui.reactOpen)) }));
  }
  if (navigator.share) {
    items.push(barButton("share", gettext("Share"), () => app.share(), "share"));
  } else {
    items.push(barButton("link", gettext("Copy link"), () => app.copyLink(), "copy-link"));
  }
  if (you.guest) {
    items.push(el("a", { class: "bar-button", href: `/s/${app.slug}/report/`, testid: "report-space" },
      icon("flag", "bar-icon"),
      el("span", { class: "bar-label", text: gettext("Report") })));
  }
  if (you.role === "speaker" || you.role === "cohost") {
    items.push(barButton("down", gettext("Become a listener"),
      () => app.send("move_to_audience", { user: you.user.id }), "step-down"));
  }
  if (may.has("end")) {
    items.push(barButton("stop", gettext("End Space"), async () => {
      if (await app.confirm(gettext("End this Space for everyone?"), gettext("End Space"))) app.send("end");
    }, "end-space", { class: "bar-danger" }));
  }
  if (may.has("leave")) {
    const cohost = snapshot.stage.some((p) => p.role === "cohost");
    const label = you.role === "host" && cohost ? gettext("Leave and hand over") : gettext("Leave");
    items.push(barButton("leave", label, async () => {
      if (you.role === "host" && !cohost
        && !(await app.confirm(gettext("Leave? The Space stays live without a host until you come back or it is ended."), gettext("Leave")))) return;
      app.leave();
    }, "leave"));
  }
  const reactions = app.ui.reactOpen
    ? el("div", { class: "reaction-picker", role: "group", "aria-label": gettext("Reactions"), testid: "reaction-bar" },
      REACTIONS.map((emoji) => el("button", { type: "button", class: "reaction-button", text: emoji,
        "aria-label": interpolate(gettext("React %(emoji)s"), { emoji }), testid: "react-emoji",
        onclick: () => app.send("react", { emoji }) })))
    : null;
  return el("nav", { class: "action-bar", "aria-label": gettext("Your controls"), testid: "action-bar" },
    reactions, el("div", { class: "action-bar-items" }, items));
}
