// Share a Space's link: the device's share sheet where there is one, else the clipboard.
// Only textContent is ever written; the buttons stay hidden without JavaScript (the link is
// in a read-only field anyone can copy).
(function () {
  "use strict";
  var status = document.querySelector("[data-share-status]");
  var field = document.querySelector("[data-share-link]");

  // Django's JavaScript catalog (base.html) defines window.gettext in the page's language.
  function gettext(text) {
    return window.gettext ? window.gettext(text) : text;
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function copy(url) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(url).then(function () { say(gettext("Link copied.")); });
    }
    if (field) {
      field.focus();
      field.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      say(copied ? gettext("Link copied.") : gettext("Select the link above and copy it."));
    }
    return Promise.resolve();
  }

  document.querySelectorAll("[data-share-url]").forEach(function (button) {
    var kind = button.getAttribute("data-share");
    if (kind === "sheet" && !navigator.share) return; // no share sheet here: "Copy link" is enough
    button.hidden = false;
    button.addEventListener("click", function () {
      var url = button.getAttribute("data-share-url");
      if (kind === "sheet") {
        navigator.share({ title: button.getAttribute("data-share-title") || document.title, url: url })
          .catch(function (error) { if (error && error.name !== "AbortError") copy(url); });
      } else {
        copy(url).catch(function () { say(gettext("Select the link above and copy it.")); });
      }
    });
  });
})();
