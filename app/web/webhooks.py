"""Settings → Webhooks: list, create (secret shown once), edit, delete, send a test, delivery history, redeliver."""
from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from jinja2_fragments.flask import render_block

from app.models import EventType
from app.ratelimit import RateLimited
from app.ratelimit import check as rate_check
from app.services.booking import payments
from app.services.developer import webhooks as service
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("webhooks", __name__, url_prefix="/settings/webhooks")

HISTORY_LIMIT = 50
# payment.received is emitted only where a payment provider is configured; the forms offer the events this
# instance can emit (a webhook already subscribed to another keeps it, shown checked).
PAYMENT_EVENTS = ("payment.received",)


def offered_events() -> tuple[str, ...]:
    paid = bool(payments.configured_providers())
    return tuple(name for name in service.EVENT_NAMES if paid or name not in PAYMENT_EVENTS)


@bp.context_processor
def _helpers():
    return {"event_labels": service.EVENT_LABELS, "event_names": offered_events(),
            "is_test_delivery": service.is_test, "zapier_label": service.ZAPIER_LABEL}


def _own(webhook_id: str):
    return service.get_webhook(g.user, webhook_id)


def _event_types():
    return list(EventType.select().where((EventType.user == g.user) & EventType.personal())
                .order_by(EventType.position, EventType.name))


def _form_values() -> dict:
    return {"url": request.form.get("url", "").strip(), "events": request.form.getlist("events"),
            "event_type_id": request.form.get("event_type_id", "").strip(),
            "active": request.form.get("active") in ("on", "1", "true", "yes")}


@bp.get("")
@login_required
def index():
    hooks = service.list_webhooks(g.user)
    return render("webhooks/index.html", webhooks=hooks, latest=service.last_deliveries(hooks))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, str] = {}
    values = {"url": "", "events": ["booking.created"], "event_type_id": "", "active": True}
    status = 200
    if request.method == "POST":
        values = _form_values()
        try:
            webhook, secret = service.create_webhook(
                g.user, values["url"], values["events"], event_type_id=values["event_type_id"] or None,
                active=values["active"], ip=g.client_ip)
        except ValidationFailed as exc:
            errors, status = exc.errors, 422
        except PlanLimitReached as exc:
            errors, status = {"plan": str(exc)}, 403
        else:
            return render("webhooks/created.html", webhook=webhook, secret=secret, status=201)
    return render("webhooks/form.html", webhook=None, values=values, errors=errors, event_types=_event_types(),
                  status=status)


@bp.get("/<webhook_id>")
@login_required
def detail(webhook_id: str):
    webhook = _own(webhook_id)
    return render("webhooks/detail.html", webhook=webhook, deliveries=service.deliveries(webhook, HISTORY_LIMIT),
                  test=None, test_event=request.args.get("event") or "booking.created", errors={})


@bp.get("/<webhook_id>/deliveries")
@login_required
def history(webhook_id: str):
    """The history block alone: the detail page polls it with htmx every 5 seconds."""
    webhook = _own(webhook_id)
    return make_response(render_block("webhooks/detail.html", "history", webhook=webhook,
                                      deliveries=service.deliveries(webhook, HISTORY_LIMIT)))


@bp.route("/<webhook_id>/edit", methods=["GET", "POST"])
@login_required
def edit(webhook_id: str):
    webhook = _own(webhook_id)
    errors: dict[str, str] = {}
    values = {"url": webhook.url, "events": webhook.events, "event_type_id": webhook.event_type_id or "",
              "active": webhook.active}
    if request.method == "POST":
        values = _form_values()
        try:
            service.update_webhook(g.user, webhook.id, url=values["url"], event_names=values["events"],
                                   event_type_id=values["event_type_id"] or None, active=values["active"],
                                   ip=g.client_ip)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            flash("Webhook saved.", "success")
            return redirect(url_for("webhooks.detail", webhook_id=webhook.id))
    return render("webhooks/form.html", webhook=webhook, values=values, errors=errors, event_types=_event_types(),
                  status=422 if errors else 200)


@bp.route("/<webhook_id>/delete", methods=["GET", "POST"])
@login_required
def delete(webhook_id: str):
    webhook = _own(webhook_id)
    if request.method == "GET":
        return render("webhooks/delete.html", webhook=webhook)
    service.delete_webhook(g.user, webhook.id, ip=g.client_ip)
    flash("Webhook deleted." + (" Zapier will stop receiving events from it." if webhook.label ==
                                service.ZAPIER_LABEL else ""), "success")
    return redirect(url_for("webhooks.index"))


def _test_panel(webhook, *, test=None, test_id=None, event="booking.created", errors=None, status=200):
    response = render("webhooks/detail.html", block="test_panel", webhook=webhook, test=test, test_id=test_id,
                      test_event=event if event in service.EVENT_NAMES else "booking.created", errors=errors or {},
                      deliveries=service.deliveries(webhook, HISTORY_LIMIT), status=status)
    if test is not None and test.state == "done":
        response.headers["HX-Trigger"] = "webhook-tested"   # the history block reloads at once
    return response


@bp.post("/<webhook_id>/test")
@login_required
def send_test(webhook_id: str):
    """Queue a test send (the webhook queue makes the request, never this one) and answer with the panel that
    polls for its result. Limited per account (RATELIMIT_WEBHOOK_TEST)."""
    webhook = _own(webhook_id)
    event = request.form.get("event", "")
    if event not in service.EVENT_NAMES:
        return _test_panel(webhook, errors={"event": "Choose one of the listed events."}, status=422)
    try:
        rate_check("webhook-test", g.user.id, current_app.config["RATELIMIT_WEBHOOK_TEST"])
    except RateLimited as exc:
        response = _test_panel(webhook, event=event, status=429, errors={
            "event": f"Too many test sends. Wait {exc.retry_after} s and try again."})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    test_id = service.queue_test(g.user, webhook.id, event)
    test = service.sent_test_status(g.user, webhook.id, test_id)
    return _test_panel(webhook, test=test, test_id=test_id, event=event, status=202 if test.state == "pending" else 200)


@bp.get("/<webhook_id>/tests/<test_id>")
@login_required
def test_result(webhook_id: str, test_id: str):
    """The test panel with the result of a queued test send, or still waiting (the panel polls every second)."""
    webhook = _own(webhook_id)
    test = service.sent_test_status(g.user, webhook.id, test_id)
    return _test_panel(webhook, test=test, test_id=test_id, event=test.event or "booking.created")


@bp.post("/<webhook_id>/deliveries/<delivery_id>/redeliver")
@login_required
def redeliver(webhook_id: str, delivery_id: str):
    webhook = _own(webhook_id)
    try:
        service.redeliver(g.user, webhook.id, delivery_id)
    except ValidationFailed as exc:
        flash(next(iter(exc.errors.values())), "error")
    else:
        flash("The event was queued for delivery again. The result appears in the history below.", "success")
    return redirect(url_for("webhooks.detail", webhook_id=webhook.id))
