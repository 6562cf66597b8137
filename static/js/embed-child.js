// Runs inside a LinkTime page shown in an embed (?embed=true): tells the embedding page (embed.js) how tall
// the content is, that a booking was made, that the visitor pressed Escape (closes a popup), and where the
// times of a day just picked are (the inline frame is as tall as its content, so only the embedding page can
// scroll them into view: "linktime:scroll" with the position in the frame's document).
// The messages hold nothing private (a height, the booking id and start), so they go to whichever page
// frames us ("*"); embed.js only accepts messages whose origin is this LinkTime site. The one exception is an
// event type's redirect URL after booking ("redirectUrl"): when its host chose to pass the booking's details,
// it carries the invitee's name and email, which the invitee's browser is about to send to that URL anyway.
(function () {
  "use strict";
  if (window.parent === window) { return; }

  function post(message) {
    try { window.parent.postMessage(message, "*"); } catch (e) { /* parent gone */ }
  }

  var lastHeight = 0;
  function contentHeight() {
    var main = document.querySelector("main") || document.body;
    var rect = main.getBoundingClientRect();
    return Math.ceil(rect.bottom + window.scrollY + 8);
  }
  function sendHeight() {
    var height = contentHeight();
    if (Math.abs(height - lastHeight) >= 1) {
      lastHeight = height;
      post({ type: "linktime:resize", height: height });
    }
  }

  function announceBooking() {
    var marker = document.querySelector("[data-linktime-booked]");
    if (!marker) { return; }
    var message = { type: "linktime:booking", bookingId: marker.getAttribute("data-booking-id"),
                    startTime: marker.getAttribute("data-start-time") };
    // the event type's redirect after booking (https only): the embedding page navigates, not this frame
    var redirectUrl = marker.getAttribute("data-redirect-url");
    if (redirectUrl) { message.redirectUrl = redirectUrl; }
    post(message);
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { post({ type: "linktime:close" }); }
  });

  // booking.js announces the times of a day the visitor picked
  document.addEventListener("linktime:slots-shown", function (event) {
    var element = event.detail && event.detail.element;
    if (!element) { return; }
    sendHeight();
    var rect = element.getBoundingClientRect();
    post({ type: "linktime:scroll", top: Math.max(0, Math.round(rect.top + window.scrollY)),
           height: Math.round(rect.height) });
  });

  function start() {
    sendHeight();
    announceBooking();
    if (window.ResizeObserver) {
      new ResizeObserver(sendHeight).observe(document.body);
    }
    document.addEventListener("htmx:afterSettle", sendHeight);
    window.addEventListener("load", sendHeight);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
