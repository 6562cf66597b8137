"""Invitee self-service through the private link in the confirmation email (``/booking/<token>``).

The token is the booking's unguessable uid plus an HMAC (``notifications.link_token``); a forged or unknown
token answers 404.  A cancelled or past booking gets a plain explanation (200), never an error page.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from icalendar import Calendar

from app import money
from app.calendar_links import calendar_links
from app.datetimes import format_datetime
from app.models import Booking
from app.services.booking import payments, policy
from app.services.booking.bookings import (
    PENDING_PAYMENT,
    SlotUnavailable,
    cancel_booking,
    location_label,
    reschedule_booking,
)
from app.services.booking.notifications import booking_answers, booking_for_token, build_ics, invitee_links
from app.services.errors import ValidationFailed
from app.services.scheduling.video_connections import VIDEO_LOCATIONS
from app.services.validation import parse_date, parse_month
from app.timezones import zone
from app.web.booking_view import (
    Picker,
    ViewState,
    host_context,
    parse_instant,
    view_state,
)
from app.web.htmx import is_htmx
from app.web.rendering import render

bp = Blueprint("invitee", __name__, url_prefix="/booking")


def load(token: str) -> Booking:
    booking = booking_for_token(token)
    if booking is None:
        abort(404)
    return booking


def series_of(booking: Booking) -> list[Booking]:
    if not booking.recurring_group_id:
        return [booking]
    return list(Booking.select().where(Booking.recurring_group_id == booking.recurring_group_id)
                .order_by(Booking.start_at))


def state_for(booking: Booking) -> ViewState:
    """The invitee's zone and clock: the URL's ``tz``/``hour``, else the zone and the 12/24 h clock their booking
    page showed (``invitee_hour12``; 24 h when unknown), as the links in emails carry neither."""
    state = view_state(request.values, booking.invitee_timezone)
    if request.values.get("hour") not in ("12", "24"):
        state.hour = "12" if booking.invitee_hour12 else "24"
    state.detect = False   # the invitee told us their zone and clock when booking
    return state


def private(response: Response) -> Response:
    """Pages behind a private link: never cached, never indexed."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def why_unchangeable(booking: Booking, now: datetime | None = None) -> str | None:
    now = now or datetime.now(UTC)
    if booking.is_cancelled:
        return "This meeting was cancelled, so it can no longer be changed."
    if booking.start_at <= now:
        return "This meeting is in the past, so it can no longer be changed."
    if booking.event_type is None or booking.user.is_disabled:
        return "This meeting can no longer be changed online. Please contact the host."
    return None


