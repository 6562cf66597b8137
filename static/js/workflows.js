// Workflows editor: show only the parts of the form that apply, and put a clicked variable where the host types.
// Everything works without this file (all parts shown); no inline scripts (the CSP forbids them).
(function () {
  "use strict";

  document.documentElement.classList.add("js-workflows");

  function show(part, visible) {
    if (visible) { part.removeAttribute("data-inactive"); } else { part.setAttribute("data-inactive", ""); }
  }

  function syncTrigger(select) {
    var form = select.closest("form");
    var timed = select.value === "before_meeting" || select.value === "after_meeting";
    if (form) { form.querySelectorAll("[data-wf-timed]").forEach(function (part) { show(part, timed); }); }
  }

  function syncOffset(select) {
    var form = select.closest("form");
    if (form) {
      form.querySelectorAll("[data-wf-offset-custom]").forEach(function (part) { show(part, select.value === "custom"); });
    }
  }

  function syncEventTypes(form) {
    var chosen = form.querySelector("input[data-wf-event-types][value=chosen]");
    form.querySelectorAll("[data-wf-chosen]").forEach(function (part) { show(part, !!(chosen && chosen.checked)); });
  }

  function syncRecipient(select) {
    var row = select.closest(".wf-action");
    if (row) {
      // a part names the recipients it belongs to, separated by spaces ("host custom")
      row.querySelectorAll("[data-wf-recipient-part]").forEach(function (part) {
        show(part, part.getAttribute("data-wf-recipient-part").split(" ").indexOf(select.value) !== -1);
      });
    }
  }

  function syncAll(root) {
    root.querySelectorAll("select[data-wf-trigger]").forEach(syncTrigger);
    root.querySelectorAll("select[data-wf-offset]").forEach(syncOffset);
    root.querySelectorAll("select[data-wf-recipient]").forEach(syncRecipient);
    root.querySelectorAll("form.wf-form").forEach(syncEventTypes);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.matches) { return; }
    if (target.matches("select[data-wf-trigger]")) { syncTrigger(target); }
    if (target.matches("select[data-wf-offset]")) { syncOffset(target); }
    if (target.matches("select[data-wf-recipient]")) { syncRecipient(target); }
    if (target.matches("input[data-wf-event-types]") && target.form) { syncEventTypes(target.form); }
  });

  // A variable clicked goes into the subject or message last typed in, at the cursor; else it is copied (app.js).
  var lastField = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-wf-template-field]")) { lastField = event.target; }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-wf-insert]");
    if (!button || !lastField || !document.body.contains(lastField)) { return; }
    event.preventDefault();
    event.stopPropagation();
    var text = button.getAttribute("data-wf-insert");
    var start = lastField.selectionStart, end = lastField.selectionEnd;
    if (typeof start !== "number") { start = end = lastField.value.length; }
    lastField.value = lastField.value.slice(0, start) + text + lastField.value.slice(end);
    lastField.focus();
    lastField.setSelectionRange(start + text.length, start + text.length);
  }, true);

  document.addEventListener("htmx:afterSettle", function () { syncAll(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
  } else {
    syncAll(document);
  }
})();
