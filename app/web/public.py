"""Public booking pages: a host's profile, an event type's booking page (month calendar, a day's slots,
the booking form), ``/embed.js`` and the dashboard's share dialog.

Everything works as plain links and forms; htmx swaps parts of the page when JavaScript runs:

* ``GET /<username>/<slug>`` renders the whole page; with ``?date=&time=`` the booking form instead of the
  calendar.  An htmx request gets the ``step`` block only.
* ``GET /<username>/<slug>/calendar?month=`` returns the calendar and the first bookable day's slots
  (one ``available_slots`` call for the month).
* ``GET /<username>/<slug>/slots?date=`` returns one day's slots (one ``available_slots`` call for the day).

The invitee's time zone (``tz``), the clock (``hour=12|24``), the chosen length (``duration``) and the embed
options (``embed``, ``hideHeader``, ``name``, ``email``) ride along in every link.

The booking form is served in third-party iframes (embeds), where the browser does not send our
``SameSite=Lax`` session cookie, so it cannot use the session-bound CSRF token.  It carries a signed,
session-free form token instead and refuses a foreign ``Origin``; an embed response alone may be framed.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

import app.web.page_cache as page_cache
import app.web.voice_widget as voice_widget
from app import money
from app.datetimes import format_time
from app.errors import error_response
from app.extensions import csrf
from app.models import EventType, User
from app.ratelimit import check as rate_check
from app.services.booking import payments
from app.services.booking.bookings import (
    PENDING_PAYMENT,
    BookingRequest,
    IdempotencyMismatch,
    SlotUnavailable,
    create_booking,
)
from app.services.booking.guests import split_guests
from app.services.booking.notifications import link_token
from app.services.booking.payment_providers import PAYMENT_PROVIDERS
from app.services.errors import ValidationFailed
from app.services.scheduling.event_type_redirects import after_booking_url
from app.services.scheduling.event_types import render_description
from app.services.validation import parse_date, parse_month
from app.timezones import canonical, zone, zone_groups
from app.web.analytics import track_view
from app.web.booking_view import (
    TRUE,
    Picker,
    ViewState,
    host_context,
    location_text,
    parse_instant,
    recurrence_text,
    view_state,
)
from app.web.htmx import is_htmx
from app.web.origin import same_origin_post
from app.web.rendering import CSP, render
from app.web.session import login_required
from app.web.static_assets import send_asset

bp = Blueprint("public", __name__)

FORM_TOKEN_MAX_AGE = 24 * 3600
EMBED_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors *")


UNAVAILABLE = "This booking page is unavailable."


def _not_found(username: str):
    """404; a disabled (or SCIM-suspended) host's pages say they are unavailable."""
    if User.select().where((User.username == username.lower()) & (User.is_disabled == True)).exists():  # noqa: E712
        abort(error_response(404, UNAVAILABLE))
    abort(404)


def get_host(username: str) -> User:
    host = User.get_or_none(User.username == username.lower())
    if host is None or host.is_disabled:
        _not_found(username)
    return host


def get_event_type(username: str, slug: str) -> EventType:
    """An active personal event type of an enabled host (one query, host included), or 404. A team event type
    is only booked on its team's pages (app/web/team_pages.py), even at its creator's address."""
    event_type = (EventType.select(EventType, User).join(User)
                  .where((User.username == username.lower()) & (EventType.slug == slug.lower())
                         & (EventType.status == "active") & (User.is_disabled == False) & EventType.personal())
                  .first())
    if event_type is None:
        _not_found(username)
    return event_type


def durations_of(event_type: EventType) -> list[int]:
    return [event_type.duration, *[d for d in (event_type.extra_durations or []) if d != event_type.duration]]


