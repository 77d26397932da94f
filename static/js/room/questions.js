// Questions on raised hands: the form to raise a hand with a question, and the queue every
// signed-in person in the Space sees (most upvoted first, then longest waiting), with upvotes,
// and for the host and co-hosts "Bring on stage" (hand_accept) and "Remove". The server checks
// every action again. Strings go through gettext() so makemessages finds them.

import { gettext, interpolate } from "../i18n.js";
import { el } from "./dom.js";

export const MAX_QUESTION = 140;

// The waiting questions, as the queue shows them: votes, then waiting time.
export function questionQueue(snapshot) {
  return snapshot.hands.filter((h) => h.question).sort((a, b) =>
    (b.question.votes - a.question.votes) || String(a.raised_at).localeCompare(String(b.raised_at)));
}

function small(label, onclick, testid, kind = "button-ghost", extra = {}) {
  return el("button", { type: "button", class: `button button-small ${kind}`, text: label, onclick, testid, ...extra });
}

// Raising a hand opens this form (built once, so typing survives re-renders).
export function askForm(app) {
  if (!app.ui.askOpen) return null;
  if (!app.askNode) {
    const input = el("input", { type: "text", id: "question-text", name: "question", maxlength: String(MAX_QUESTION),
      autocomplete: "off", testid: "question-input" });
    const close = () => { app.ui.askOpen = false; input.value = ""; app.render(); };
    app.askNode = el("form", { class: "card ask-form", testid: "ask-form", onsubmit: (event) => {
      event.preventDefault();
      const text = input.value.trim();
      app.send("hand_raise", text ? { question: text } : {});
      close();
    } },
    el("label", { for: "question-text", text: gettext("Your question (optional, up to 140 characters)") }),
    input,
    el("div", { class: "controls" },
      el("button", { type: "submit", class: "button button-small", text: gettext("Raise hand"), testid: "ask-submit" }),
      small(gettext("Cancel"), close, "ask-cancel")));
    app.askInput = input;
  }
  return app.askNode;
}

export function questionsPanel(app) {
  const { snapshot } = app.state;
  const { you } = snapshot;
  if (you.guest || snapshot.room.state !== "live") return null;
  const may = new Set(you.may);
  const waiting = questionQueue(snapshot);
  const answered = snapshot.answered || [];
  if (!waiting.length && !answered.length) return null;
  const mine = (q) => you.user && q.author.id === you.user.id;
  const row = (h) => {
    const q = h.question;
    const votes = interpolate(gettext("%(n)s upvotes"), { n: q.votes });
    const actions = [];
    if (may.has("question_upvote") && !mine(q)) {
      actions.push(small(q.voted ? gettext("Upvoted") : gettext("Upvote"),
        () => app.send("question_upvote", { question: q.id }), "question-upvote",
        q.voted ? "button-ghost" : "", { "aria-pressed": String(Boolean(q.voted)), disabled: q.voted }));
    }
    if (may.has("hand_accept")) {
      actions.push(small(gettext("Bring on stage"), () => app.send("hand_accept", { user: h.user.id }), "question-accept", ""));
    }
    if (may.has("question_remove") || mine(q)) {
      actions.push(small(gettext("Remove question"), () => app.send("question_remove", { question: q.id }), "question-remove"));
    }
    if (!mine(q)) {
      actions.push(el("a", { class: "button button-small button-ghost", href: `/s/${app.slug}/report/?question=${q.id}`,
        text: gettext("Report"), testid: "question-report" }));
    }
    return el("li", { class: "question", "data-question": String(q.id), "data-user": String(h.user.id), testid: "question" },
      el("p", { class: "question-text", text: q.text }),
      el("p", { class: "muted" },
        el("span", { class: "name", text: h.user.name }), " · ",
        el("span", { testid: "question-votes", "data-votes": String(q.votes), text: votes })),
      actions.length ? el("div", { class: "row-actions" }, actions) : null);
  };
  return el("section", { class: "card", testid: "questions" },
    el("h2", { text: gettext("Questions") }),
    waiting.length
      ? el("ol", { class: "questions", testid: "question-queue" }, waiting.map(row))
      : el("p", { class: "muted", text: gettext("No questions waiting.") }),
    answered.length
      ? el("details", { testid: "answered" },
        el("summary", { text: gettext("Answered") }),
        el("ul", { class: "questions" }, answered.map((q) =>
          el("li", { class: "question answered", "data-question": String(q.id) },
            el("span", { class: "badge", text: gettext("Answered") }), " ",
            el("span", { class: "question-text", text: q.text }), " ",
            el("span", { class: "muted", text: `— ${q.author.name}` })))))
      : null);
}

// Events about questions, applied to the snapshot (called from state.apply).
export function applyQuestionEvent(room, event, you) {
  const find = (id) => room.hands.find((h) => h.question && h.question.id === id);
  switch (event.type) {
    case "hand_raised": {
      const hand = room.hands.find((h) => h.user.id === event.user.id);
      if (hand) {
        hand.question = event.question || null;
        hand.raised_at = hand.raised_at || new Date().toISOString();
      }
      break;
    }
    case "question_voted": {
      const hand = find(event.question);
      if (hand) {
        hand.question.votes = event.votes;
        if (you.user && event.actor === you.user.id) hand.question.voted = true;
      }
      break;
    }
    case "question_removed": {
      const hand = find(event.question);
      if (hand) hand.question = null;
      break;
    }
    case "question_answered":
      room.answered = [event.question, ...(room.answered || []).filter((q) => q.id !== event.question.id)].slice(0, 20);
      break;
  }
}
