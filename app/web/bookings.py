"""Dashboard: the host's bookings — upcoming / past / cancelled with search and pages, a booking's detail
and history, and cancelling or rescheduling it as the host.

A host sees their own bookings (``Booking.user``) and the team bookings they attend (``BookingHost`` rows,
issue 15): any attending host may open, cancel or reschedule one; anyone else gets a 404.

Lists answer htmx with only the part that changed (the results under the search box, or the whole panel
when a tab is chosen); every link and form also works as a plain request. Times show in the host's zone.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, flash, g, make_response, redirect, request, url_for

from app import money
from app.datetimes import format_datetime, host_clock
from app.db import transaction
from app.models import Booking, BookingActivity, BookingHost, BookingMeeting, Payment, Refund, Team, User
from app.models.scheduling import SCHEDULING_TYPES
from app.services.booking import bookings as service
from app.services.booking import no_shows, payments, seats
from app.services.booking.payment_providers import PAYMENT_PROVIDERS
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.integrations import crm_sync
from app.services.plans import PlanLimitReached
from app.services.routing.responses import routing_form_of
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


def _attended(host):
    """The ids of the team bookings ``host`` attends (the index on booking_hosts (user, booking) answers it)."""
    return BookingHost.select(BookingHost.booking).where(BookingHost.user == host)


def _own(booking_id: str) -> Booking:
    """A booking of the host's own or a team booking they attend; NotFound for anyone else."""
    booking = Booking.get_or_none(Booking.id == booking_id)
    if booking is None or (booking.user_id != g.user.id and not BookingHost.select().where(
            (BookingHost.booking == booking.id) & (BookingHost.user == g.user.id)).exists()):
        raise NotFound("Booking not found")
    return booking


