// Routing form editor: the URL suggested from the name, only the route parts that apply, and rows reordered by
// dragging their handle or with the keyboard (Space/Enter picks up, arrows move, Space/Enter drops, Escape
// cancels; each move announced). The order of the rows in the page is the order posted, so a dropped row is saved
// where it was dropped; after a drop the rows are re-rendered by the server (numbers, Move up/down buttons).
// Everything works without this file (Move up / Move down buttons); no inline scripts (the CSP forbids them).
(function () {
  "use strict";

  document.documentElement.classList.add("js-rf");

  // --- the URL, suggested from the name until edited by hand
  function slugify(text) {
    var plain = text.normalize ? text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "") : text;
    return plain.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100);
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.matches) { return; }
    if (target.matches("input[data-rf-slug]")) {
      if (target.value.trim()) { target.setAttribute("data-edited", "true"); } else { target.removeAttribute("data-edited"); }
    }
    if (target.matches("input[data-rf-name]") && target.form) {
      var slug = target.form.querySelector("input[data-rf-slug]");
      if (slug && !slug.hasAttribute("data-edited")) { slug.value = slugify(target.value); }
    }
  });

  // --- the parts of a route that apply to its kind
  function syncRoute(select) {
    var route = select.closest("[data-rf-route]");
    if (!route) { return; }
    route.querySelectorAll("[data-rf-route-part]").forEach(function (part) {
      if (part.getAttribute("data-rf-route-part") === select.value) { part.removeAttribute("data-inactive"); }
      else { part.setAttribute("data-inactive", ""); }
    });
  }

  function syncOptions(select) {
    var row = select.closest(".rf-field");
    var options = row && row.querySelector("[data-rf-options]");
    if (!options) { return; }
    if (select.value === "select" || select.value === "multiselect") { options.removeAttribute("data-inactive"); }
    else { options.setAttribute("data-inactive", ""); }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.matches) { return; }
    if (target.matches("select[data-rf-route-kind]")) { syncRoute(target); }
    if (target.matches("select[data-rf-type]")) { syncOptions(target); }
  });

  // --- reordering
  var live = null;
  function announce(text) {
    live = live || document.getElementById("rf-live");
    if (!live) { return; }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 30);
  }

  function rowsOf(list) {
    return Array.prototype.filter.call(list.children, function (child) { return child.matches(".rf-row"); });
  }

  function describe(row) {
    var list = row.parentNode;
    var rows = rowsOf(list);
    return (row.getAttribute("data-rf-label") || list.getAttribute("data-rf-list")) + ", position " +
      (rows.indexOf(row) + 1) + " of " + rows.length;
  }

  // The server numbers the rows again and fixes the Move up / Move down buttons; focus stays on the handle.
  function refresh(list) {
    var holder = document.getElementById("rf-rows");
    var form = list.closest("form");
    if (!holder || !form || !window.htmx) { return; }
    window.htmx.ajax("POST", holder.getAttribute("data-rf-refresh-url"), {
      source: form, target: "#rf-rows", swap: "outerHTML", values: {op: "refresh:rows"}
    });
  }

  // Keyboard: the focused handle picks its row up.
  var grabbed = null;     // {row, handle, list, start}
  var moving = false;

  function putAt(row, reference) {
    var handle = row.querySelector("[data-rf-handle]");
    moving = true;
    row.parentNode.insertBefore(row, reference);
    if (handle) { handle.focus(); }
    moving = false;
  }

  function pickUp(handle) {
    var row = handle.closest(".rf-row");
    grabbed = {row: row, handle: handle, list: row.parentNode, start: rowsOf(row.parentNode).indexOf(row)};
    handle.setAttribute("aria-pressed", "true");
    row.classList.add("is-grabbed");
    announce("Picked up " + describe(row) + ". Up and Down arrows move it, Space or Enter drops it, Escape cancels.");
  }

  function letGo(cancel) {
    var g = grabbed;
    grabbed = null;
    if (!g) { return; }
    g.handle.removeAttribute("aria-pressed");
    g.row.classList.remove("is-grabbed");
    var rows = rowsOf(g.list);
    if (cancel) {
      var others = rows.filter(function (r) { return r !== g.row; });
      putAt(g.row, others[g.start] || null);
      announce("Cancelled. " + describe(g.row) + ".");
      return;
    }
    announce("Dropped " + describe(g.row) + ".");
    if (rows.indexOf(g.row) !== g.start) { refresh(g.list); }
  }

  document.addEventListener("keydown", function (event) {
    var handle = event.target.closest && event.target.closest("[data-rf-handle]");
    if (!handle) { return; }
    var key = event.key;
    if (key === " " || key === "Spacebar" || key === "Enter") {
      event.preventDefault();
      if (grabbed && grabbed.handle === handle) { letGo(false); } else { letGo(false); pickUp(handle); }
    } else if ((key === "ArrowUp" || key === "ArrowDown") && grabbed && grabbed.handle === handle) {
      event.preventDefault();
      var row = grabbed.row;
      if (key === "ArrowUp" && row.previousElementSibling) {
        putAt(row, row.previousElementSibling);
      } else if (key === "ArrowDown" && row.nextElementSibling) {
        putAt(row, row.nextElementSibling.nextElementSibling);
      }
      announce("Moved to " + describe(row) + ".");
    } else if (key === "Escape" && grabbed && grabbed.handle === handle) {
      event.preventDefault();
      letGo(true);
    }
  });

  // A click on a handle does nothing; leaving a picked-up handle drops its row where it is.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-rf-handle]")) { event.preventDefault(); }
  });
  document.addEventListener("focusout", function (event) {
    if (!moving && grabbed && event.target === grabbed.handle) { letGo(false); }
  });

  // The mouse (and touch where the browser drags): the HTML5 drag API on the handle, a row dropped on another
  // row of the same list goes after it when it came from above, else before it.
  var dragged = null;

  document.addEventListener("dragstart", function (event) {
    var handle = event.target.closest && event.target.closest("[data-rf-handle]");
    if (!handle) { return; }
    dragged = handle.closest(".rf-row");
    dragged.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    try { event.dataTransfer.setData("text/plain", dragged.getAttribute("data-rf-key")); } catch (e) { /* IE */ }
    try { event.dataTransfer.setDragImage(dragged, 20, 20); } catch (e) { /* older browsers */ }
  });

  function dropTarget(event) {
    var row = event.target.closest && event.target.closest(".rf-row");
    return dragged && row && row !== dragged && row.parentNode === dragged.parentNode ? row : null;
  }

  document.addEventListener("dragover", function (event) {
    var row = dropTarget(event);
    if (!row) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".rf-row.is-drop-target").forEach(function (r) { if (r !== row) { r.classList.remove("is-drop-target"); } });
    row.classList.add("is-drop-target");
  });

  document.addEventListener("drop", function (event) {
    var row = dropTarget(event);
    if (!row) { return; }
    event.preventDefault();
    var list = row.parentNode;
    var rows = rowsOf(list);
    var fromAbove = rows.indexOf(dragged) < rows.indexOf(row);
    list.insertBefore(dragged, fromAbove ? row.nextSibling : row);
    announce("Moved to " + describe(dragged) + ".");
    refresh(list);
  });

  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("is-dragging"); }
    document.querySelectorAll(".rf-row.is-drop-target").forEach(function (r) { r.classList.remove("is-drop-target"); });
    dragged = null;
  });

  function syncAll(root) {
    root.querySelectorAll("select[data-rf-route-kind]").forEach(syncRoute);
    root.querySelectorAll("select[data-rf-type]").forEach(syncOptions);
  }

  document.addEventListener("htmx:afterSettle", function () { syncAll(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
  } else {
    syncAll(document);
  }
})();