@dataclass
class Site:
    """Whose booking pages these are: a host's (``public``: ``/<username>/<slug>``) or a team's (``team_pages``:
    ``/team/<team_slug>/<slug>``). The booking page views below serve both through it."""
    blueprint: str                                  # the blueprint of the views: "public" | "team_pages"
    args: dict                                      # route arguments naming the owner, e.g. {"username": ...}
    context: Callable[[ViewState], dict]            # host_context(...) or the team's equivalent
    version: page_cache.Version | None = None       # personal pages only: the page cache's key (None: not cached)
    narrow: Callable | None = None                  # slots -> the ones this page offers (a one-off meeting's)
    booking_fields: dict = field(default_factory=dict)   # more BookingRequest fields (the link booked through)

    def endpoint(self, view: str) -> str:
        return f"{self.blueprint}.{view}"

    def event_args(self, event_type: EventType) -> dict:
        return {**self.args, "slug": event_type.slug}


def host_site(event_type: EventType, version: page_cache.Version | None = None) -> Site:
    host = event_type.user
    return Site("public", {"username": host.username}, lambda state: host_context(host, state), version)


def booking_picker(event_type: EventType, state: ViewState, site: Site) -> Picker:
    return Picker(event_type=event_type, state=state, page_endpoint=site.endpoint("booking_page"),
                  calendar_endpoint=site.endpoint("calendar"), slots_endpoint=site.endpoint("slots"),
                  route_args=site.event_args(event_type), narrow=site.narrow)


# Pages an embed shows; with ?embed=true (query or form) they, and only they, may be framed by any site.
FRAMEABLE = frozenset({"public.profile", "public.booking_page", "public.calendar", "public.slots", "public.book",
                       "team_pages.team_page", "team_pages.booking_page", "team_pages.calendar",
                       "team_pages.slots", "team_pages.book", "invitee.view", "invitee.payment",
                       "invitee.payment_status", "routing_public.form_page", "routing_public.submit",
                       "one_time.booking_page", "one_time.calendar", "one_time.slots", "one_time.book"})


@bp.after_app_request
def _embed_framing(response: Response) -> Response:
    # App-wide after-request hooks run in reverse order of registration.  This one is registered with the
    # blueprint, before app.web defines its security-header hook (CSP frame-ancestors 'none', X-Frame-Options:
    # DENY), so it runs after that hook and has the last word.  Error pages of these views (404, 409 ...)
    # are framed too, so an embed shows them instead of a blank frame.
    if request.endpoint in FRAMEABLE and _embed_requested():
        response.headers["Content-Security-Policy"] = EMBED_CSP
        response.headers.pop("X-Frame-Options", None)
    return response


def _embed_requested() -> bool:
    """``embed=true`` in the query or the form. A body the request refused (over MAX_CONTENT_LENGTH: the
    413 being answered) is not read again here: that would raise once more, after the error was handled."""
    if request.args.get("embed", "").lower() in TRUE:
        return True
    if request.method != "POST":
        return False
    try:
        return request.form.get("embed", "").lower() in TRUE
    except HTTPException:  # RequestEntityTooLarge, or a body that cannot be parsed
        return False


def _embedded() -> bool:
    return request.args.get("embed", "").lower() in TRUE


# --- profile -----------------------------------------------------------------------------------------------
@bp.get("/<username>")
def profile(username: str):
    version = page_cache.version_of(username)
    if version is None:
        _not_found(username)
    track_view(version.host_id, embed=_embedded())
    voice_widget.prepare(version.host_id)     # before the cache: its key holds whether the button shows
    hit = page_cache.cached(version)
    if hit is not None:
        return hit
    host = get_host(username)
    state = view_state(request.args, host.timezone)
    event_types = list(EventType.select().where((EventType.user == host) & (EventType.status == "active")
                                                & (EventType.is_secret == False) & EventType.personal())
                       .order_by(EventType.position, EventType.created_at))
    keep = state.params(tz=request.args.get("tz") and state.tz, hour=request.args.get("hour") and state.hour)
    query = ("?" + urlencode(keep)) if keep else ""
    cards = [{"et": et, "location": location_text(et), "description": render_description(et.description),
              "url": url_for("public.booking_page", username=host.username, slug=et.slug) + query}
             for et in event_types]
    return page_cache.store(version, render("public/profile.html", cards=cards, shared_page=True,
                                                   **host_context(host, state)))


