/* Window desk (一事一评): watch the code on screen and say when it has been used or has expired.
   Without JavaScript the page still works: it reloads itself while a code waits (meta refresh),
   and has the "refresh" link and the "next person" button. */
(function () {
  "use strict";
  var panel = document.getElementById("desk-live");
  /* An idle desk reloads itself well within the form token's lifetime (1 h by default), so
     下一位 never meets an expired token; if it ever does, the server sends it back to /desk/. */
  var me = document.currentScript;
  var IDLE_RELOAD = Math.max(60, parseInt((me && me.dataset.reloadSeconds) || "1200", 10)) * 1000;
  setTimeout(function () { window.location.replace(window.location.pathname); }, IDLE_RELOAD);
  if (!panel || !panel.dataset.statusUrl) { return; }
  var url = panel.dataset.statusUrl;
  var every = Math.max(2, parseInt(panel.dataset.pollSeconds || "3", 10)) * 1000;
  var status = document.getElementById("desk-status");
  var ask = document.getElementById("desk-ask");
  var code = document.getElementById("desk-code");
  var timer = null;
  var failures = 0;

  function show(state, message) {
    panel.classList.remove("is-valid", "is-used", "is-expired");
    panel.classList.add("is-" + state);
    if (status && message) { status.textContent = message; }
    if (state !== "valid") {
      if (code) { code.hidden = true; }   /* a used or expired code must not be scanned again */
      if (ask) { ask.textContent = ""; }
      var next = panel.querySelector(".desk-next-button");
      if (next) { next.focus(); }
    }
  }

  function poll() {
    if (document.hidden) { return schedule(); }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401 || r.status === 403 || r.status === 404) { throw new Error("stop"); }
        if (!r.ok) { throw new Error("retry"); }
        return r.json();
      })
      .then(function (data) {
        failures = 0;
        if (data.state !== "valid") { show(data.state, data.message); return; }
        schedule();
      })
      .catch(function (err) {
        if (err && err.message === "stop") { return; }
        failures += 1;
        schedule();
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, failures > 3 ? every * 4 : every);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) { poll(); } });
  schedule();
}());
