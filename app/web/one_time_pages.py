"""The public pages of single-use links and one-off meetings (issue 23): ``/d/<token>`` with ``/calendar``,
``/slots`` and the booking form's POST, the booking page views of :mod:`app.web.public` run for the link's
``Site``. A used link says "This link has already been used", an expired one "This link has expired" (410, no
calendar); an unknown or revoked token, or an event type that can no longer be booked, is a 404. The pages work in
the embed like any booking page (``?embed=true``; their endpoints are in ``public.FRAMEABLE``)."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, abort, make_response, redirect, request, url_for

from app.extensions import csrf
from app.models import EventType
from app.models.one_time_links import OneTimeLink
from app.services.booking import one_time_links as links
from app.services.errors import NotFound
from app.timezones import zone
from app.web.booking_view import host_context, view_state
from app.web.htmx import is_htmx
from app.web.public import Site, show_booking_page, show_calendar, show_slots, submit_booking
from app.web.rendering import render

bp = Blueprint("one_time", __name__, url_prefix="/d")

MESSAGES = {"used": "This link has already been used", "expired": "This link has expired"}


@dataclass
class LinkSite(Site):
    """A link's pages are named by its token alone (no slug in the address)."""

    def event_args(self, event_type: EventType) -> dict:
        return dict(self.args)


def _load(token: str) -> tuple[OneTimeLink, EventType]:
    link = links.find(token)
    if link is None or not links.bookable(link.event_type):
        abort(404)
    return link, links.meeting_event_type(link)


def _site(link: OneTimeLink, event_type: EventType) -> LinkSite:
    host = event_type.user
    return LinkSite("one_time", {"token": link.token}, lambda state: host_context(host, state),
                    narrow=links.narrower(link), booking_fields={"one_time_link": link.id})


def _gone(link: OneTimeLink, event_type: EventType, why: str):
    """The page saying the link is used up or expired; an htmx request (a form step, a day's times) is sent to
    it as a whole page."""
    args = request.form if request.method == "POST" else request.args
    state = view_state(args, event_type.user.timezone)
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = (url_for("one_time.booking_page", token=link.token)
                                           + ("?" + urlencode(state.params()) if state.embed else ""))
        return response
    return render("one_time_links/gone.html", status=410, event_type=event_type, heading=MESSAGES[why],
                  **host_context(event_type.user, state))


def _when_active(token: str, show):
    """``show(link, event_type)`` while the link can book; the used or expired page otherwise."""
    link, event_type = _load(token)
    why = links.state_of(link)
    if why != "active":
        return _gone(link, event_type, why)
    return show(link, event_type)


@bp.get("/<token>")
def booking_page(token: str):
    return _when_active(token, _show_booking_page)


def _show_booking_page(link: OneTimeLink, event_type: EventType):
    if link.kind == "one_off" and not any(k in request.args for k in ("month", "date", "time")):
        # open the calendar on the first proposed time that can still be booked
        offered = links.offered_times(link, event_type)
        if offered:
            state = view_state(request.args, event_type.user.timezone)
            day = offered[0].astimezone(zone(state.tz)).date()
            query = urlencode({**request.args.to_dict(), "month": f"{day:%Y-%m}", "date": day.isoformat()})
            return redirect(url_for("one_time.booking_page", token=link.token) + "?" + query)
    return show_booking_page(event_type, _site(link, event_type))


@bp.get("/<token>/calendar")
def calendar(token: str):
    return _when_active(token, lambda link, event_type: show_calendar(event_type, _site(link, event_type)))


@bp.get("/<token>/slots")
def slots(token: str):
    return _when_active(token, lambda link, event_type: show_slots(event_type, _site(link, event_type)))


@bp.post("/<token>")
def book(token: str):
    link, event_type = _load(token)
    if links.state_of(link) == "expired":
        return _gone(link, event_type, "expired")
    # a used link still reaches the booking service: the same form sent again returns its booking
    try:
        return submit_booking(event_type, _site(link, event_type))
    except links.LinkUsed:
        return _gone(link, event_type, "used")
    except links.LinkExpired:
        return _gone(link, event_type, "expired")
    except NotFound:
        abort(404)


csrf.exempt(book)
