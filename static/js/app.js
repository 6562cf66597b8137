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

  function filterTimezones(input) {
    var select = document.getElementById(input.getAttribute("data-tz-filter"));
    if (!select) { return; }
    var needle = input.value.trim().toLowerCase().replace(/ /g, "_");
    var firstMatch = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var match = !needle || !option.value || option.value.toLowerCase().indexOf(needle) !== -1;
      option.hidden = !match;
      if (match && option.value && !firstMatch) { firstMatch = option; }
    });
    if (needle && firstMatch && select.selectedOptions.length && select.selectedOptions[0].hidden) {
      select.value = firstMatch.value;
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-tz-filter]")) { filterTimezones(event.target); }
  });

  // Buttons with data-confirm ask before submitting.
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);

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

  document.addEventListener("DOMContentLoaded", function () { detectTimezones(document); });
  document.addEventListener("htmx:afterSettle", function (event) { detectTimezones(event.target); });
})();
