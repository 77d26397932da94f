// The one way user-facing strings are written in the page's scripts, ready for translation:
// Django's JavaScript catalog defines window.gettext/ngettext; without it the English stands.

export function t(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

export function tn(singular, plural, n) {
  if (typeof window.ngettext === "function") return window.ngettext(singular, plural, n);
  return n === 1 ? singular : plural;
}

// interpolate("%(name)s left", {name}) → "Ana left" (Django's named-placeholder syntax).
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}