def page_context(booking: Booking, token: str, state: ViewState) -> dict:
    host = booking.user
    context = host_context(host, state)
    where = booking.meeting_link or location_label(booking)
    details = f"Reschedule or cancel: {invitee_links(booking)['view']}"
    if booking.meeting_link:
        details = f"Join: {booking.meeting_link}\n{details}"
    context.update(
        booking=booking, token=token,
        location=location_label(booking), series=series_of(booking), answers=booking_answers(booking),
        video_location=booking.location_type in VIDEO_LOCATIONS,
        add=calendar_links(booking.start_at, booking.end_at, f"{booking.event_name} with {host.name}", details,
                           where),
        problem=why_unchangeable(booking),
        is_past=booking.start_at <= datetime.now(UTC),
        minutes=int((booking.end_at - booking.start_at).total_seconds() // 60),
        policy=policy_context(booking, state))
    return context


def policy_context(booking: Booking, state: ViewState) -> dict:
    """The event type's cancellation and reschedule rules as they stand now, and mailto: links to the host."""
    now = datetime.now(UTC)
    when = format_datetime(booking.start_at, state.tz, state.hour12, style="short")
    return {"rules": {action: policy.rule(booking, action, now) for action in policy.ACTIONS},
            "contact": {action: policy.contact_url(booking, action, when) for action in policy.ACTIONS},
            "reason_required": policy.requires_reason(booking)}


@bp.get("/<token>")
def view(token: str):
    booking = load(token)
    state = state_for(booking)
    if booking.status == PENDING_PAYMENT:     # not booked yet: where its payment stands
        return private(redirect(url_for("invitee.payment", token=token, **state.params(tz=state.tz,
                                                                                        hour=state.hour))))
    context = page_context(booking, token, state)
    context.update(booked=request.args.get("booked") == "1", rescheduled=request.args.get("rescheduled") == "1")
    return private(render("invitee/view.html", **context))


# --- the return from a payment -------------------------------------------------------------------------------
def _payment_context(booking: Booking, token: str, state: ViewState) -> dict:
    payment = payments.payment_of(booking)
    event_type = booking.event_type
    rebook_url = None
    if event_type is not None and event_type.is_active and not booking.user.is_disabled and not event_type.team_id:
        rebook_url = url_for("public.booking_page", username=booking.user.username, slug=event_type.slug,
                             **state.params(tz=state.tz, hour=state.hour))
    poll = url_for("invitee.payment_status", token=token, **state.params(tz=state.tz, hour=state.hour))
    return {"paid_late": booking.is_cancelled and payment is not None and payment.paid_at is not None,
            "rebook_url": rebook_url, "poll": poll}


def _confirmed_url(token: str, state: ViewState) -> str:
    return url_for("invitee.view", token=token, booked="1", **state.params(tz=state.tz, hour=state.hour))


def _settled(booking: Booking) -> bool:
    """Confirmed (the provider's webhook came): neither held nor cancelled."""
    return booking.status != PENDING_PAYMENT and not booking.is_cancelled


@bp.get("/<token>/payment")
def payment(token: str):
    """Where the provider sends the invitee back: waits (polling) for the webhook's word, never confirms."""
    booking = load(token)
    state = state_for(booking)
    if _settled(booking):
        return private(redirect(_confirmed_url(token, state)))
    context = page_context(booking, token, state)
    context.update(_payment_context(booking, token, state))
    return private(render("invitee/payment.html", **context))


@bp.get("/<token>/payment/status")
def payment_status(token: str):
    """The polled partial: still waiting, released (with why), or (confirmed) a redirect to the booking."""
    booking = load(token)
    state = state_for(booking)
    if _settled(booking):
        if not is_htmx():
            return private(redirect(_confirmed_url(token, state)))
        response = make_response("", 204)
        response.headers["HX-Redirect"] = _confirmed_url(token, state)
        return private(response)
    if not is_htmx():
        return private(redirect(url_for("invitee.payment", token=token, **state.params(tz=state.tz,
                                                                                        hour=state.hour))))
    context = page_context(booking, token, state)
    context.update(_payment_context(booking, token, state))
    return private(render("invitee/_payment_status.html", **context))


@bp.get("/<token>/invite.ics")
def ics(token: str):
    """"Add to calendar" download. METHOD:PUBLISH, not the emails' REQUEST: a downloaded file is imported as a
    plain event instead of an invitation to answer (Outlook would otherwise offer accept/decline and send a
    reply to the host). Same UID and SEQUENCE as the emails, so a later update or cancel still matches. A
    series gives one file with every confirmed occurrence; a cancelled booking gives its METHOD:CANCEL."""
    booking = load(token)
    host = booking.user
    method = "CANCEL" if booking.is_cancelled else "PUBLISH"
    cal = Calendar.from_ical(build_ics(booking, host, method))
    if method == "PUBLISH" and booking.recurring_group_id:
        for other in series_of(booking):
            if other.id != booking.id and not other.is_cancelled:
                for component in Calendar.from_ical(build_ics(other, host, method)).walk("VEVENT"):
                    cal.add_component(component)
    response = make_response(cal.to_ical())
    response.headers["Content-Type"] = f"text/calendar; charset=utf-8; method={method}"
    response.headers["Content-Disposition"] = 'attachment; filename="linktime-booking.ics"'
    return private(response)


# --- cancel --------------------------------------------------------------------------------------------
def refund_preview(booking: Booking) -> dict | None:
    """What cancelling now refunds a paid booking's invitee (told before they confirm); None when nothing was paid."""
    owed = payments.cancel_refund(booking, "invitee")
    if owed is None:
        return None
    payment, amount = owed
    event_type = booking.event_type
    return {"paid": money.format_amount(payment.amount, payment.currency),
            "amount": money.format_amount(amount, payment.currency) if amount else None,
            "hours": event_type.refund_invitee_hours if event_type is not None else None}


@bp.route("/<token>/cancel", methods=["GET", "POST"])
def cancel(token: str):
    booking = load(token)
    state = state_for(booking)
    context = page_context(booking, token, state)
    later = [b for b in context["series"] if b.start_at > booking.start_at and not b.is_cancelled]
    context["later"] = later
    refused = not context["problem"] and not context["policy"]["rules"]["cancel"].allowed
    context["refund"] = None if context["problem"] or refused else refund_preview(booking)
    if context["problem"] or refused or request.method == "GET":
        return private(render("invitee/cancel.html", status=403 if refused and request.method == "POST" else 200,
                              errors={}, **context))
    include_following = request.form.get("scope") == "following" and bool(later)
    try:
        cancel_booking(booking, reason=request.form.get("reason"), by="invitee", ip=g.client_ip,
                       include_following=include_following)
    except ValidationFailed as exc:        # a required reason left empty
        return private(render("invitee/cancel.html", status=422, errors=exc.errors,
                              reason=request.form.get("reason", ""), **context))
    return redirect(url_for("invitee.view", token=token, **state.params(tz=state.tz, hour=state.hour)))


# --- reschedule ------------------------------------------------------------------------------------------
def reschedule_allowed(booking: Booking) -> bool:
    return policy.rule(booking, "reschedule", datetime.now(UTC)).allowed


def reschedule_picker(booking: Booking, token: str, state: ViewState) -> Picker:
    return Picker(event_type=booking.event_type, state=state, page_endpoint="invitee.reschedule",
                  calendar_endpoint="invitee.reschedule_calendar", slots_endpoint="invitee.reschedule_slots",
                  route_args={"token": token}, exclude_booking_id=booking.id,
                  length=int((booking.end_at - booking.start_at).total_seconds() // 60))


def _reschedule_page(booking: Booking, token: str, state: ViewState, picker: Picker, *, status: int = 200,
                     confirm: dict | None = None):
    context = page_context(booking, token, state)
    context.update(picker=picker, confirm=confirm, durations=[], all_zones=request.args.get("zones") == "all")
    return private(render("invitee/reschedule.html", block="step", status=status, **context))


@bp.route("/<token>/reschedule", methods=["GET", "POST"])
def reschedule(token: str):
    booking = load(token)
    state = state_for(booking)
    if why_unchangeable(booking) or not reschedule_allowed(booking):
        refused = not why_unchangeable(booking) and request.method == "POST"
        return private(render("invitee/reschedule.html", picker=None, confirm=None, status=403 if refused else 200,
                              **page_context(booking, token, state)))
    picker = reschedule_picker(booking, token, state)
    if request.method == "POST":
        start = parse_instant(request.form.get("start"))
        if start is None:
            picker.message = "Choose a new time first."
            return _reschedule_page(booking, token, state, picker.load_month(None), status=400)
        try:
            reschedule_booking(booking, start, reason=request.form.get("reason"), by="invitee", ip=g.client_ip)
        except SlotUnavailable as exc:
            picker.message = str(exc)
            picker.load_month(None, selected=start.astimezone(zone(state.tz)).date())
            return _reschedule_page(booking, token, state, picker, status=409)
        except ValidationFailed as exc:
            picker.message = " ".join(exc.errors.values())
            return _reschedule_page(booking, token, state, picker.load_month(None), status=422)
        return redirect(url_for("invitee.view", token=token, rescheduled="1", tz=state.tz, hour=state.hour))
    day = parse_date(request.args.get("date"))
    if day is not None and request.args.get("time"):
        start = picker.resolve(day, request.args.get("time"), request.args.get("fold"))
        picker.load_day(day)
        if start is not None and start in picker.slots:
            confirm = {"start": start, "start_iso": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "back_url": picker.page_url(month=f"{day:%Y-%m}", date=day.isoformat()),
                       "end": start + timedelta(minutes=picker.duration)}
            return _reschedule_page(booking, token, state, picker, confirm=confirm)
        picker.message = "That time is not available any more. Please choose another time."
        return _reschedule_page(booking, token, state, picker.load_month(None, selected=day))
    picker.load_month(parse_month(request.args.get("month")), selected=day,
                      auto_advance=not request.args.get("month") and day is None)
    return _reschedule_page(booking, token, state, picker)


@bp.get("/<token>/reschedule/calendar")
def reschedule_calendar(token: str):
    booking = load(token)
    if why_unchangeable(booking) or not reschedule_allowed(booking):
        abort(404)
    state = state_for(booking)
    picker = reschedule_picker(booking, token, state).load_month(parse_month(request.args.get("month")))
    return private(render("public/_picker_body.html", picker=picker))


@bp.get("/<token>/reschedule/slots")
def reschedule_slots(token: str):
    booking = load(token)
    day = parse_date(request.args.get("date"))
    if why_unchangeable(booking) or not reschedule_allowed(booking) or day is None:
        abort(404)
    state = state_for(booking)
    picker = reschedule_picker(booking, token, state).load_day(day)
    return private(render("public/_slots.html", picker=picker))
