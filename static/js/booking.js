// Public booking pages: the visitor's time zone and clock, the time-zone picker (its whole list is fetched when
// first used), the chosen day and month kept across zone and clock changes, the loading and error states of a
// day's times, arrow keys in the calendar, typed details kept while going back and forth, focus after swaps.
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

  // The first page view has no ?tz= / ?hour=: show the calendar in the browser's zone and clock instead,
  // and put them into the address so that a reload or a shared link keeps them. (The server checks the zone,
  // and shows a legacy name such as Asia/Calcutta as its listed zone.)
  function applyBrowserPreferences() {
    var step = document.querySelector("#step[data-detect-url]");
    if (!step || !window.htmx) { return; }
    var url = new URL(step.getAttribute("data-detect-url"), window.location.href);
    step.removeAttribute("data-detect-url");
    var changed = false;
    if (step.getAttribute("data-tz-given") !== "1") {
      var zone = detectZone();
      if (zone && zone !== step.getAttribute("data-tz") && /^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
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

  // --- the time-zone picker ----------------------------------------------------------------------------
  // The page holds only the selected zone's region; the whole list (GET /timezones.html, cached) replaces it
  // the first time the visitor points at, focuses or searches the picker.
  var zoneLists = {};
  function loadZones(select) {
    var url = select && select.getAttribute("data-tz-options");
    if (!url || select.getAttribute("data-tz-loaded") === "true") { return Promise.resolve(); }
    if (select.zonesLoading) { return select.zonesLoading; }
    select.setAttribute("data-tz-loaded", "loading");
    if (!zoneLists[url]) {
      zoneLists[url] = fetch(url, { credentials: "omit" }).then(function (response) {
        if (!response.ok) { throw new Error("time zones: " + response.status); }
        return response.text();
      });
    }
    select.zonesLoading = zoneLists[url].then(function (html) {
      var value = select.value;
      select.innerHTML = html;
      select.value = value;
      select.setAttribute("data-tz-loaded", "true");
      var input = document.querySelector('input[data-tz-filter="' + select.id + '"]');
      if (input && input.value) { filterZones(input); }
      select.zonesLoading = null;
    }, function () {
      delete zoneLists[url];
      select.removeAttribute("data-tz-loaded");
      select.zonesLoading = null;
    });
    return select.zonesLoading;
  }

  function pickerSelect(target) {
    var picker = target && target.closest ? target.closest(".tz-picker") : null;
    return picker ? picker.querySelector("select[data-tz-options]") : null;
  }
  ["pointerover", "pointerdown", "focusin"].forEach(function (type) {
    document.addEventListener(type, function (event) { loadZones(pickerSelect(event.target)); });
  });

  // The search matches the zone id, the city and country and the zone's abbreviations (data-k), and hides
  // regions without a match.
  function filterZones(input) {
    var select = document.getElementById(input.getAttribute("data-tz-filter"));
    if (!select) { return; }
    var words = input.value.trim().toLowerCase().replace(/_/g, " ").split(/\s+/).filter(Boolean);
    var first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var text = (option.getAttribute("data-k") || option.value.toLowerCase()) + " " + option.text.toLowerCase();
      var match = !option.value || words.every(function (word) { return text.indexOf(word) !== -1; });
      option.hidden = !match;
      if (match && option.value && !first) { first = option; }
    });
    Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
      group.hidden = !group.querySelector("option:not([hidden])");
    });
    return first;
  }
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-tz-filter]")) { return; }
    var select = document.getElementById(input.getAttribute("data-tz-filter"));
    loadZones(select).then(function () { filterZones(input); });
  });

  // Enter in the zone search picks the first zone that matches and applies it.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("input[data-tz-filter]")) { return; }
    var select = document.getElementById(input.getAttribute("data-tz-filter"));
    if (!select) { return; }
    event.preventDefault();
    loadZones(select).then(function () {
      var first = filterZones(input);
      if (first) {
        select.value = first.value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });

  // --- the chosen day and month ride along with zone and clock changes -----------------------------------
  function shownMonth() {
    var title = document.getElementById("cal-title");
    return title ? title.getAttribute("data-month") || "" : "";
  }
  function shownDay() {
    var slots = document.getElementById("slots");
    return slots ? slots.getAttribute("data-date") || "" : "";
  }
  function syncPickerState() {
    var month = shownMonth(), day = shownDay();
    document.querySelectorAll("input[data-picker-month]").forEach(function (input) {
      input.value = month; input.disabled = !month;
    });
    document.querySelectorAll("input[data-picker-date]").forEach(function (input) {
      input.value = day; input.disabled = !day;
    });
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.closest || !elt.closest(".hour-toggle")) { return; }
    var url = new URL(event.detail.path, window.location.href);
    var month = shownMonth(), day = shownDay();
    if (month) { url.searchParams.set("month", month); } else { url.searchParams.delete("month"); }
    if (day) { url.searchParams.set("date", day); } else { url.searchParams.delete("date"); }
    event.detail.path = url.pathname + url.search;
  });

  // --- a day's times: loading and error states ------------------------------------------------------------
  function dayRequest(event) {
    var link = event.detail.elt;
    return link && link.matches && link.matches("a.day") ? link : null;
  }

  function setLoading(busy) {
    var slots = document.getElementById("slots");
    if (!slots) { return; }
    var list = slots.querySelector(".slot-list");
    if (busy) {
      slots.setAttribute("aria-busy", "true");
      slots.classList.add("is-loading");
      if (list) { list.inert = true; list.setAttribute("aria-disabled", "true"); }
      var note = slots.querySelector(".slots-status");
      if (!note) {
        note = document.createElement("p");
        note.className = "slots-status muted";
        note.setAttribute("role", "status");
        slots.insertBefore(note, slots.firstChild);
      }
      note.textContent = "Loading times…";
    } else {
      slots.removeAttribute("aria-busy");
      slots.classList.remove("is-loading");
      if (list) { list.inert = false; list.removeAttribute("aria-disabled"); }
      var status = slots.querySelector(".slots-status");
      if (status) { status.parentNode.removeChild(status); }
    }
  }

  function showDayError(link) {
    setLoading(false);
    var slots = document.getElementById("slots");
    if (!slots) { return; }
    var old = slots.querySelector(".slots-error");
    if (old) { old.parentNode.removeChild(old); }
    var list = slots.querySelector(".slot-list");
    if (list) { list.inert = true; list.setAttribute("aria-disabled", "true"); list.hidden = true; }
    var box = document.createElement("div");
    box.className = "slots-error flash flash-error";
    box.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = "The times for this day could not be loaded.";
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-small";
    retry.textContent = "Retry";
    retry.addEventListener("click", function () {
      if (link && link.isConnected) { link.click(); } else { window.location.reload(); }
    });
    box.appendChild(text);
    box.appendChild(retry);
    slots.insertBefore(box, slots.firstChild);
    retry.focus({ preventScroll: true });
  }

  // A day chosen in the calendar is marked at once; the previous day's times are disabled until its own
  // times arrive by htmx.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = dayRequest(event);
    if (!link) { return; }
    document.querySelectorAll("a.day.is-selected").forEach(function (day) {
      day.classList.remove("is-selected");
      day.removeAttribute("aria-current");
    });
    link.classList.add("is-selected");
    link.setAttribute("aria-current", "true");
    rovingFocus(link);
    setLoading(true);
  });
  document.addEventListener("htmx:responseError", function (event) {
    var link = dayRequest(event);
    if (link) { showDayError(link); }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var link = dayRequest(event);
    if (link) { showDayError(link); }
  });

  // --- arrow keys in the calendar: one tab stop, ←/→ a day, ↑/↓ a week, Home/End the month's first/last ----
  function dayLinks() { return Array.prototype.slice.call(document.querySelectorAll("#calendar a.day")); }
  function rovingFocus(current) {
    var links = dayLinks();
    if (!links.length) { return; }
    current = current || document.querySelector("#calendar a.day.is-selected") || links[0];
    links.forEach(function (link) { link.tabIndex = link === current ? 0 : -1; });
  }
  function addDays(iso, n) {
    var d = new Date(iso + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  document.addEventListener("keydown", function (event) {
    var link = event.target;
    if (!link.matches || !link.matches("#calendar a.day") || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var links = dayLinks();
    var target = null;
    var step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 }[event.key];
    if (step) {
      // the day `step` away, or if it has no times the nearest one beyond it in the same direction
      var dates = links.map(function (l) { return l.getAttribute("data-date"); });
      var wanted = addDays(link.getAttribute("data-date"), step);
      var candidates = links.filter(function (l, i) { return step > 0 ? dates[i] >= wanted : dates[i] <= wanted; });
      target = step > 0 ? candidates[0] : candidates[candidates.length - 1];
    } else if (event.key === "Home") {
      target = links[0];
    } else if (event.key === "End") {
      target = links[links.length - 1];
    } else {
      return;
    }
    event.preventDefault();
    if (target) { rovingFocus(target); target.focus(); }
  });

  // --- typed details survive "Back to times" and "time no longer available" --------------------------------
  var FIELDS = "input[name]:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea[name], select[name]";
  function detailsKey() { return "linktime:details:" + window.location.pathname; }
  function saveDetails(form) {
    var values = {};
    form.querySelectorAll(FIELDS).forEach(function (field) { values[field.name] = field.value; });
    form.querySelectorAll("input[type=checkbox][name]").forEach(function (box) {
      values["checked:" + box.name + "=" + box.value] = box.checked;
    });
    try { window.sessionStorage.setItem(detailsKey(), JSON.stringify(values)); } catch (e) { /* storage off */ }
  }
  function restoreDetails(root) {
    var form = root.querySelector ? root.querySelector(".booking-form") : null;
    if (!form) { return; }
    var values;
    try { values = JSON.parse(window.sessionStorage.getItem(detailsKey()) || "null"); } catch (e) { values = null; }
    if (!values) { return; }
    form.querySelectorAll(FIELDS).forEach(function (field) {
      if (field.tagName === "SELECT" || field.value || values[field.name] === undefined) { return; }
      field.value = values[field.name];
    });
    form.querySelectorAll("input[type=checkbox][name]").forEach(function (box) {
      var saved = values["checked:" + box.name + "=" + box.value];
      if (saved !== undefined && !form.querySelector(".has-error")) { box.checked = saved; }
    });
  }
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest(".booking-form");
    if (form) { saveDetails(form); }
  });
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest(".booking-form");
    if (form) { saveDetails(form); }
  });
  function forgetDetailsWhenBooked() {
    if (document.querySelector("[data-linktime-booked]")) {
      try {
        Object.keys(window.sessionStorage).forEach(function (key) {
          if (key.indexOf("linktime:details:") === 0) { window.sessionStorage.removeItem(key); }
        });
      } catch (e) { /* storage off */ }
    }
  }

  // --- more times than the column shows: say so ---------------------------------------------------------
  function markOverflow() {
    document.querySelectorAll(".slot-list").forEach(function (list) {
      var more = list.scrollHeight - list.clientHeight > 4;
      var atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
      list.classList.toggle("has-more", more && !atEnd);
      var hint = list.parentNode.querySelector(".slots-more");
      if (hint) { hint.hidden = !more || atEnd; }
    });
  }
  document.addEventListener("scroll", function (event) {
    if (event.target.classList && event.target.classList.contains("slot-list")) { markOverflow(); }
  }, true);
  window.addEventListener("resize", markOverflow);

  // --- after a swap ----------------------------------------------------------------------------------------
  // Keep keyboard focus where it was when a part of the page is replaced (same id), or move it to the
  // heading of the new day's slots (scrolled into view when it is below the fold, as on a phone).
  var focusedId = null;
  var quietSwap = false;
  document.addEventListener("htmx:beforeSwap", function () {
    var active = document.activeElement;
    focusedId = active && active.id ? active.id : null;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    syncPickerState();
    rovingFocus();
    markOverflow();
    restoreDetails(document);
    if (quietSwap) {
      quietSwap = false;
    } else if (focusedId && document.getElementById(focusedId)) {
      document.getElementById(focusedId).focus();
    } else if (target && target.id === "slots") {
      var heading = document.getElementById("slots-title");
      if (heading) {
        heading.focus({ preventScroll: true });
        var box = heading.getBoundingClientRect();
        if (box.top < 0 || box.bottom > window.innerHeight) { heading.scrollIntoView({ block: "start" }); }
        document.dispatchEvent(new CustomEvent("linktime:slots-shown", { detail: { element: heading } }));
      }
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

  function start() {
    syncPickerState();
    rovingFocus();
    markOverflow();
    restoreDetails(document);
    forgetDetailsWhenBooked();
    applyBrowserPreferences();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