# --- booking page ---------------------------------------------------------------------------------------
def form_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="linktime-public-booking-form")


def _page(event_type: EventType, state: ViewState, picker: Picker, site: Site, *, status: int = 200,
          form: dict | None = None, all_zones: bool = False):
    context = site.context(state)
    context["all_zones"] = all_zones
    page = site.endpoint("booking_page")
    context.update(event_type=event_type, picker=picker, form=form, location=location_text(event_type),
                   description=render_description(event_type.description), durations=durations_of(event_type),
                   recurrence=recurrence_text(event_type), shared_page=form is None,
                   # the page may be shared by the page cache: its own address, not the visitor's query string
                   detect_url=url_for(page, **site.event_args(event_type)) + page_cache.own_query(page))
    return render("public/booking.html", block="step", status=status, **context)


def _form_context(event_type: EventType, state: ViewState, picker: Picker, site: Site, start: datetime,
                  values: dict | None = None, errors: dict | None = None, idem: str | None = None) -> dict:
    length = state.duration or event_type.duration
    day = start.astimezone(zone(state.tz)).date()
    providers = [(name, PAYMENT_PROVIDERS[name].label) for name in payments.providers_for(event_type)]
    if values is None:
        values = {"name": state.name, "email": state.email, "duration": str(length), "occurrences": "1",
                  "provider": providers[0][0] if providers else ""}
        for q in event_type.questions or []:     # a routing form's answers (only to questions the page asks)
            given = state.prefill.get(f"q_{q['id']}")
            if given:
                values[f"q_{q['id']}"] = (given if isinstance(given, list) else [given]) \
                    if q["type"] == "multiselect" else (given[0] if isinstance(given, list) else given)
    return {"start": start, "start_iso": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "values": values,
            "errors": errors or {}, "end": start + timedelta(minutes=length),
            "action": url_for(site.endpoint("book"), **site.event_args(event_type)),
            "token": form_serializer().dumps(event_type.id), "idem": idem or secrets.token_urlsafe(16),
            "back_url": picker.page_url(month=f"{day:%Y-%m}", date=day.isoformat()),
            "length": length, "max_occurrences": (event_type.recurrence or {}).get("maxOccurrences", 1),
            "providers": providers}


@bp.get("/<username>/<slug>")
def booking_page(username: str, slug: str):
    version = page_cache.version_of(username, slug)
    if version is None:
        _not_found(username)
    track_view(version.host_id, version.event_type_id, embed=_embedded())
    voice_widget.prepare(version.host_id)
    # ?zones=all: the whole zone list in the page (the picker's fallback without JavaScript), never shared
    if not request.args.get("time") and request.args.get("zones") != "all":  # the form step: never shared
        hit = page_cache.cached(version)
        if hit is not None:
            return hit
    event_type = get_event_type(username, slug)
    return show_booking_page(event_type, host_site(event_type, version))


def show_booking_page(event_type: EventType, site: Site):
    """The whole booking page: the month calendar, or with ``?date=&time=`` the form (never cached)."""
    all_zones = request.args.get("zones") == "all"
    state = view_state(request.args, event_type.user.timezone, durations_of(event_type))
    picker = booking_picker(event_type, state, site)
    day = parse_date(request.args.get("date"))
    if day is not None and request.args.get("time"):
        start = picker.resolve(day, request.args.get("time"), request.args.get("fold"))
        picker.load_day(day)
        if start is not None and start in picker.slots:
            return _page(event_type, state, picker, site, form=_form_context(event_type, state, picker, site, start))
        picker.message = "That time is not available any more. Please choose another time."
        picker.load_month(None, selected=day)
        return _page(event_type, state, picker, site)
    picker.load_month(parse_month(request.args.get("month")), selected=day,
                      auto_advance=not request.args.get("month") and day is None)
    if all_zones:
        return _page(event_type, state, picker, site, all_zones=True)
    return page_cache.store(site.version, _page(event_type, state, picker, site))


