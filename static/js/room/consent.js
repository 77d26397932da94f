// Recorded Spaces: whoever is brought on stage (host and co-hosts always are recorded) is told
// the Space is recorded and chooses to be recorded or left out; the choice goes to the server
// as {"type": "recording_consent", "consent": bool} and comes back room-wide as the event
// `recording_consent` {user_id, consent}, shown on their tile. They may change it at any time
// from their own controls (docs/protocol.md, "Recording consent").

import { gettext } from "../i18n.js";
import { el } from "./dom.js";
import { myTile } from "./state.js";

const ALWAYS_RECORDED = ["host", "cohost"];

export class ConsentPrompt {
  constructor(app) {
    this.app = app;
    this.answered = false;  // answered during this stint on stage (the server may lag behind)
    this.dialog = el("dialog", { class: "consent-dialog", testid: "consent-dialog",
      "aria-labelledby": "consent-title", "aria-describedby": "consent-text" });
    // Escape leaves them out: nobody is recorded without saying yes.
    this.dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.choose(false);
    });
  }

  // Called after every render: ask a speaker who has not chosen yet.
  check() {
    const snap = this.app.state.snapshot;
    if (!this.app.record || !snap || snap.room.state !== "live") return this.hide();
    const mine = myTile(this.app.state);
    if (!mine || ALWAYS_RECORDED.includes(mine.role)) {
      this.answered = false;
      return this.hide();
    }
    if (this.answered || typeof mine.recording_consent === "boolean") return this.hide();
    if (!this.dialog.open) this.show();
  }

  show() {
    this.dialog.replaceChildren(
      el("h2", { id: "consent-title", text: gettext("This Space is recorded") }),
      el("p", { id: "consent-text", text: gettext("What is said on stage is kept in the recording, which people can replay and clip after the Space ends. Choose whether your voice is kept.") }),
      el("div", { class: "controls" },
        el("button", { type: "button", class: "button", testid: "consent-yes",
          text: gettext("Speak and be recorded"), onclick: () => this.choose(true) }),
        el("button", { type: "button", class: "button button-ghost", testid: "consent-no",
          text: gettext("Speak, but leave me out of the recording"), onclick: () => this.choose(false) })),
      el("p", { class: "muted", text: gettext("You can change this at any time from your controls.") }));
    if (!this.dialog.isConnected) document.body.append(this.dialog);
    this.dialog.showModal();
  }

  hide() {
    if (this.dialog.open) this.dialog.close();
  }

  choose(consent) {
    // Not sent (the socket is down): nothing is taken as chosen; they are asked again.
    if (!this.app.send("recording_consent", { consent })) return;
    this.answered = true;
    this.hide();
    const mine = myTile(this.app.state);
    if (mine) mine.recording_consent = consent;  // shown at once; the server's event confirms
    this.app.announce(consent ? gettext("You are being recorded.") : gettext("You are left out of the recording."));
    this.app.render();
  }
}

// The speaker's own control: switch either way at any time.
export function consentButton(app, barButton) {
  if (!app.record) return null;
  const mine = myTile(app.state);
  if (!mine || ALWAYS_RECORDED.includes(mine.role) || typeof mine.recording_consent !== "boolean") return null;
  return mine.recording_consent
    ? barButton("recOff", gettext("Leave me out of the recording"), () => app.consent.choose(false), "consent-leave-out")
    : barButton("rec", gettext("Be recorded"), () => app.consent.choose(true), "consent-record", { class: "bar-on" });
}

// The icon on a stage tile: recorded, or left out of the recording.
export function consentBadge(app, person, icon) {
  const always = ALWAYS_RECORDED.includes(person.role);
  if (!app.record || (!always && typeof person.recording_consent !== "boolean")) return null;
  const recorded = always || person.recording_consent;
  const label = recorded ? gettext("Recorded") : gettext("Not recorded");
  return el("span", { class: `rec-off-badge${recorded ? " rec-on" : ""}`, title: label,
    testid: recorded ? "tile-recorded" : "tile-not-recorded" },
  icon(recorded ? "rec" : "recOff"), el("span", { class: "visually-hidden", text: label }));
}
