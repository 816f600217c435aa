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

  /* A timeline (a table whose rows carry class "timeline-<kind>") gets a filter by kind. */
  function timelineFilter(table) {
    var rows = table.querySelectorAll("tbody tr");
    var kinds = {};
    for (var i = 0; i < rows.length; i++) {
      var kind = (rows[i].className.match(/timeline-(\S+)/) || [])[1];
      if (kind && !kinds[kind]) { kinds[kind] = rows[i].cells[1] ? rows[i].cells[1].textContent.trim() : kind; }
    }
    if (Object.keys(kinds).length < 2) { return; }
    var select = document.createElement("select");
    select.id = table.id + "-filter";
    select.setAttribute("aria-label", "Show events of one kind");
    select.add(new Option("Every kind of event", ""));
    Object.keys(kinds).sort().forEach(function (kind) { select.add(new Option(kinds[kind], kind)); });
    select.addEventListener("change", function () {
      for (var j = 0; j < rows.length; j++) {
        rows[j].hidden = select.value !== "" && !rows[j].classList.contains("timeline-" + select.value);
      }
    });
    var wrapper = document.createElement("p");
    wrapper.className = "vigil-timeline-filter";
    wrapper.appendChild(select);
    table.parentNode.insertBefore(wrapper, table);
  }

  window.vigilConsole = { tick: tick, refresh: refresh };
  document.addEventListener("DOMContentLoaded", function () {
    var timelines = document.querySelectorAll("table#incident-timeline");
    for (var t = 0; t < timelines.length; t++) { timelineFilter(timelines[t]); }
    tick();
    window.setInterval(tick, EVERY_MS);
    window.setInterval(refresh, EVERY_MS);
  });
})();
