// Event type and availability pages: small progressive enhancements on top of plain forms and htmx.
// No inline scripts or handlers anywhere (the CSP forbids them); everything is delegated from document.
(function () {
  "use strict";

  document.documentElement.classList.add("js-scheduling");

  // --- Slug: suggested from the name until the user edits it by hand.
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.matches) { return; }
    if (target.matches("input[data-slug-input]")) {
      if (target.value.trim()) { target.setAttribute("data-edited", "true"); }
      else { target.removeAttribute("data-edited"); }
    }
  });

  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("[data-suggest-slug]")) { return; }
    var slug = document.querySelector("input[data-slug-input]");
    if (slug && slug.hasAttribute("data-edited")) { event.preventDefault(); }
  });

  // --- Parts of a form that only matter for some choices are hidden while they do not apply.
  function syncQuestion(select) {
    var row = select.closest(".q-row");
    var options = row && row.querySelector("[data-question-options]");
    if (!options) { return; }
    var choice = select.value === "select" || select.value === "multiselect";
    if (choice) { options.removeAttribute("data-inactive"); } else { options.setAttribute("data-inactive", ""); }
  }

  function syncUnavailable(box) {
    var form = box.closest("form");
    var ranges = form && form.querySelector("#override-ranges");
    if (!ranges) { return; }
    if (box.checked) { ranges.setAttribute("data-inactive", ""); } else { ranges.removeAttribute("data-inactive"); }
  }

  function syncRecurrence(select) {
    var form = select.closest("form");
    if (!form) { return; }
    form.querySelectorAll("[data-recurrence-part]").forEach(function (part) {
      var kind = part.getAttribute("data-recurrence-part");
      var show = kind === "weeks" ? select.value === "weeks" : select.value !== "none";
      if (show) { part.removeAttribute("data-inactive"); } else { part.setAttribute("data-inactive", ""); }
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.matches) { return; }
    if (target.matches("select[data-question-type]")) { syncQuestion(target); }
    if (target.matches("input[data-unavailable-toggle]")) { syncUnavailable(target); }
    if (target.matches("select[data-recurrence]")) { syncRecurrence(target); }
  });

  function syncAll(root) {
    root.querySelectorAll("select[data-question-type]").forEach(syncQuestion);
    root.querySelectorAll("input[data-unavailable-toggle]").forEach(syncUnavailable);
    root.querySelectorAll("select[data-recurrence]").forEach(syncRecurrence);
  }

  // --- After an htmx swap removed the focused control, put focus where the trigger asks (Cancel -> Delete).
  document.addEventListener("htmx:afterSettle", function (event) {
    syncAll(document);
    var config = event.detail && event.detail.requestConfig;
    var trigger = config && config.elt;
    var id = trigger && trigger.getAttribute && trigger.getAttribute("data-focus-after");
    if (id) {
      var next = document.getElementById(id);
      if (next) { next.focus(); }
    }
  });

  // --- "Copy to…" menus close with Escape and return focus to their summary.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var open = event.target.closest && event.target.closest("details.copy-menu[open]");
    if (open) {
      open.removeAttribute("open");
      var summary = open.querySelector("summary");
      if (summary) { summary.focus(); }
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
  } else {
    syncAll(document);
  }
})();
