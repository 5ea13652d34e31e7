/* Setup pages: small enhancements only; every page works without this file.
   - buttons with data-confirm ask before a destructive POST;
   - an upload form with data-max-bytes refuses a file above the limit before sending it;
   - a table with data-live-url refreshes its response counts every 20 seconds. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  document.querySelectorAll("form[data-max-bytes]").forEach(function (form) {
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10);
    var input = form.querySelector("input[type=file]");
    var note = form.querySelector("#file-js-error");
    function tooBig() {
      var file = input && input.files && input.files[0];
      return Boolean(file && limit && file.size > limit);
    }
    function show() {
      if (!note) { return; }
      note.hidden = !tooBig();
      note.textContent = tooBig() ? form.getAttribute("data-msg-too-big") : "";
    }
    if (input) { input.addEventListener("change", show); }
    form.addEventListener("submit", function (event) {
      if (tooBig()) {
        event.preventDefault();
        show();
        input.focus();
      }
    });
  });

  var table = document.querySelector("table[data-live-url]");
  if (table && window.fetch) {
    var url = table.getAttribute("data-live-url");
    var totalText = table.getAttribute("data-live-total-text");
    var totalNode = document.querySelector("[data-live-total]");
    var refresh = function () {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (reply) { return reply.ok ? reply.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          Object.keys(data.units).forEach(function (id) {
            var count = table.querySelector('[data-count-for="' + id + '"]');
            var flagged = table.querySelector('[data-flagged-for="' + id + '"]');
            if (count) { count.textContent = String(data.units[id].n); }
            if (flagged) { flagged.textContent = String(data.units[id].flagged); }
            var last = table.querySelector('[data-last-for="' + id + '"]');
            if (last && data.units[id].last) { last.textContent = data.units[id].last; }
          });
          if (totalNode && totalText) { totalNode.textContent = totalText.replace("{n}", String(data.total)); }
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    };
    window.setInterval(function () {
      if (!document.hidden) { refresh(); }
    }, 20000);
  }
})();