def team_of(booking: Booking) -> dict | None:
    """A team booking's team, scheduling type, hosts (the organizer first) and assignment; None otherwise."""
    hosts = list(User.select(User.id, User.name, User.email, BookingHost.is_fixed)
                 .join(BookingHost, on=(BookingHost.user == User.id))
                 .where(BookingHost.booking == booking.id).order_by(User.name).namedtuples())
    event_type = booking.event_type if booking.event_type_id else None
    if not hosts and (event_type is None or not event_type.team_id):
        return None
    hosts.sort(key=lambda row: row.id != booking.user_id)
    team = Team.get_or_none(Team.id == event_type.team_id) if event_type is not None and event_type.team_id else None
    kind = event_type.scheduling_type if event_type is not None else None
    organizer = next((row for row in hosts if row.id == booking.user_id), None)
    return {"team": team, "kind": kind, "kind_label": SCHEDULING_TYPES.get(kind or "", ""), "hosts": hosts,
            "organizer": organizer, "reason": booking.assignment_reason}


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
    """The host's bookings of a tab: their own (by the (user, status, start_at) index) and the team bookings they
    attend, as one ``id IN (own UNION attended)``."""
    statuses = ("CANCELLED",) if tab == "cancelled" else ("CONFIRMED", "PENDING")   # PENDING: requests (issue 23)
    mine = Booking.alias("own")
    own = mine.select(mine.id).where((mine.user == host) & mine.status.in_(statuses))
    query = Booking.select().where(Booking.id.in_(own | _attended(host)))
    if tab == "cancelled":
        query = query.where(Booking.status == "CANCELLED").order_by(Booking.start_at.desc(), Booking.id)
    elif tab == "past":
        query = query.where((Booking.status == "CONFIRMED") & (Booking.end_at <= now)).order_by(
            Booking.start_at.desc(), Booking.id)
    else:
        query = query.where(Booking.status.in_(statuses) & (Booking.end_at > now)).order_by(
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
    team_ids = {row.booking_id for row in BookingHost.select(BookingHost.booking)
                .where(BookingHost.booking.in_([b.id for b in rows]))} if rows else set()
    # The search box swaps only the results below it (so typing keeps focus); tabs swap the whole panel.
    block = "booking_results" if request.headers.get("HX-Target") == "booking-results" else "bookings_panel"
    seat_groups, seat_skip = seats.group_seats(rows) if tab != "cancelled" else ({}, set())   # one row per slot
    response = render("bookings/index.html", block=block, bookings=rows, tab=tab, q=q, page=page, pages=pages,
                      total=total, team_ids=team_ids, seat_groups=seat_groups, seat_skip=seat_skip)
    response.vary.add("HX-Target")
    return response


@bp.get("/upcoming-card")
@login_required
def upcoming_card():
    """The next few bookings, for the dashboard home page (loaded there with htmx)."""
    rows = list(booking_query(g.user, "upcoming", "", _now()).limit(CARD_SIZE))
    return render("bookings/_upcoming_card.html", bookings=rows)


# --- detail and cancel ---------------------------------------------------------------------------------
PAYMENT_STATUS = {"pending": "Waiting for the payment", "paid": "Paid", "refunded": "Refunded",
                  "partially_refunded": "Partly refunded", "expired": "Expired unpaid", "failed": "Failed"}


def payment_card(booking: Booking) -> dict | None:
    """The booking detail's "Payment" card: what was paid, through which provider, and what was refunded."""
    payment = payments.payment_of(booking)
    if payment is None:
        return None
    currency = payment.currency
    refunds = list(Refund.select().where(Refund.payment == payment).order_by(Refund.created_at, Refund.id))
    left = payments.refundable(payment) if payment.paid_at is not None else 0
    return {"payment": payment, "amount": money.format_amount(payment.amount, currency),
            "provider": PAYMENT_PROVIDERS[payment.provider].label if payment.provider in PAYMENT_PROVIDERS
            else payment.provider, "status": PAYMENT_STATUS.get(payment.status, payment.status),
            "refunded": money.format_amount(payment.amount_refunded, currency),
            "refunds": [(row, money.format_amount(row.amount, currency)) for row in refunds],
            "left": left, "left_text": money.format_amount(left, currency), "currency": currency.upper(),
            "can_refund": left > 0 and booking.user_id == g.user.id}


def _detail(booking: Booking, *, errors: dict[str, str] | None = None, values: dict | None = None,
            status: int = 200, block: str | None = None, refund_errors: dict[str, str] | None = None,
            refund_values: dict | None = None, refund_done: str | None = None, crm_notice: str | None = None,
            no_show_notice: str | None = None):
    errors = errors or {}
    activities = list(BookingActivity.select().where(BookingActivity.booking == booking)
                      .order_by(BookingActivity.created_at.desc(), BookingActivity.id.desc()))
    later_in_series = 0
    if booking.recurring_group_id:
        later_in_series = (Booking.select().where((Booking.recurring_group_id == booking.recurring_group_id)
                                                  & (Booking.user == booking.user_id)
                                                  & (Booking.status == "CONFIRMED")
                                                  & (Booking.start_at > booking.start_at)).count())
    block = block or ("cancel_form" if errors else None)
    meeting = BookingMeeting.get_or_none(BookingMeeting.booking == booking)
    return render("bookings/detail.html", block=block, booking=booking, activities=activities,
                  answers=answer_rows(booking), errors=errors, values=values or {"scope": "this"},
                  later_in_series=later_in_series, over=is_over(booking), status=status, meeting=meeting,
                  team=team_of(booking), pay=payment_card(booking), refund_errors=refund_errors or {},
                  refund_values=refund_values or {}, refund_done=refund_done, routing=routing_form_of(booking),
                  crm=crm_sync.statuses(booking), crm_notice=crm_notice,
                  can_mark_no_show=booking.user_id == g.user.id and no_shows.can_mark(booking),
                  no_show_notice=no_show_notice)


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


@bp.post("/<booking_id>/crm-sync")
@login_required
def retry_crm_sync(booking_id: str):
    """"Retry sync": queue the booking's failed CRM syncs again (the organizer's CRMs: only they may)."""
    booking = _own(booking_id)
    if booking.user_id != g.user.id:        # a team booking's other host: the CRMs are the organizer's
        return _detail(booking, block="crm_card", status=403,
                       crm_notice="Only the organizer of this booking can retry syncing it to their CRMs.")
    try:
        queued = crm_sync.retry(booking, g.user)
    except PlanLimitReached as exc:
        return _detail(booking, block="crm_card", status=403, crm_notice=str(exc))
    notice = ("Syncing again; this card shows the result." if queued
              else "Nothing to retry: no CRM sync of this booking has failed.")
    if is_htmx():
        return _detail(Booking.get_by_id(booking.id), block="crm_card", crm_notice=notice)
    flash(notice, "success" if queued else "error")
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


@bp.post("/<booking_id>/refund")
@login_required
def refund(booking_id: str):
    """A refund of part (or all) of what is left of a paid booking's payment, by the booking's host only."""
    booking = _own(booking_id)
    payment = payments.payment_of(booking)
    if booking.user_id != g.user.id or payment is None:
        raise NotFound("Booking not found")
    raw = request.form.get("amount", "").strip()
    errors: dict[str, str] = {}
    done = None
    if payment.paid_at is None:
        errors["amount"] = "This payment has not arrived, so there is nothing to refund."
    elif not raw:
        errors["amount"] = "Enter the amount to refund."
    else:
        try:
            amount = money.parse_amount(raw, payment.currency)
        except money.MoneyError as exc:
            errors["amount"] = str(exc)
        else:
            with transaction(immediate=True):
                service._lock_host(booking.user_id)          # two refunds at once cannot both take what is left
                fresh = Payment.get_by_id(payment.id)
                left = payments.refundable(fresh)
                if left <= 0:
                    errors["amount"] = "Everything paid has been refunded already."
                elif not 0 < amount <= left:
                    errors["amount"] = (f"Enter an amount between {money.format_amount(1, fresh.currency)} and "
                                        f"{money.format_amount(left, fresh.currency)} (what is left to refund).")
                else:
                    try:
                        payments.refund(fresh, amount=amount, reason="manual")
                    except ValidationFailed as exc:
                        errors["amount"] = next(iter(exc.errors.values()))
                    else:
                        done = f"A refund of {money.format_amount(amount, fresh.currency)} to " \
                               f"{booking.invitee_name} is on its way."
    # htmx swaps the card alone (render gives a plain request the whole page)
    if errors:
        return _detail(booking, block="payment_card", status=422, refund_errors=errors, refund_values={"amount": raw})
    if is_htmx():
        return _detail(Booking.get_by_id(booking.id), block="payment_card", refund_done=done)
    flash(done, "success")
    return redirect(url_for("bookings.detail", booking_id=booking.id))


@bp.post("/<booking_id>/no-show")
@login_required
def no_show(booking_id: str):
    """Mark the invitee of a meeting that has started as a no-show (``no_show=1``) or undo it (``no_show=0``); the
    booking's organizer only (``services.booking.no_shows``). htmx swaps the card alone."""
    booking = _own(booking_id)
    if booking.user_id != g.user.id:        # a team booking's other host: the organizer marks it
        raise NotFound("Booking not found")
    value = request.form.get("no_show", "")
    if value not in ("0", "1"):
        return _detail(booking, block="no_show_card", status=422, no_show_notice="Choose whether the invitee came.")
    try:
        booking = no_shows.mark_no_show(g.user, booking.id, value == "1", ip=g.client_ip)
    except Conflict as exc:
        return _detail(booking, block="no_show_card", status=409, no_show_notice=str(exc))
    notice = ("Marked as a no-show." if booking.no_show else "The no-show mark was removed.")
    if is_htmx():
        return _detail(booking, block="no_show_card", no_show_notice=notice)
    flash(notice, "success")
    return redirect(url_for("bookings.detail", booking_id=booking.id))


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
