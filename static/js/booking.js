// Public booking pages: the visitor's time zone and clock, the searchable zone list, focus after swaps.
// Everything here is an enhancement: without JavaScript the pages work as plain links and forms.
(function () {
  "use strict";

  function detectZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  function prefers12Hour() {
    try {
      var options = new Intl.DateTimeFormat(undefined, { hour: "numeric" }).resolvedOptions();
      if (options.hourCycle) { return options.hourCycle === "h12" || options.hourCycle === "h11"; }
      return options.hour12 === true;
    } catch (e) { return false; }
  }

  function hasOption(select, value) {
    if (!select || !value) { return false; }
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) { return true; }
    }
    return false;
  }

  // The first page view has no ?tz= / ?hour=: show the calendar in the browser's zone and clock instead,
  // and put them into the address so that a reload or a shared link keeps them.
  function applyBrowserPreferences() {
    var step = document.querySelector("#step[data-detect-url]");
    if (!step || !window.htmx) { return; }
    var url = new URL(step.getAttribute("data-detect-url"), window.location.href);
    step.removeAttribute("data-detect-url");
    var changed = false;
    if (step.getAttribute("data-tz-given") !== "1") {
      var zone = detectZone();
      if (zone && zone !== step.getAttribute("data-tz") && hasOption(step.querySelector("#tz-select"), zone)) {
        url.searchParams.set("tz", zone);
        changed = true;
      }
    }
    if (step.getAttribute("data-hour-given") !== "1") {
      var hour = prefers12Hour() ? "12" : "24";
      if (hour !== step.getAttribute("data-hour")) { url.searchParams.set("hour", hour); changed = true; }
    }
    if (!changed) { return; }
    var target = url.pathname + url.search;
    quietSwap = true;   // not the visitor's doing: leave the focus alone
    window.htmx.ajax("GET", target, { target: "#step", swap: "outerHTML" }).then(function () {
      window.history.replaceState(window.history.state, "", target);
    });
  }

  // Enter in the zone search picks the first zone that matches and applies it.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("input[data-tz-filter]")) { return; }
    var select = document.getElementById(input.getAttribute("data-tz-filter"));
    if (!select) { return; }
    event.preventDefault();
    var first = null;
    for (var i = 0; i < select.options.length; i++) {
      if (!select.options[i].hidden) { first = select.options[i]; break; }
    }
    if (first) {
      select.value = first.value;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // A day chosen in the calendar is marked at once; its slots arrive by htmx.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.detail.elt;
    if (!link.matches || !link.matches("a.day")) { return; }
    document.querySelectorAll("a.day.is-selected").forEach(function (day) {
      day.classList.remove("is-selected");
      day.removeAttribute("aria-current");
    });
    link.classList.add("is-selected");
    link.setAttribute("aria-current", "true");
  });

  // Keep keyboard focus where it was when a part of the page is replaced (same id), or move it to the
  // heading of the new day's slots.
  var focusedId = null;
  var quietSwap = false;
  document.addEventListener("htmx:beforeSwap", function () {
    var active = document.activeElement;
    focusedId = active && active.id ? active.id : null;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (quietSwap) {
      quietSwap = false;
    } else if (focusedId && document.getElementById(focusedId)) {
      document.getElementById(focusedId).focus();
    } else if (target && target.id === "slots") {
      var heading = document.getElementById("slots-title");
      if (heading) { heading.focus({ preventScroll: true }); }
    } else if (target && target.id === "step") {
      var errors = document.getElementById("form-errors");
      var first = errors || document.querySelector("#step .step-title");
      if (first) { first.setAttribute("tabindex", "-1"); first.focus({ preventScroll: !errors }); }
    }
    focusedId = null;
  });

  // One submission at a time.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches(".booking-form, .reschedule-form, .cancel-form")) { return; }
    var button = form.querySelector("button[type=submit]");
    if (!button) { return; }
    if (button.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    button.setAttribute("aria-busy", "true");
    window.setTimeout(function () { button.removeAttribute("aria-busy"); }, 8000);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.querySelector) {
      var button = form.querySelector("button[aria-busy]");
      if (button) { button.removeAttribute("aria-busy"); }
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", applyBrowserPreferences);
  } else {
    applyBrowserPreferences();
  }
})();
