{% autoescape off %}// Spaces service worker: keeps the app shell (styles, icons, the offline page) for when the
// network is gone. It never stores audio, Space pages, API or socket responses: only the exact
// URLs listed in SHELL, and static files under STATIC_PREFIX that are not media.
const VERSION = "spaces-shell-{{ version }}";
const SHELL = {{ shell_json }};
const STATIC_PREFIX = {{ static_prefix_json }};
const OFFLINE = SHELL[0];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(VERSION).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== VERSION).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

function isShell(url) {
  if (url.origin !== self.location.origin) return false;
  if (SHELL.includes(url.pathname)) return true;
  // Styles, scripts and images of the site; never audio or video.
  return url.pathname.startsWith(STATIC_PREFIX) && /\.(css|js|png|svg|ico|woff2?)$/.test(url.pathname);
}

// Web Push (accounts/webpush.py): show the notification; a click opens (or focuses) its page.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = {}; }
  const url = typeof data.url === "string" && data.url.startsWith("/") ? data.url : "/notifications/";
  event.waitUntil(self.registration.showNotification(data.title || "Spaces", {
    body: data.body || "", data: { url }, icon: "{{ static_icon }}", tag: url,
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data.url, self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((windows) => {
    for (const client of windows) if (client.url === url && "focus" in client) return client.focus();
    return self.clients.openWindow(url);
  }));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (request.mode === "navigate") {
    // Pages always come from the network; the offline page only when there is none.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  if (!isShell(url)) return; // everything else goes straight to the network, uncached
  // Network first so a deploy shows at once; the cached copy when offline.
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && response.type === "basic") {
          const copy = response.clone();
          caches.open(VERSION).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(() => caches.match(request)),
  );
});
{% endautoescape %}
