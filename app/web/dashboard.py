"""The signed-in home page: the account, the booking page (links, share, a live preview), a first-run checklist
and the upcoming bookings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, current_app, g, redirect, url_for

from app.db import transaction
from app.models import Booking, EventType, Integration, PageView, PageViewDaily, Schedule
from app.services.account import accounts
from app.services.plans import PLAN_LABELS, effective_plan, limits_for
from app.web.rendering import render
from app.web.session import login_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# Rows made at sign-up get created_at and updated_at from two calls of the clock: an edit is a later update.
EDITED_AFTER = timedelta(seconds=1)
# Sign-up (app/web/auth.py) flashes "Welcome to LinkTime, <name>!"; this page's heading welcomes the host already.


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    hint: str
    url: str
    action: str
    done: bool


def _edited(rows) -> bool:
    return any(row.updated_at - row.created_at > EDITED_AFTER for row in rows)


def first_run_steps(user) -> list[Step]:
    """The first-run checklist, each step read from what the account holds (nothing is stored for it)."""
    schedules = list(Schedule.select(Schedule.created_at, Schedule.updated_at).where(Schedule.user == user))
    event_types = list(EventType.select(EventType.created_at, EventType.updated_at)
                       .where((EventType.user == user) & EventType.personal()))
    calendar = (Integration.select().where((Integration.user == user) & (Integration.category == "calendar")
                                           & (Integration.status != "revoked")).exists())
    shared = (Booking.select().where(Booking.user == user).exists()
              or PageView.select().where(PageView.user == user).exists()
              or PageViewDaily.select().where(PageViewDaily.user == user).exists())
    return [
        Step("hours", "Set your hours", "Check the days and times you can be booked.",
             url_for("availability.index"), "Set hours", len(schedules) > 1 or _edited(schedules)),
        Step("event-type", "Create your first event type",
             "Make your own, or adjust the 30-minute meeting every account starts with.",
             url_for("event_types.index"), "Event types", len(event_types) > 1 or _edited(event_types)),
        Step("calendar", "Connect a calendar", "Busy times in your calendar are not offered; bookings are added to it.",
             url_for("integrations.index"), "Connect", calendar),
        Step("share", "Share your link", "Send your booking page to someone, or embed it on your site; this is "
             "ticked once your page gets its first visit or booking.", url_for("event_types.index"), "Share", shared),
    ]


@bp.get("")
@login_required
def home():
    user = g.user
    steps = [] if user.checklist_dismissed_at else first_run_steps(user)
    event_types = list(EventType.select().where((EventType.user == user) & (EventType.status == "active")
                                                & EventType.personal())
                       .order_by(EventType.position, EventType.created_at))
    return render("dashboard/home.html", plan=PLAN_LABELS[effective_plan(user)], limits=limits_for(user),
                  base_url=current_app.config["BASE_URL"], event_types=event_types,
                  steps=steps if not all(step.done for step in steps) else [],
                  steps_done=sum(step.done for step in steps))


@bp.post("/checklist/dismiss")
@login_required
def dismiss_checklist():
    with transaction():
        accounts.dismiss_checklist(g.user)
    return redirect(url_for("dashboard.home"))
