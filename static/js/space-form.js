// The Space form: start times typed in the browser's time zone, and the time field shown only
// when scheduling. Without JavaScript the form still works, in UTC.
(function () {
  "use strict";
  var form = document.querySelector("form[data-space-form]");
  if (!form) return;
  var zoneField = form.querySelector("input[name=timezone]");
  var when = form.querySelector("input[name=scheduled_for]");
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }

  function pad(n) { return String(n).padStart(2, "0"); }

  if (zoneField && zone) {
    // A value the server rendered in UTC (editing) becomes the same moment in local time.
    if (when && when.value && zoneField.value === "UTC") {
      var moment = new Date(when.value + ":00Z");
      if (!isNaN(moment.getTime())) {
        when.value = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
          "T" + pad(moment.getHours()) + ":" + pad(moment.getMinutes());
      }
    }
    zoneField.value = zone;
    var help = document.getElementById("id_scheduled_for_helptext");
    // window.gettext comes from Django's JavaScript catalog (base.html), in the page's language.
    var gettext = window.gettext || function (text) { return text; };
    var yours = gettext("Your time zone: %s.").replace("%s", zone);
    if (help) help.textContent = help.textContent.replace(gettext("Times are in UTC."), yours);
  }

  var choices = form.querySelectorAll("input[name=start]");
  var box = when ? when.closest("div") : null;
  function sync() {
    var later = false;
    choices.forEach(function (choice) { if (choice.checked && choice.value === "later") later = true; });
    if (box && choices.length) box.hidden = !later;
  }
  choices.forEach(function (choice) { choice.addEventListener("change", sync); });
  sync();
})();
