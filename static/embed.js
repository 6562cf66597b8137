/*! LinkTime embed: an inline booking widget and a popup button for any website.
 *
 *   <div data-linktime-inline="https://cal.example.com/alice/30-min"></div>
 *   <button type="button" data-linktime-popup="https://cal.example.com/alice/30-min">Book a meeting</button>
 *   <script src="https://cal.example.com/embed.js" async></script>
 *
 * Optional attributes on either element: data-linktime-name, data-linktime-email (pre-fill the form) and
 * data-linktime-hide-header="true".  Script API: LinkTime.inline(element, url, options),
 * LinkTime.popup(url, options), LinkTime.close().
 *
 * When a booking is made the element (or document, for LinkTime.popup) receives a bubbling
 * CustomEvent "linktime:booked" with detail {bookingId, startTime, kind} and, when the event type has a "redirect
 * after booking", redirectUrl (an https URL, with the booking's details as query parameters if the host chose so).
 * This script then sends the whole window (window.top) to redirectUrl, unless a listener calls
 * event.preventDefault() (the event is cancelable) to stay or to navigate by itself:
 *
 *   element.addEventListener("linktime:booked", function (e) {
 *     if (e.detail.redirectUrl) { e.preventDefault(); showThanks(e.detail.redirectUrl); }
 *   });
 *  The frames report their content's
 * height (an inline frame and a popup on a large screen follow it) and where the times of a picked day are (the
 * page scrolls them into view).  Messages are only accepted from
 * the LinkTime site this script was loaded from, and only from the frames this script created.
 */
