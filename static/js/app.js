// LinkTime dashboard behaviour. No inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";

  // Every htmx request carries the CSRF token from the page's meta tag.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
  });

  // Forms answer 422 (or 429, too many tries) with inline errors: let htmx swap them in.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 422 || status === 409 || status === 400 || status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function detectTimezones(root) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    root.querySelectorAll("select[data-detect-timezone]").forEach(function (select) {
      if (select.value || !zone) { return; }
      var option = select.querySelector('option[value="' + zone.replace(/"/g, "") + '"]');
      if (option) { select.value = zone; }
    });
  }

  // A new account's clock: the browser's hour cycle fills the sign-up form's hidden field (the server falls
  // back to the language and the zone's country when it stays empty).
  function detectHourCycle(root) {
    root.querySelectorAll("input[data-detect-hour-cycle]").forEach(function (input) {
      if (input.value) { return; }
      try {
        var o = new Intl.DateTimeFormat(undefined, {hour: "numeric"}).resolvedOptions();
        input.value = (o.hourCycle ? /h1[12]/.test(o.hourCycle) : o.hour12) ? "12" : "24";
      } catch (e) { input.value = ""; }
    });
  }

  // The zone filter: every typed word must appear in the option's keywords (city, country, id, abbreviations)
  // or its text; a region with no match left is hidden with its options.
  function filterTimezones(input) {
    var select = document.getElementById(input.getAttribute("data-tz-filter"));
    if (!select) { return; }
    var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var firstMatch = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var haystack = (option.getAttribute("data-k") || option.value.toLowerCase()) + " " +
        option.text.toLowerCase() + " " + option.value.toLowerCase().replace(/_/g, " ");
      var match = !option.value || words.every(function (word) { return haystack.indexOf(word) !== -1; });
      option.hidden = !match;
      if (match && option.value && !firstMatch) { firstMatch = option; }
    });
    Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
      group.hidden = !Array.prototype.some.call(group.children, function (option) { return !option.hidden; });
    });
    if (words.length && firstMatch && select.selectedOptions.length && select.selectedOptions[0].hidden) {
      select.value = firstMatch.value;
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-tz-filter]")) { filterTimezones(event.target); }
  });

  // Buttons (or forms) with data-confirm ask in an in-page dialog before submitting; data-confirm-yes and
  // data-confirm-no name its two buttons. The form is sent again, with the same submitter, once confirmed.
  var confirmed = null;

  function confirmDialog() {
    var dialog = document.getElementById("confirm-dialog");
    if (dialog) { return dialog; }
    dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-text");
    dialog.innerHTML = '<form method="dialog"><p id="confirm-dialog-text"></p><div class="confirm-actions">' +
      '<button type="submit" value="no" class="btn" data-answer="no"></button>' +
      '<button type="submit" value="yes" class="btn btn-danger-solid" data-answer="yes"></button></div></form>';
    document.body.appendChild(dialog);
    return dialog;
  }

  function askFirst(form, submitter, message) {
    var source = submitter && submitter.hasAttribute("data-confirm") ? submitter : form;
    var dialog = confirmDialog();
    dialog.querySelector("#confirm-dialog-text").textContent = message;
    dialog.querySelector('[data-answer="yes"]').textContent = source.getAttribute("data-confirm-yes") || "Yes";
    dialog.querySelector('[data-answer="no"]').textContent = source.getAttribute("data-confirm-no") || "No";
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "yes") {
        confirmed = form;
        if (submitter && form.requestSubmit) { form.requestSubmit(submitter); } else if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      } else if (submitter) {
        submitter.focus();
      }
    };
    dialog.showModal();
    dialog.querySelector('[data-answer="no"]').focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target, submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!message || form.id === "confirm-dialog" || form.closest("dialog.confirm-dialog")) { return; }
    if (confirmed === form) { confirmed = null; return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    askFirst(form, submitter, message);
  }, true);

  // The dashboard menu collapses behind a button on narrow screens (the CSS decides when it shows).
  function setupNavToggle() {
    var button = document.getElementById("nav-toggle");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) { return; }
    document.documentElement.classList.add("has-nav-toggle");
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        button.setAttribute("aria-expanded", "false");
        menu.classList.remove("is-open");
        button.focus();
      }
    });
  }

  // Buttons with data-copy copy text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    detectTimezones(document); detectHourCycle(document); setupNavToggle();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    detectTimezones(event.target); detectHourCycle(event.target);
  });
})();
