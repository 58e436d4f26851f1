// Every page's script. Without it the page works as well: times read in UTC (and say
// so), and the language switch posts its form to the server, which sets the cookie.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";

  // Times: the server writes UTC (a cached page stays right for everyone); here each
  // becomes the reader's own zone, in the page's language.
  var format = new Intl.DateTimeFormat(lang, {
    year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit"
  });
  document.querySelectorAll("time[datetime]").forEach(function (time) {
    var when = new Date(time.getAttribute("datetime"));
    if (isNaN(when)) return;
    time.title = time.textContent;  // the UTC time stays one hover away
    time.textContent = format.format(when);
  });

  // The language switch, the lecture's browser-side way: set the `lang` cookie with
  // document.cookie (as the server would: a year, the whole site) and reload. A
  // member's choice is also saved on their account, so the form still goes to the
  // server for them, in the background.
  var form = document.getElementById("language-switch");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    var choice = event.submitter || form.querySelector("button[name=lang]");
    event.preventDefault();
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = "lang=" + choice.value + "; Max-Age=31536000; Path=/; SameSite=Lax" + secure;
    if (!form.hasAttribute("data-member")) {
      location.reload();
      return;
    }
    var data = new FormData(form);
    data.set("lang", choice.value);
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .finally(function () { location.reload(); });
  });
})();