@bp.get("/<username>/<slug>/calendar")
def calendar(username: str, slug: str):
    version = page_cache.version_of(username, slug)
    hit = page_cache.cached(version)
    if hit is not None:
        return hit
    event_type = get_event_type(username, slug)
    return show_calendar(event_type, host_site(event_type, version))


def show_calendar(event_type: EventType, site: Site):
    """A month's calendar and its first bookable day's slots (the htmx partial)."""
    state = view_state(request.args, event_type.user.timezone, durations_of(event_type))
    picker = booking_picker(event_type, state, site).load_month(parse_month(request.args.get("month")))
    return page_cache.store(site.version, render("public/_picker_body.html", picker=picker))


@bp.get("/<username>/<slug>/slots")
def slots(username: str, slug: str):
    version = page_cache.version_of(username, slug)
    hit = page_cache.cached(version)
    if hit is not None:
        return hit
    event_type = get_event_type(username, slug)
    return show_slots(event_type, host_site(event_type, version))


def show_slots(event_type: EventType, site: Site):
    """One day's slots (the htmx partial)."""
    state = view_state(request.args, event_type.user.timezone, durations_of(event_type))
    day = parse_date(request.args.get("date"))
    if day is None:
        abort(404)
    picker = booking_picker(event_type, state, site).load_day(day)
    return page_cache.store(site.version, render("public/_slots.html", picker=picker))


def _redirect(url: str) -> Response:
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url)
    response.vary.add("HX-Request")
    return response


def _answers(event_type: EventType, form) -> dict:
    answers = {}
    for q in event_type.questions or []:
        key = f"q_{q['id']}"
        answers[q["id"]] = form.getlist(key) if q["type"] == "multiselect" else form.get(key)
    return answers


@bp.post("/<username>/<slug>")
def book(username: str, slug: str):
    event_type = get_event_type(username, slug)
    return submit_booking(event_type, host_site(event_type))


