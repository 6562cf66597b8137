"""Dashboard: the host's bookings — upcoming / past / cancelled with search and pages, a booking's detail
and history, and cancelling or rescheduling it as the host.

Lists answer htmx with only the part that changed (the results under the search box, or the whole panel
when a tab is chosen); every link and form also works as a plain request. Times show in the host's zone.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, flash, g, make_response, redirect, request, url_for

from app.datetimes import format_datetime, host_clock
from app.models import Booking, BookingActivity, BookingMeeting
from app.services.booking import bookings as service
from app.services.errors import ValidationFailed
from app.services.scheduling.slots import available_slots
from app.services.validation import parse_instant
from app.timezones import is_valid_timezone, zone
from app.web.htmx import is_htmx
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("bookings", __name__, url_prefix="/dashboard/bookings")

TABS = {"upcoming": "Upcoming", "past": "Past", "cancelled": "Cancelled"}
PAGE_SIZE = 20
CARD_SIZE = 5
MAX_SEARCH = 200
MAX_REASON = 1000


# --- helpers -------------------------------------------------------------------------------------------
def host_zone():
    name = g.user.timezone
    return zone(name if is_valid_timezone(name) else "UTC")


def safe_link(url: str | None) -> str | None:
    """Only http(s) links become clickable."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def answer_rows(booking: Booking) -> list[tuple[str, str]]:
    """(question label, answer text) in the event type's question order; unknown keys keep their id."""
    labels = {}
    event_type = booking.event_type if booking.event_type_id else None
    for q in (event_type.questions if event_type else None) or []:
        labels[q["id"]] = q.get("label") or q["id"]
    answers = booking.answers or {}
    keys = [k for k in labels if k in answers] + [k for k in answers if k not in labels]
    rows = []
    for key in keys:
        value = answers[key]
        if isinstance(value, bool):
            text = "Yes" if value else "No"
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        if text:
            rows.append((labels.get(key, key), text))
    return rows


@bp.context_processor
def _helpers():
    return {"safe_link": safe_link, "TABS": TABS, "location_label": service.location_label}


def _own(booking_id: str) -> Booking:
    return service.get_booking_for_host(g.user, booking_id)


def _done(endpoint: str, **values):
    """After a successful post: a redirect, which htmx performs as a full page load."""
    target = url_for(endpoint, **values)
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
    else:
        response = redirect(target)
    response.vary.add("HX-Request")
    return response


def _now() -> datetime:
    return datetime.now(UTC)


def is_over(booking: Booking, now: datetime | None = None) -> bool:
    return booking.end_at <= (now or _now())


# --- list ----------------------------------------------------------------------------------------------
def booking_query(host, tab: str, search: str, now: datetime):
    query = Booking.select().where(Booking.user == host)
    if tab == "cancelled":
        query = query.where(Booking.status == "CANCELLED").order_by(Booking.start_at.desc(), Booking.id)
    elif tab == "past":
        query = query.where((Booking.status == "CONFIRMED") & (Booking.end_at <= now)).order_by(
            Booking.start_at.desc(), Booking.id)
    else:
        query = query.where((Booking.status == "CONFIRMED") & (Booking.end_at > now)).order_by(
            Booking.start_at, Booking.id)
    if search:
        query = query.where(Booking.invitee_name.contains(search) | Booking.invitee_email.contains(search)
                            | Booking.event_name.contains(search))
    return query


@bp.get("")
@login_required
def index():
    tab = request.args.get("tab", "upcoming")
    if tab not in TABS:
        tab = "upcoming"
    q = request.args.get("q", "").strip()[:MAX_SEARCH]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = booking_query(g.user, tab, q, _now())
    total = query.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = list(query.paginate(page, PAGE_SIZE))
    # The search box swaps only the results below it (so typing keeps focus); tabs swap the whole panel.
    block = "booking_results" if request.headers.get("HX-Target") == "booking-results" else "bookings_panel"
    response = render("bookings/index.html", block=block, bookings=rows, tab=tab, q=q, page=page, pages=pages,
                      total=total)
    response.vary.add("HX-Target")
    return response


@bp.get("/upcoming-card")
@login_required
def upcoming_card():
    """The next few bookings, for the dashboard home page (loaded there with htmx)."""
    rows = list(booking_query(g.user, "upcoming", "", _now()).limit(CARD_SIZE))
    return render("bookings/_upcoming_card.html", bookings=rows)


# --- detail and cancel ---------------------------------------------------------------------------------
def _detail(booking: Booking, *, errors: dict[str, str] | None = None, values: dict | None = None,
            status: int = 200):
    errors = errors or {}
    activities = list(BookingActivity.select().where(BookingActivity.booking == booking)
                      .order_by(BookingActivity.created_at.desc(), BookingActivity.id.desc()))
    later_in_series = 0
    if booking.recurring_group_id:
        later_in_series = (Booking.select().where((Booking.recurring_group_id == booking.recurring_group_id)
                                                  & (Booking.user == booking.user_id)
                                                  & (Booking.status == "CONFIRMED")
                                                  & (Booking.start_at > booking.start_at)).count())
    block = "cancel_form" if errors else None
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    return render("bookings/detail.html", block=block, booking=booking, activities=activities,
                  answers=answer_rows(booking), errors=errors, values=values or {"scope": "this"},
                  later_in_series=later_in_series, over=is_over(booking), status=status, meeting=meeting)


