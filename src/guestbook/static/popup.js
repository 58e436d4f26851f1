// The lecture's browser-side cookie: with JavaScript on, "Don't show again" closes
// the notice at once and sets the same cookie the server's /popup/skip would set
// (popup_skip=yes, one year, Path=/, SameSite=Lax), so both paths agree.
// Without JavaScript the form posts to /popup/skip and the server sets it.
(function () {
  "use strict";
  var popup = document.getElementById("popup");
  if (!popup) return;
  var ONE_YEAR = 365 * 24 * 60 * 60;

  function hide() { popup.hidden = true; }

  document.getElementById("popup-skip-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = "popup_skip=yes; Max-Age=" + ONE_YEAR + "; Path=/; SameSite=Lax" + secure;
    hide();
  });

  // "Close" hides it for this page view only; it needs JavaScript, so it starts hidden.
  var close = document.getElementById("popup-close");
  close.hidden = false;
  close.addEventListener("click", hide);
})();
