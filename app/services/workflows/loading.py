"""What a fired workflow action needs before it runs: its rows, and the values its texts use.

``load`` reads an action row with its action, workflow and booking (the booking with its host and event type); a
``perform_workflow_actions`` task loads them once for its whole batch first (``prefetched``), so each row then
reads only the action row itself again. ``variables`` computes the values of ``templating.VARIABLES`` for a
booking, only those the action's texts use when asked (``texts_of``, ``templating.names_in``).
"""
from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from peewee import JOIN

from app import money
from app.datetimes import format_datetime, format_timerange, host_clock, invitee_clock
from app.models import Booking, EventType, User, Workflow, WorkflowAction, WorkflowRun, WorkflowRunAction
from app.services.booking import payments
from app.services.booking.bookings import location_label
from app.services.booking.notifications import booking_answers, invitee_links
from app.services.booking.team_bookings import hosts_of_booking
from app.statements import Param, Statement


# --- the values hosts' text may use ----------------------------------------------------------------------------
def variables(booking: Booking, *, host: User | None = None, only: Collection[str] | None = None) -> dict:
    """The values of ``templating.VARIABLES`` (and ``time_range``) for ``booking``; with ``only``, just those names
    (what the action's texts use: the host list, the answers and the payment each cost a query)."""
    host = host or booking.user
    wanted = (lambda *names: True) if only is None else (lambda *names: any(name in only for name in names))
    stored = bool(booking.id) and not booking.id.startswith("sample")
    values: dict = {}
    if wanted("invitee_name", "invitee_email", "invitee_phone", "event_name", "invitee_timezone", "meeting_link",
              "cancel_reason"):
        values.update({"invitee_name": booking.invitee_name, "invitee_email": booking.invitee_email,
                       "invitee_phone": booking.invitee_phone or "", "event_name": booking.event_name,
                       "invitee_timezone": booking.invitee_timezone or "UTC",
                       "meeting_link": booking.meeting_link or "", "cancel_reason": booking.cancel_reason or ""})
    if wanted("start_time", "end_time", "time_range"):
        theirs = invitee_clock(booking)
        values.update({
            "start_time": format_datetime(booking.start_at, theirs.tz, theirs.hour12, style="long", with_zone=True),
            "end_time": format_datetime(booking.end_at, theirs.tz, theirs.hour12, style="long", with_zone=True),
            "time_range": format_timerange(booking.start_at, booking.end_at, theirs.tz, theirs.hour12,
                                           with_zone=True)})
    if wanted("start_time_host", "end_time_host"):
        mine = host_clock(host)
        values.update({
            "start_time_host": format_datetime(booking.start_at, mine.tz, mine.hour12, style="long", with_zone=True),
            "end_time_host": format_datetime(booking.end_at, mine.tz, mine.hour12, style="long", with_zone=True)})
    if wanted("location"):
        values["location"] = location_label(booking)
    if wanted("manage_link", "reschedule_link", "cancel_link"):
        links = invitee_links(booking)
        values.update({"manage_link": links["view"], "reschedule_link": links["reschedule"],
                       "cancel_link": links["cancel"]})
    if wanted("host_name"):
        hosts = hosts_of_booking(booking) if stored else [host]
        values["host_name"] = ", ".join(user.name for user in hosts)
    if wanted("host_email"):
        values["host_email"] = host.email
    if wanted("answers", "answers_text"):
        answers = booking_answers(booking) if booking.event_type_id else []
        values.update({"answers": dict(answers),
                       "answers_text": "\n".join(f"{label}: {value}" for label, value in answers)})
    if wanted("payment_amount"):
        payment = payments.payment_of(booking) if stored else None
        values["payment_amount"] = money.format_amount(payment.amount, payment.currency) \
            if payment and payment.paid_at else ""
    return values


def texts_of(action: WorkflowAction) -> tuple[str, ...]:
    """The texts of ``action`` the host wrote with variables (an email's subject and body, a text's or a Slack
    message's body; a webhook has none)."""
    if action.kind == "webhook":
        return ()
    config = action.config or {}
    return tuple(config.get(key) or "" for key in ("subject", "body"))