@bp.get("/<booking_id>")
@login_required
def detail(booking_id: str):
    return _detail(_own(booking_id))


@bp.post("/<booking_id>/meeting")
@login_required
def retry_meeting(booking_id: str):
    """Try again to create the video link that failed (the host's button next to the error)."""
    from app.services.integrations import meetings

    booking = _own(booking_id)
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    if meeting is None or meeting.status != "failed" or booking.is_cancelled or is_over(booking):
        flash("There is no missing meeting link to create for this booking.", "error")
    else:
        meetings.retry(booking)
        fresh = BookingMeeting.get(BookingMeeting.id == meeting.id)
        if fresh.status == "created":
            flash("The meeting link was created and sent to both of you.", "success")
        else:
            flash("LinkTime is trying to create the meeting link again; this page shows the result.", "success")
    return redirect(url_for("bookings.detail", booking_id=booking.id))


@bp.post("/<booking_id>/cancel")
@login_required
def cancel(booking_id: str):
    booking = _own(booking_id)
    reason = request.form.get("reason", "").strip()
    scope = request.form.get("scope", "this")
    values = {"reason": reason, "scope": scope}
    errors: dict[str, str] = {}
    if booking.is_cancelled:
        errors["booking"] = "This booking is already cancelled."
    elif is_over(booking):
        errors["booking"] = "This meeting is already over; it cannot be cancelled."
    if not reason:
        errors["reason"] = "Give a reason; the invitee will see it."
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"Use at most {MAX_REASON} characters."
    if scope not in ("this", "following") or (scope == "following" and not booking.recurring_group_id):
        errors["scope"] = "Choose which meetings to cancel."
    if errors:
        return _detail(booking, errors=errors, values=values, status=422)
    cancelled = service.cancel_booking(booking, reason=reason, by="host", actor=g.user, ip=g.client_ip,
                                       include_following=scope == "following")
    count = len(cancelled)
    flash("Booking cancelled. The invitee has been told." if count <= 1 else
          f"{count} meetings of the series cancelled. The invitee has been told.", "success")
    return _done("bookings.detail", booking_id=booking.id)


# --- reschedule ----------------------------------------------------------------------------------------
def _parse_day(raw: str | None, default: date) -> tuple[date, str | None]:
    if not raw:
        return default, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return default, "Enter a date as YYYY-MM-DD."


def _slots_for(booking: Booking, day: date) -> list[datetime]:
    """Offered starts on ``day`` of the host's calendar, ignoring the booking itself."""
    if booking.event_type_id is None or booking.event_type is None:
        return []
    tz = host_zone()
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    length = int((booking.end_at - booking.start_at).total_seconds() // 60)
    return available_slots(booking.event_type, start, end, duration=length, exclude_booking_id=booking.id)


def _reschedule_page(booking: Booking, day: date, *, errors: dict[str, str] | None = None,
                     values: dict | None = None, block: str | None = None, status: int = 200):
    today = _now().astimezone(host_zone()).date()
    slots = _slots_for(booking, day) if not booking.is_cancelled else []
    return render("bookings/reschedule.html", block=block, booking=booking, day=day, today=today, slots=slots,
                  errors=errors or {}, values=values or {}, status=status)


@bp.get("/<booking_id>/reschedule")
@login_required
def reschedule(booking_id: str):
    booking = _own(booking_id)
    today = _now().astimezone(host_zone()).date()
    default = max(today, booking.start_at.astimezone(host_zone()).date())
    day, problem = _parse_day(request.args.get("date"), default)
    errors = {"date": problem} if problem else {}
    # The date picker asks for the slot list alone; a plain request (no script) gets the page.
    return _reschedule_page(booking, day, errors=errors, block="slot_list", status=422 if errors else 200)


@bp.post("/<booking_id>/reschedule")
@login_required
def reschedule_post(booking_id: str):
    booking = _own(booking_id)
    today = _now().astimezone(host_zone()).date()
    day, problem = _parse_day(request.form.get("date"), max(today, booking.start_at.astimezone(host_zone()).date()))
    reason = request.form.get("reason", "").strip()
    raw_start = request.form.get("start", "")
    values = {"reason": reason, "start": raw_start}
    errors: dict[str, str] = {}
    if problem:
        errors["date"] = problem
    new_start = parse_instant(raw_start)
    if new_start is None:
        errors["start"] = "Choose one of the offered times."
    elif new_start == booking.start_at:
        errors["start"] = "That is the booking's current time; choose another."
    if len(reason) > MAX_REASON:
        errors["reason"] = f"Use at most {MAX_REASON} characters."
    if not errors:
        try:
            moved = service.reschedule_booking(booking, new_start, reason=reason or None, by="host", actor=g.user,
                                               ip=g.client_ip)
        except service.SlotUnavailable as exc:
            errors["start"] = str(exc)
        except ValidationFailed as exc:
            errors["booking"] = next(iter(exc.errors.values()))
        else:
            clock = host_clock(g.user)
            flash(f"Booking moved to {format_datetime(moved.start_at, clock.tz, clock.hour12)}. The invitee has been "
                  "told.", "success")
            return _done("bookings.detail", booking_id=booking.id)
    return _reschedule_page(booking, day, errors=errors, values=values, block="reschedule_form", status=422)
