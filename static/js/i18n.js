// The one way user-facing strings are written in the page's scripts, ready for translation.
// Modules import these under the exact names `gettext`/`ngettext` so that Django's
// `makemessages -d djangojs` (xgettext) finds the strings; at run time they defer to Django's
// JavaScript catalog (window.gettext/ngettext/interpolate, from base.html); without it the
// English stands.

export function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

export function ngettext(singular, plural, n) {
  if (typeof window.ngettext === "function") return window.ngettext(singular, plural, n);
  return n === 1 ? singular : plural;
}

// interpolate("%(name)s left", {name}) → "Ana left" (Django's named-placeholder syntax).
export function interpolate(format, values) {
  if (typeof window.interpolate === "function") return window.interpolate(format, values, true);
  return format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}
