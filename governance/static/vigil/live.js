/* Vigil's console, live without a reload: clocks move on and "Needs you now" refreshes every 30 s.
   A static file (no inline script) so the Content-Security-Policy needs no exception; nothing the
   person is typing is touched: only the list and the <time class="vigil-clock"> elements change. */
(function () {
  "use strict";
  var EVERY_MS = 30000;

  /* The same text as governance.console.span on the server. */
  function span(seconds, roundUp) {
    var s = Math.floor(Math.abs(seconds));
    var minutes = Math.floor(s / 60);
    if (roundUp && s % 60) { minutes += 1; }
    if (minutes < 1) { return "under a minute"; }
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 24) { return minutes ? hours + " h " + minutes + " min" : hours + " h"; }
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    return hours ? days + " d " + hours + " h" : days + " d";
  }

  function tick() {
    var clocks = document.querySelectorAll("time.vigil-clock[datetime]");
    for (var i = 0; i < clocks.length; i++) {
      var clock = clocks[i];
      var due = Date.parse(clock.getAttribute("datetime"));
      if (isNaN(due)) { continue; }
      var left = (due - Date.now()) / 1000;
      var label = clock.getAttribute("data-label") || "due";
      var late = left <= 0;
      clock.textContent = late ? label + " late by " + span(left, false) : label + " due in " + span(left, true);
      clock.classList.toggle("vigil-late", late);
      var line = clock.closest(".vigil-need");
      if (line) { line.classList.toggle("vigil-need-late", late); }
    }
  }

  function refresh() {
    var box = document.getElementById("needs-you");
    var body = box && box.querySelector(".vigil-needs-body");
    if (!body || !box.getAttribute("data-refresh-url")) { return Promise.resolve(); }
    return fetch(box.getAttribute("data-refresh-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null && !body.contains(document.activeElement)) {
          body.innerHTML = html;
          tick();
        }
      })
      .catch(function () { /* offline for a moment: the next turn tries again */ });
  }

  window.vigilConsole = { tick: tick, refresh: refresh };
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, EVERY_MS);
    window.setInterval(refresh, EVERY_MS);
  });
})();