def submit_booking(event_type: EventType, site: Site):
    """The booking form's POST: a booking and a redirect to the invitee's page, or the form again with errors."""
    rate_check("public-booking", g.client_ip or "unknown", current_app.config["RATELIMIT_PUBLIC_BOOKING"])
    form = request.form
    state = view_state(form, event_type.user.timezone, durations_of(event_type))
    picker = booking_picker(event_type, state, site)
    start = parse_instant(form.get("start"))
    if start is None:
        picker.message = "Choose a time first."
        return _page(event_type, state, picker.load_month(None), site, status=400)
    values = {k: form.get(k, "") for k in ("name", "email", "phone", "notes", "duration", "occurrences",
                                           "provider", "guests")}
    for q in event_type.questions or []:
        field_name = f"q_{q['id']}"
        values[field_name] = form.getlist(field_name) if q["type"] == "multiselect" else form.get(field_name, "")
    idem = form.get("idem", "")[:40] or None
    try:
        token_ok = form_serializer().loads(form.get("form_token", ""), max_age=FORM_TOKEN_MAX_AGE) == event_type.id
    except BadSignature:
        token_ok = False
    if not token_ok or not same_origin_post():
        errors = {"form": "This form expired or was sent from another site. Please check the details and "
                          "submit again."}
        return _page(event_type, state, picker, site, status=400,
                     form=_form_context(event_type, state, picker, site, start, values, errors, idem))
    errors: dict[str, str] = {}
    duration = occurrences = None
    try:
        duration = int(values["duration"] or event_type.duration)
    except ValueError:
        errors["duration"] = "Choose one of the offered durations."
    try:
        occurrences = int(values["occurrences"] or 1)
    except ValueError:
        errors["occurrences"] = "Choose a number of meetings."
    provider = None
    if event_type.is_paid:
        offered = payments.providers_for(event_type)
        provider = values["provider"] or (offered[0] if len(offered) == 1 else "")
        if not offered:
            errors["form"] = ("Payments cannot be taken at the moment, so this meeting cannot be booked. "
                              "Please try again later.")
        elif provider not in offered:
            errors["provider"] = "Choose how you want to pay."
    if errors:
        return _page(event_type, state, picker, site, status=422,
                     form=_form_context(event_type, state, picker, site, start, values, errors, idem))
    key = f"form:{idem}:{start:%Y%m%dT%H%M}" if idem else None
    req = BookingRequest(start=start, invitee_name=values["name"], invitee_email=values["email"],
                         invitee_timezone=state.tz, invitee_phone=values["phone"] or None, notes=values["notes"],
                         answers=_answers(event_type, form), duration=duration, occurrences=occurrences,
                         idempotency_key=key, source="embed" if state.embed else "page",
                         invitee_hour12=state.hour12 if form.get("hour") in ("12", "24") else None,
                         routing=state.routing or None, guests=split_guests(values["guests"]),
                         **site.booking_fields)
    try:
        result = create_booking(event_type, req, ip=g.client_ip)
    except ValidationFailed as exc:
        errors = dict(exc.errors)
        if "timezone" in errors or "startTime" in errors:
            errors["form"] = errors.pop("timezone", None) or errors.pop("startTime")
        return _page(event_type, state, picker, site, status=422,
                     form=_form_context(event_type, state, picker, site, start, values, errors, idem))
    except IdempotencyMismatch:
        errors = {"form": "This form already booked this time with other details. Reload the page to make "
                          "another booking."}
        return _page(event_type, state, picker, site, status=409,
                     form=_form_context(event_type, state, picker, site, start, values, errors, idem))
    except SlotUnavailable as exc:
        picker.message = str(exc)
        if duration in durations_of(event_type):
            state.duration = duration if duration != event_type.duration else None
        picker.load_month(None, selected=start.astimezone(zone(state.tz)).date())
        return _page(event_type, state, picker, site, status=409)
    booking = result.booking
    if not result.created and booking.idempotency_key != key:
        # Same email, time and event type as an earlier booking, but not this form's submission: say so
        # without handing out that booking's private link.
        context = site.context(state)
        return render("public/already_booked.html", event_type=event_type, booking=booking, **context)
    params = {"booked": "1", "tz": state.tz, "hour": state.hour}
    if state.embed:
        params["embed"] = "true"
    if provider is not None and booking.status != "CONFIRMED":
        return _checkout(event_type, state, picker, site, booking, provider, start, values, idem)
    target = after_booking_url(booking)
    if target and not state.embed and is_htmx():
        # the event type's redirect after booking: HX-Redirect is the page script's navigation, which our CSP
        # allows (a form's HTTP redirect to another site is refused under form-action 'self'). Without
        # JavaScript the confirmation page below sends the invitee on; in an embed it tells the parent page.
        return _redirect(target)
    return _redirect(url_for("invitee.view", token=link_token(booking)) + "?" + urlencode(params))


bp.add_app_template_global(after_booking_url, "after_booking_url")


