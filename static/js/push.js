// Browser notifications for people you follow: subscribe this browser with the site's VAPID key
// (accounts/webpush.py) and tell the server, or take it back. Shown only where the browser can.

(function () {
  const box = document.querySelector("[data-push]");
  if (!box || !("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  const gettext = window.gettext || ((text) => text);
  const on = box.querySelector("[data-push-on]");
  const off = box.querySelector("[data-push-off]");
  const status = box.querySelector("[data-push-status]");
  const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";

  function key(text) {
    const padded = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function tell(body) {
    return fetch(box.dataset.pushUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": decodeURIComponent(csrf) },
      body: JSON.stringify(body),
    }).then((response) => { if (!response.ok) throw new Error(String(response.status)); });
  }

  function show(subscribed) {
    on.hidden = subscribed;
    off.hidden = !subscribed;
  }

  navigator.serviceWorker.ready.then(async (registration) => {
    box.hidden = false;
    show(Boolean(await registration.pushManager.getSubscription()));
    on.addEventListener("click", async () => {
      try {
        if ((await Notification.requestPermission()) !== "granted") {
          status.textContent = gettext("Your browser did not allow notifications.");
          return;
        }
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: key(box.dataset.pushKey) });
        await tell(subscription.toJSON());
        status.textContent = gettext("Notifications are on in this browser.");
        show(true);
      } catch (error) {
        status.textContent = gettext("Notifications could not be turned on in this browser.");
      }
    });
    off.addEventListener("click", async () => {
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        await tell({ endpoint: subscription.endpoint, remove: true }).catch(() => {});
        await subscription.unsubscribe();
      }
      status.textContent = gettext("Notifications are off in this browser.");
      show(false);
    });
  });
})();