(function () {
  "use strict";
  if (window.LinkTime && window.LinkTime.version) { window.LinkTime.scan(document); return; }

  var script = document.currentScript || (function () {
    var found = document.querySelectorAll('script[src*="/embed.js"]');
    return found[found.length - 1];
  })();
  if (!script) { return; }
  var ORIGIN = new URL(script.src, window.location.href).origin;
  var frames = [];        // {iframe, kind: "inline"|"popup", owner: element to dispatch events on}
  var popup = null;       // {overlay, frame, trigger, previousOverflow}

  function bookingUrl(raw, options) {
    var url;
    try { url = new URL(raw, ORIGIN); } catch (e) { return null; }
    if (url.origin !== ORIGIN) {
      if (window.console) { console.warn("LinkTime embed: " + raw + " is not on " + ORIGIN); }
      return null;
    }
    url.searchParams.set("embed", "true");
    options = options || {};
    if (options.name) { url.searchParams.set("name", options.name); }
    if (options.email) { url.searchParams.set("email", options.email); }
    if (options.hideHeader) { url.searchParams.set("hideHeader", "true"); }
    return url.toString();
  }

  // an https URL from a frame's message, or null (never javascript: or anything else)
  function httpsUrl(raw) {
    if (typeof raw !== "string" || !raw) { return null; }
    try {
      var url = new URL(raw);
      return url.protocol === "https:" ? url.toString() : null;
    } catch (e) { return null; }
  }

  function optionsOf(element) {
    return {
      name: element.getAttribute("data-linktime-name") || "",
      email: element.getAttribute("data-linktime-email") || "",
      hideHeader: element.getAttribute("data-linktime-hide-header") === "true"
    };
  }

  function makeFrame(src, title) {
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.title = title || "Book a meeting";
    frame.setAttribute("allow", "clipboard-write; microphone");   // microphone: the voice widget (its page allows it)
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.display = "block";
    frame.style.colorScheme = "normal";
    return frame;
  }

  function forget(frame) {
    frames = frames.filter(function (entry) { return entry.iframe !== frame; });
  }

  // --- inline -------------------------------------------------------------------------------------------
  function inline(container, raw, options) {
    var src = bookingUrl(raw, options);
    if (!src || !container) { return null; }
    var frame = makeFrame(src, "Book a meeting");
    frame.style.minWidth = "300px";
    frame.style.height = "700px";
    frame.style.transition = "height .15s ease";
    container.setAttribute("data-linktime-ready", "true");
    container.appendChild(frame);
    frames.push({ iframe: frame, kind: "inline", owner: container });
    return frame;
  }

  // --- popup --------------------------------------------------------------------------------------------
  var small = window.matchMedia ? window.matchMedia("(max-width: 640px)") : { matches: false };

  function layout() {
    if (!popup) { return; }
    var box = popup.box.style;
    if (small.matches) {
      popup.overlay.style.padding = "0";
      box.width = "100vw"; box.height = "100vh"; box.maxWidth = "none"; box.borderRadius = "0";
    } else {
      popup.overlay.style.padding = "2vh 2vw";
      // as tall as the step shown (no empty area under a short one), at most 780px or the window
      box.width = "min(1000px, 96vw)"; box.borderRadius = "12px";
      box.height = popup.contentHeight ? "min(" + popup.contentHeight + "px, 780px, 94vh)" : "min(780px, 94vh)";
    }
  }

  function onKey(event) {
    if (!popup) { return; }
    if (event.key === "Escape") { event.preventDefault(); close(); return; }
    // keep keyboard focus inside the dialog (its close button and the booking frame)
    if (event.key === "Tab" && !popup.box.contains(document.activeElement)) {
      event.preventDefault();
      popup.closeButton.focus();
    }
  }

  function open(raw, options, trigger) {
    var src = bookingUrl(raw, options);
    if (!src) { return null; }
    close();
    var overlay = document.createElement("div");
    overlay.setAttribute("data-linktime-overlay", "");
    var s = overlay.style;
    s.position = "fixed"; s.inset = "0"; s.zIndex = "2147483000"; s.background = "rgba(17, 24, 39, .6)";
    s.display = "flex"; s.alignItems = "center"; s.justifyContent = "center"; s.boxSizing = "border-box";

    var box = document.createElement("div");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", "Book a meeting");
    box.style.position = "relative"; box.style.background = "#fff"; box.style.overflow = "hidden";
    box.style.boxShadow = "0 20px 50px rgba(0, 0, 0, .35)";

    var closeButton = document.createElement("button");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", "Close");
    closeButton.setAttribute("data-linktime-close", "");
    closeButton.textContent = "\u00d7";
    var c = closeButton.style;
    c.position = "absolute"; c.top = "6px"; c.right = "8px"; c.zIndex = "1"; c.width = "40px"; c.height = "40px";
    c.border = "0"; c.borderRadius = "50%"; c.background = "rgba(255, 255, 255, .9)"; c.color = "#111827";
    c.fontSize = "26px"; c.lineHeight = "1"; c.cursor = "pointer";
    closeButton.addEventListener("click", close);

    var frame = makeFrame(src, "Book a meeting");
    frame.style.height = "100%";

    box.appendChild(closeButton);
    box.appendChild(frame);
    overlay.appendChild(box);
    overlay.addEventListener("click", function (event) { if (event.target === overlay) { close(); } });

    popup = { overlay: overlay, box: box, frame: frame, closeButton: closeButton, trigger: trigger || null,
              previousOverflow: document.documentElement.style.overflow };
    frames.push({ iframe: frame, kind: "popup", owner: trigger || document });
    document.documentElement.style.overflow = "hidden";
    document.body.appendChild(overlay);
    layout();
    document.addEventListener("keydown", onKey, true);
    frame.focus();
    return frame;
  }

  function close() {
    if (!popup) { return; }
    var current = popup;
    popup = null;
    document.removeEventListener("keydown", onKey, true);
    forget(current.frame);
    if (current.overlay.parentNode) { current.overlay.parentNode.removeChild(current.overlay); }
    document.documentElement.style.overflow = current.previousOverflow;
    if (current.trigger && current.trigger.focus) { current.trigger.focus(); }
  }

  if (small.addEventListener) { small.addEventListener("change", layout); }

  // --- messages from our frames -------------------------------------------------------------------------
  window.addEventListener("message", function (event) {
    if (event.origin !== ORIGIN) { return; }
    var entry = null;
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].iframe.contentWindow === event.source) { entry = frames[i]; break; }
    }
    var data = event.data;
    if (!entry || !data || typeof data !== "object" || typeof data.type !== "string") { return; }
    if (data.type === "linktime:resize") {
      var height = Number(data.height);
      if (!(height > 0 && height < 20000)) { return; }
      if (entry.kind === "inline") {
        entry.iframe.style.height = Math.ceil(height) + "px";
      } else if (popup && popup.frame === entry.iframe) {
        popup.contentHeight = Math.ceil(height);
        layout();
      }
    } else if (data.type === "linktime:scroll" && entry.kind === "inline") {
      // the times of a picked day: bring them into view unless they already are
      var top = Number(data.top), size = Number(data.height) || 0;
      if (!(top >= 0 && top < 20000)) { return; }
      var frameTop = entry.iframe.getBoundingClientRect().top;
      var y = frameTop + top;
      if (y < 0 || y + Math.min(size, 80) > window.innerHeight) {
        window.scrollTo({ top: Math.max(0, window.pageYOffset + y - 16), behavior: "auto" });
      }
    } else if (data.type === "linktime:booking") {
      var detail = { bookingId: String(data.bookingId || ""), startTime: String(data.startTime || ""),
                     kind: entry.kind };
      var redirectUrl = httpsUrl(data.redirectUrl);
      if (redirectUrl) { detail.redirectUrl = redirectUrl; }
      var owner = entry.owner && entry.owner.isConnected !== false ? entry.owner : document;
      var booked = new CustomEvent("linktime:booked", { bubbles: true, cancelable: true, detail: detail });
      if (owner.dispatchEvent(booked) && detail.redirectUrl) {
        // the host's redirect after booking: the page follows unless a listener prevented it
        try { window.top.location.href = detail.redirectUrl; } catch (e) { window.location.href = detail.redirectUrl; }
      }
    } else if (data.type === "linktime:close" && entry.kind === "popup") {
      close();
    }
  });

  // --- wiring -------------------------------------------------------------------------------------------
  function scan(root) {
    var found = (root || document).querySelectorAll("[data-linktime-inline]:not([data-linktime-ready])");
    Array.prototype.forEach.call(found, function (element) {
      inline(element, element.getAttribute("data-linktime-inline"), optionsOf(element));
    });
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest ? event.target.closest("[data-linktime-popup]") : null;
    if (!trigger) { return; }
    event.preventDefault();
    open(trigger.getAttribute("data-linktime-popup"), optionsOf(trigger), trigger);
  });

  window.LinkTime = {
    version: 1,
    inline: function (element, url, options) { return inline(element, url, options); },
    popup: function (url, options) { return open(url, options, null); },
    close: close,
    scan: scan
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})();
