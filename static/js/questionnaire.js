/* Pingyi citizen pages, optional improvements (every page works without this file):
   questionnaire — answers kept in sessionStorage against a reload (with the submission id, so a
   retry of a lost submission is stored once), progress, required check before sending, character
   count, no double tap, questions shown and hidden in place by their display conditions (and ?js=1 on the
   form's action, which the server answers with the thank-you page itself); unit chooser — name filter,
   number chosen, "choose one"; thank-you page — drafts forgotten, its own address put in the address bar.
   Texts come from data-* attributes, translated by the server. */
(function () {
  "use strict";
  var DRAFT = "pingyi:draft:", KEEP = { csrf_token: 1, submission_id: 1, started: 1, u: 1 };
  function fmt(t, v) { return String(t || "").replace(/\{(\w+)\}/g, function (_, k) { return v[k]; }); }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function isBox(el) { return el.type === "radio" || el.type === "checkbox"; }
  function has(el) { return isBox(el) ? el.checked : el.value.trim() !== ""; }
  function make(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text) { el.textContent = text; }
    return el;
  }
  function store() {
    try { var s = window.sessionStorage; s.setItem(DRAFT, "1"); s.removeItem(DRAFT); return s; } catch (e) { return null; }
  }
  function answered(fs) {
    var els = fs.querySelectorAll("input, textarea");
    for (var i = 0; i < els.length; i++) {
      if (has(els[i]) && !els[i].closest(".comment-kind")) { return true; } /* a kind alone is no comment */
    }
    return false;
  }
  function markError(fs, id, msg) {
    if (!fs.querySelector(".error-msg")) {
      var p = make("p", "error-msg", msg), after = fs.querySelector(".help") || fs.querySelector("legend");
      p.id = id;
      after.parentNode.insertBefore(p, after.nextSibling);
      fs.setAttribute("aria-describedby", ((fs.getAttribute("aria-describedby") || "") + " " + id).trim());
    }
    fs.classList.add("has-error");
  }
  function clearError(fs) {
    var msg = fs.querySelector(".error-msg"), ids = (fs.getAttribute("aria-describedby") || "").split(" ");
    fs.classList.remove("has-error");
    if (msg) { msg.parentNode.removeChild(msg); }
    ids = ids.filter(function (id) { return id && id.indexOf("e-") !== 0; });
    if (ids.length) { fs.setAttribute("aria-describedby", ids.join(" ")); } else { fs.removeAttribute("aria-describedby"); }
  }

  function questionnaire(form) {
    var d = form.dataset, s = store(), key = DRAFT + (d.draft || location.pathname);
    var button = form.querySelector("button[type=submit]");
    var label = button.textContent, sending = false, timer = null;
    var sid = form.elements.submission_id, started = form.elements.started;
    var bar = make("div", "progress"), text = make("span"), meter = make("progress");
    meter.setAttribute("aria-hidden", "true");
    bar.appendChild(text);
    bar.appendChild(meter);
    form.insertBefore(bar, form.firstChild);
    form.action += "?js=1"; /* shown in place, no second step; answered with the thank-you page itself */

    function progress() {
      var done = 0, shown = form.querySelectorAll("fieldset.q:enabled"); /* a hidden question is disabled */
      each(shown, function (fs) { if (answered(fs)) { done += 1; } });
      meter.max = shown.length;
      meter.value = done;
      text.textContent = fmt(d.msgProgress, { done: done, total: shown.length });
    }
    function holds(c) { /* "op value field field…": any of the fields */
      c = c.split(" ");
      return c.slice(2).some(function (name) {
        var got = [];
        each(form.querySelectorAll('[name="' + name + '"]:checked:enabled'), function (el) { got.push(el.value); });
        return c[0] === "le" ? got[0] <= +c[1] : c[0] === "ge" ? got[0] >= +c[1]
          : got.length > 0 && (got.indexOf(c[1]) >= 0) === (c[0] === "chosen");
      });
    }
    function conditions() { /* a shown question comes in place with its legend; chains settle in a few rounds */
      for (var i = 0; i < 9; i++) {
        each(form.querySelectorAll("[data-if]"), function (fs) { fs.hidden = fs.disabled = !fs.dataset.if.split(",").some(holds); });
      }
    }
    function save() {
      var fields = {};
      each(form.elements, function (el) {
        if (el.name && !KEEP[el.name] && has(el)) { (fields[el.name] = fields[el.name] || []).push(el.value); }
      });
      try { s.setItem(key, JSON.stringify({ at: Date.now(), fields: fields, sid: sid.value, started: started.value })); }
      catch (e) { /* full or private mode: the page still works */ }
    }
    function restore() {
      var draft, restored = false;
      try { draft = JSON.parse(s.getItem(key)); } catch (e) { return false; }
      if (!draft || !draft.fields || Date.now() - draft.at > 864e5) { return false; }
      Object.keys(draft.fields).forEach(function (name) {
        var els = form.querySelectorAll('[name="' + name.replace(/[^\w-]/g, "") + '"]'), given = false;
        each(els, function (el) { given = given || has(el); });
        if (!els.length || given) { return; } /* what the server rendered wins */
        each(els, function (el) {
          if (isBox(el)) { el.checked = draft.fields[name].indexOf(el.value) >= 0; } else { el.value = draft.fields[name][0]; }
        });
        restored = true;
      });
      if (restored && draft.sid) { sid.value = draft.sid; started.value = draft.started || started.value; }
      return restored;
    }
    function count(area) {
      var out = document.getElementById("c-" + area.name), left;
      if (!out) { return; }
      left = Number(out.dataset.limit) - area.value.length;
      out.textContent = fmt(d.msgCount, { n: Math.max(0, left) });
      out.classList.toggle("low", left <= 20);
    }
    function release() { sending = false; button.removeAttribute("aria-disabled"); button.textContent = label; }
    function summary(missing) {
      var old = document.getElementById("error-summary"), box = make("div", "error-summary"), ul = make("ul");
      if (old) { old.parentNode.removeChild(old); }
      box.id = "error-summary";
      box.setAttribute("role", "alert");
      box.setAttribute("tabindex", "-1");
      box.appendChild(make("h2", "", fmt(d.msgSummary, { n: missing.length })));
      missing.forEach(function (fs) {
        var a = make("a", "", fmt(d.msgMissing, { n: fs.querySelector(".qno").textContent })), li = make("li");
        markError(fs, "e-" + fs.id.slice(2), d.msgRequired);
        a.href = "#" + fs.querySelector("input, textarea").id;
        li.appendChild(a);
        ul.appendChild(li);
      });
      box.appendChild(ul);
      form.parentNode.insertBefore(box, form);
      box.focus();
    }

    if (s && restore()) {
      var note = make("p", "notice", d.msgRestored);
      note.setAttribute("role", "status");
      form.parentNode.insertBefore(note, form);
    }
    each(form.querySelectorAll("textarea"), count);
    conditions();
    progress();
    form.addEventListener("change", function (ev) {
      var fs = ev.target.closest("fieldset.q");
      conditions();
      if (fs && fs.classList.contains("has-error") && answered(fs)) { clearError(fs); }
      progress();
      if (s) { save(); }
    });
    form.addEventListener("input", function (ev) {
      if (ev.target.tagName === "TEXTAREA") { count(ev.target); }
      clearTimeout(timer);
      timer = setTimeout(function () { progress(); if (s) { save(); } }, 300);
    });
    form.addEventListener("submit", function (ev) {
      var missing = [];
      if (sending) { ev.preventDefault(); return; } /* a second tap: the first is on its way */
      each(form.querySelectorAll("fieldset.q[data-required]:enabled"), function (fs) { if (!answered(fs)) { missing.push(fs); } });
      if (missing.length) { ev.preventDefault(); summary(missing); return; }
      if (s) { save(); }
      sending = true;
      button.setAttribute("aria-disabled", "true");
      button.textContent = button.dataset.busy || label;
      setTimeout(release, 20000); /* a stalled network: let them tap again, the server stores it once */
    });
    window.addEventListener("pageshow", function (ev) { if (ev.persisted) { release(); } });
    window.addEventListener("pagehide", function () { if (s && !sending) { save(); } });
    var shown = document.getElementById("error-summary");
    if (shown) { shown.focus(); }
  }

  function chooser(form) {
    var d = form.dataset, fs = form.querySelector("fieldset.q"), boxes = form.querySelectorAll('input[name="u"]');
    var groups = form.querySelectorAll(".unit-group"), button = form.querySelector("button[type=submit]");
    var status = make("p", "chosen");
    status.setAttribute("aria-live", "polite");
    button.parentNode.insertBefore(status, button);
    function chosen() {
      var n = 0;
      each(boxes, function (b) { if (b.checked) { n += 1; } });
      status.textContent = n ? fmt(d.msgChosen, { n: n }) : "";
      return n;
    }
    if (boxes.length > 8) {
      var wrap = make("div", "filter"), lab = make("label", "", d.msgFilter), input = make("input"), none = make("p", "meta");
      lab.htmlFor = input.id = "unit-filter";
      input.type = "search";
      input.autocomplete = "off";
      none.hidden = true;
      wrap.appendChild(lab);
      wrap.appendChild(input);
      wrap.appendChild(none);
      groups[0].parentNode.insertBefore(wrap, groups[0]);
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase(), shown = 0;
        each(groups, function (g) {
          var visible = 0;
          each(g.querySelectorAll("label.opt"), function (l) {
            var match = !q || l.textContent.toLowerCase().indexOf(q) >= 0 || l.querySelector("input").checked;
            l.hidden = !match;
            visible += match ? 1 : 0;
          });
          g.hidden = !visible;
          shown += visible;
        });
        none.hidden = shown > 0;
        none.textContent = fmt(d.msgNone, { q: input.value.trim() });
      });
      input.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { ev.preventDefault(); } });
    }
    form.addEventListener("change", function () { if (chosen()) { clearError(fs); } });
    form.addEventListener("submit", function (ev) {
      if (chosen()) { return; }
      ev.preventDefault();
      markError(fs, "e-units", d.msgRequired);
      fs.querySelector(".error-msg").setAttribute("role", "alert");
      if (boxes[0]) { boxes[0].focus(); }
    });
    chosen();
  }

  function start() {
    var s = store(), i, k, done = document.querySelector("[data-clear-drafts]");
    each(document.querySelectorAll("form.questionnaire"), questionnaire);
    each(document.querySelectorAll("form.chooser"), chooser);
    if (done && s) {
      for (i = s.length - 1; i >= 0; i--) { k = s.key(i); if (k && k.indexOf(DRAFT) === 0) { s.removeItem(k); } }
    }
    /* the thank-you page answering a submission: its own address, so that a reload does not send it again */
    if (done && done.dataset.url && location.pathname !== done.dataset.url && window.history.replaceState) {
      try { window.history.replaceState(null, "", done.dataset.url); } catch (e) { /* the page still works */ }
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