def _absolute(path: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + path


def _checkout(event_type: EventType, state: ViewState, picker: Picker, site: Site, booking, provider: str,
              start: datetime, values: dict, idem: str | None):
    """A held booking of a priced event type: off to the provider to pay. The return page only waits for the
    provider's signed webhook; going back releases nothing (the hold runs out by itself)."""
    token = link_token(booking)
    params = {"tz": state.tz, "hour": state.hour}
    status_url = url_for("invitee.payment", token=token) + "?" + urlencode(params)
    if booking.status != PENDING_PAYMENT:       # released already (a resubmitted form): say why
        return _redirect(status_url)
    day = start.astimezone(zone(state.tz)).date()
    back = picker.page_url(month=f"{day:%Y-%m}", date=day.isoformat())
    try:
        payment = payments.start_checkout(booking, provider, success_url=_absolute(status_url),
                                          cancel_url=_absolute(back))
    except payments.PaymentUnavailable as exc:
        return _page(event_type, state, picker, site, status=409,
                     form=_form_context(event_type, state, picker, site, start, values, {"form": str(exc)}, idem))
    except ValidationFailed as exc:
        return _page(event_type, state, picker, site, status=422,
                     form=_form_context(event_type, state, picker, site, start, values, dict(exc.errors), idem))
    context = site.context(state)
    context.update(event_type=event_type, booking=booking, checkout_url=payment.checkout_url,
                   location=location_text(event_type), description=render_description(event_type.description),
                   recurrence=recurrence_text(event_type), provider_label=PAYMENT_PROVIDERS[provider].label,
                   price=money.format_amount(payment.amount, payment.currency))
    if state.embed:
        # Checkout pages refuse to run in a frame: the invitee pays in a new tab, the frame follows the booking
        context.update(poll_url=url_for("invitee.payment_status", token=token) + "?"
                       + urlencode({**params, "embed": "true"}), minutes_left=payments.held_minutes_left(booking))
        return render("public/pay_new_tab.html", block="step", **context)
    if is_htmx():
        return _redirect(payment.checkout_url)
    # a form's HTTP redirect to another site is refused by browsers under form-action 'self': a refresh is not
    return render("public/pay_redirect.html", **context)


csrf.exempt(book)


# --- the time-zone picker (templates/macros/forms.html: timezone_select) -------------------------------------
@bp.app_template_filter("money")
def money_filter(minor: int | None, currency: str | None) -> str:
    """``{{ et.price_amount|money(et.price_currency) }}``: "49.99 USD"."""
    return money.format_amount(minor, currency) if minor is not None and currency else ""


@bp.app_template_global("timezone_groups")
def timezone_groups(only: str | None = None, include: str | None = None):
    return zone_groups(only=only, include=include)


@bp.app_template_global("timezone_canonical")
def timezone_canonical(name: str) -> str:
    return canonical(name)


@bp.app_template_global("zone_time")
def zone_time(tz: str, hour12: bool | None = None) -> str:
    """The time now in ``tz``, on the viewer's clock (``hour12``; by default the signed-in user's setting)."""
    if hour12 is None:
        user = g.get("user")
        hour12 = bool(user is not None and user.hour12)
    return format_time(datetime.now(UTC), tz, hour12)


@bp.get("/timezones.html")
def timezone_options():
    """The picker's whole list as <optgroup>s (fetched when a public page's picker is first used). Shared by
    every visitor; the local times in the labels are at most a minute old."""
    hour12 = request.args.get("hour") == "12"
    response = make_response(render("public/_tz_options.html", hour12=hour12, selected=request.args.get("tz", "")))
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


# --- embed script and the share dialog ---------------------------------------------------------------------
@bp.get("/embed.js")
def embed_js():
    return send_asset("embed.js", "public, max-age=3600")  # a stable URL on customers' sites; compressed


@bp.get("/dashboard/event-types/<event_type_id>/share")
@login_required
def share_dialog(event_type_id: str):
    """The share dialog of one of the signed-in host's event types (a page, or its dialog block for htmx)."""
    event_type = EventType.get_or_none((EventType.id == event_type_id) & (EventType.user == g.user)
                                       & EventType.personal())
    if event_type is None:
        abort(404)
    return render("public/share.html", block="dialog", event_type=event_type, username=g.user.username,
                  share_base_url=current_app.config["BASE_URL"])
