"""The public routing form (issue 18, spec page 02): ``/<username>/route/<form-slug>``.

* ``GET`` renders the form (server-side, no JavaScript needed), branded like the host's booking pages; with
  ``?embed=true`` it may be framed (``public.FRAMEABLE``) and uses the embed layout. A draft or unknown form is 404.
* ``POST`` checks the answers (``services.routing.responses.submit``) and follows the route: an event type's
  booking page (303, with ``name``, ``email``, ``q_<question id>`` and ``routing=<link token>``), an external
  https address, a message shown on the form's page, or the documented "No event types available".

Like the booking form, this form is shown in third-party iframes, where the session cookie is not sent: it carries
a signed, session-free token bound to the form's id, and a POST from another site (``Origin``) is refused.

The presentation parameters of the page's URL (``embed``, ``tz``, ``hour``, ``hideHeader``) ride along as hidden
inputs and on to the booking page, so routing inside an embed stays inside it.

An external address is not answered with an HTTP redirect: browsers refuse a form's redirect to another site under
our ``form-action 'self'`` policy. A small page continues instead (a refresh; in an embed, a link that leaves the
frame, and a script that tries to).
"""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, g, make_response, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.extensions import csrf
from app.models import EventType, RoutingForm
from app.ratelimit import check as rate_check
from app.services.errors import NotFound, ValidationFailed
from app.services.routing import responses
from app.services.routing.forms import published_form
from app.services.scheduling.event_types import render_description
from app.timezones import canonical, is_valid_timezone
from app.web.analytics import track_form_view
from app.web.booking_view import TRUE, ViewState, host_context, view_state
from app.web.origin import same_origin_post
from app.web.public import FORM_TOKEN_MAX_AGE
from app.web.rendering import render

bp = Blueprint("routing_public", __name__)

TEMPLATE = "routing_public/form.html"
UNAVAILABLE = ("No event types available", "The meeting your answers lead to cannot be booked right now.")
EXPIRED = "This form expired or was sent from another site. Please check your answers and submit again."
CONTINUE_JS = """(function () {
  "use strict";
  var link = document.querySelector("[data-top-url]");
  if (!link || window.top === window) { return; }
  try { window.top.location.href = link.getAttribute("data-top-url"); } catch (e) { /* the link remains */ }
})();
"""


def token_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="linktime-routing-form")


def _form(username: str, slug: str) -> RoutingForm:
    try:
        return published_form(username, slug)
    except NotFound:
        abort(404)


def carried(source) -> dict[str, str]:
    """The presentation parameters present in ``source`` (the page's query or the posted form), checked."""
    out = {}
    if source.get("embed", "").lower() in TRUE:
        out["embed"] = "true"
    tz = (source.get("tz") or "").strip()
    if is_valid_timezone(tz):
        out["tz"] = canonical(tz)
    if source.get("hour") in ("12", "24"):
        out["hour"] = source["hour"]
    if source.get("hideHeader", "").lower() in TRUE:
        out["hideHeader"] = "true"
    return out


def _initial_values(form: RoutingForm, state: ViewState) -> dict:
    """An empty form, with the name and email of the embed's options (``name``, ``email``) where it asks them."""
    values = {}
    for item in form.fields or []:
        label = " ".join(item["label"].split()).casefold().rstrip("?:")
        if item["type"] == "email" and state.email:
            values[item["id"]] = state.email
        elif item["type"] == "text" and label in responses.NAME_LABELS and state.name:
            values[item["id"]] = state.name
    return values


def _posted_values(form: RoutingForm, posted) -> dict:
    return {item["id"]: (posted.getlist(f"f_{item['id']}") if item["type"] == "multiselect"
                         else posted.get(f"f_{item['id']}", "")[:responses.MAX_TEXTAREA])
            for item in form.fields or []}


def _page(form: RoutingForm, state: ViewState, *, values: dict | None = None, errors: dict | None = None,
          outcome: dict | None = None, status: int = 200, template: str = TEMPLATE, **extra):
    context = host_context(form.user, state)
    context.update(form=form, description=render_description(form.description), values=values or {},
                   errors=errors or {}, outcome=outcome, keep=carried(request.values),
                   name=state.name, email=state.email, token=token_serializer().dumps(form.id),
                   action=url_for("routing_public.submit", username=form.user.username, slug=form.slug),
                   shared_page=True, **extra)   # no session token: no cookie set by this page
    response = render(template, status=status, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<username>/route/<slug>")
def form_page(username: str, slug: str):
    form = _form(username, slug)
    state = view_state(request.args, form.user.timezone)
    track_form_view(form, embed=state.embed)
    return _page(form, state, values=_initial_values(form, state))


def _token_ok(form: RoutingForm) -> bool:
    try:
        return token_serializer().loads(request.form.get("form_token", ""), max_age=FORM_TOKEN_MAX_AGE) == form.id
    except BadSignature:
        return False


def booking_url(event_type: EventType, prefill: dict, token: str, keep: dict, fallback: dict) -> str:
    """The event type's booking page (a host's or a team's) with the presentation parameters, the prefill and
    the response's link token."""
    if event_type.team_id:
        path = url_for("team_pages.booking_page", team_slug=event_type.team.slug, slug=event_type.slug)
    else:
        path = url_for("public.booking_page", username=event_type.user.username, slug=event_type.slug)
    params: list[tuple[str, str]] = list(keep.items())
    for key in ("name", "email"):
        value = prefill.get(key) or fallback.get(key)
        if value:
            params.append((key, value))
    for key, value in prefill.items():
        if key.startswith("q_"):
            params.extend((key, item) for item in (value if isinstance(value, list) else [value]))
    params.append(("routing", token))
    return path + "?" + urlencode(params)


@bp.post("/<username>/route/<slug>")
def submit(username: str, slug: str):
    rate_check("routing-form", g.client_ip or "unknown", current_app.config["RATELIMIT_ROUTING_FORM"])
    form = _form(username, slug)
    state = view_state(request.form, form.user.timezone)
    values = _posted_values(form, request.form)
    if not _token_ok(form) or not same_origin_post():
        return _page(form, state, values=values, errors={"form": EXPIRED}, status=400)
    try:
        routed = responses.submit(form, request.form)
    except ValidationFailed as exc:
        return _page(form, state, values=values, errors=dict(exc.errors), status=422)
    if routed.kind == "event_type":
        url = booking_url(routed.event_type, routed.prefill, responses.link_token(routed.response),
                          carried(request.form), {"name": state.name, "email": state.email})
        return redirect(url, 303)
    if routed.kind == "url":
        return _page(form, state, template="routing_public/leave.html", target_url=routed.url,
                     target_site=urlsplit(routed.url).hostname or routed.url,
                     continue_js=url_for("routing_public.continue_js", username=form.user.username,
                                         slug=form.slug))
    if routed.kind == "message":
        return _page(form, state, outcome={"kind": "message", "html": render_description(routed.message)})
    title, text = UNAVAILABLE
    return _page(form, state, outcome={"kind": "unavailable", "title": title, "text": text})


@bp.get("/<username>/route/<slug>/continue.js")
def continue_js(username: str, slug: str):
    """Inside an embed, the page that leaves for an external address tries to take the whole window there (a
    browser may refuse without a click: the page's link remains). A script file: inline scripts are refused by
    our Content-Security-Policy."""
    response = make_response(CONTINUE_JS)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


csrf.exempt(submit)
