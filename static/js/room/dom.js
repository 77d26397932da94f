// Small DOM helpers. Text only ever goes in through textContent; no innerHTML anywhere.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function avatar(person, extra = "") {
  if (person.avatar) return el("img", { class: `avatar ${extra}`, src: person.avatar, alt: "" });
  const initial = (person.name || "?").trim().slice(0, 1).toUpperCase() || "?";
  return el("span", { class: `avatar ${extra}`, "aria-hidden": "true", text: initial });
}