# --- the rows an action needs -----------------------------------------------------------------------------------
def _load_query():
    host, kind = User.alias(), EventType.alias()
    return (WorkflowRunAction.select(WorkflowRunAction, WorkflowRun, WorkflowAction, Workflow, Booking, host, kind)
            .join_from(WorkflowRunAction, WorkflowRun, JOIN.LEFT_OUTER)
            .join_from(WorkflowRunAction, WorkflowAction, JOIN.LEFT_OUTER)
            .join_from(WorkflowRun, Workflow, JOIN.LEFT_OUTER)
            .join_from(WorkflowRun, Booking, JOIN.LEFT_OUTER)
            .join_from(Booking, host, JOIN.LEFT_OUTER, on=(Booking.user == host.id))
            .join_from(Booking, kind, JOIN.LEFT_OUTER, on=(Booking.event_type == kind.id))
            .where(WorkflowRunAction.id == Param("id")).limit(1))


_LOAD = Statement(_load_query)
_RESULT = Statement(lambda: WorkflowRunAction.select().where(WorkflowRunAction.id == Param("id")).limit(1))
_batch = threading.local()      # the rows a perform_workflow_actions task prefetched (``prefetched``)


@contextmanager
def prefetched(result_ids: list[str]) -> Iterator[None]:
    """While the block runs, ``perform`` of these action rows finds their action, workflow and booking (with its
    host and event type) already loaded: a few queries for the batch instead of one seven-table join per row. Only
    the action row itself is read again when its turn comes (its status and attempts must be current)."""
    _batch.rows = _prefetch(result_ids)
    try:
        yield
    finally:
        _batch.rows = None


def _by_id(model, ids: set) -> dict:
    return {row.id: row for row in model.select().where(model.id.in_(ids))} if ids else {}


def _prefetch(result_ids: list[str]) -> dict[str, tuple[str, str, WorkflowAction, Workflow, Booking]]:
    rows = list(WorkflowRunAction.select(WorkflowRunAction.id, WorkflowRunAction.action, WorkflowRun.id,
                                         WorkflowRun.workflow, Booking)
                .join_from(WorkflowRunAction, WorkflowRun)
                .join_from(WorkflowRun, Booking, on=(WorkflowRun.booking == Booking.id))
                .where(WorkflowRunAction.id.in_(result_ids) & WorkflowRunAction.action.is_null(False)))
    actions = _by_id(WorkflowAction, {row.action_id for row in rows})
    workflows = _by_id(Workflow, {row.run.workflow_id for row in rows})
    bookings = [row.run.booking for row in rows]
    users = _by_id(User, {booking.user_id for booking in bookings})
    kinds = _by_id(EventType, {booking.event_type_id for booking in bookings if booking.event_type_id})
    for workflow in workflows.values():
        if workflow.user_id in users:
            workflow.user = users[workflow.user_id]          # the host, read once
    loaded = {}
    for row, booking in zip(rows, bookings, strict=True):
        action, workflow = actions.get(row.action_id), workflows.get(row.run.workflow_id)
        host = users.get(booking.user_id)
        if action is None or workflow is None or host is None:
            continue                                          # load() finds out what is missing
        booking.user = host
        if booking.event_type_id in kinds:
            booking.event_type = kinds[booking.event_type_id]
        elif booking.event_type_id is not None:
            continue
        loaded[row.id] = (row.run.id, row.action_id, action, workflow, booking)
    return loaded


def load(result_id: str) -> tuple[WorkflowRunAction | None, WorkflowAction | None, Workflow | None,
                                  Booking | None]:
    """The action row with its action, workflow and booking (with the booking's host and event type): prefetched
    for a batch (``prefetched``), else one prepared query instead of six built each time (building them cost more
    than running them)."""
    known = (getattr(_batch, "rows", None) or {}).get(result_id)
    if known is not None:
        run_id, action_id, action, workflow, booking = known
        row = _RESULT.first(id=result_id)
        if row is None:
            return None, None, None, None
        if row.run_id == run_id and row.action_id == action_id:
            return row, action, workflow, booking
    return _load_joined(result_id)


def _load_joined(result_id: str) -> tuple[WorkflowRunAction | None, WorkflowAction | None, Workflow | None,
                                         Booking | None]:
    row = _LOAD.first(id=result_id)
    if row is None:
        return None, None, None, None

    def present(obj):
        return obj if obj is not None and obj.id is not None else None

    run = present(row.__rel__.get("run"))
    action = present(row.__rel__.get("action")) if row.action_id else None
    workflow = present(run.__rel__.get("workflow")) if run is not None else None
    booking = present(run.__rel__.get("booking")) if run is not None else None
    if booking is not None:
        user = present(booking.__rel__.get("user"))
        if user is not None and workflow is not None and workflow.user_id == user.id:
            workflow.user = user                 # the host, read once
        if booking.event_type_id is None:
            booking.__rel__.pop("event_type", None)
    return row, action, workflow, booking
