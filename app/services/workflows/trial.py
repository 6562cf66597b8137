"""The Test button of a workflow: its actions run now against a sample booking, each result said in plain words.

Nothing is stored (no run, no history). The sample booking is not in the database: tomorrow at the hour, with the
host's first event type and an invitee "Alex Example"; emails go to the host, SMS to the number the host typed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.integrations.errors import IntegrationError
from app.models import Booking, EventType, User
from app.models.base import utcnow
from app.services.workflows import templating
from app.services.workflows.actions import WORKFLOW_ACTIONS, Job, Retry, Skip
from app.services.workflows.definitions import ACTION_LABELS, actions_of, get_workflow
from app.services.workflows.loading import variables


@dataclass(frozen=True)
class TestResult:
    action: str
    status: str                               # sent | skipped | failed
    detail: str


def sample_booking(user: User, now: datetime | None = None) -> Booking:
    """A booking that is not stored, tomorrow at ten on the host's clock, with the host's first event type."""
    now = now or utcnow()
    event_type = (EventType.select().where(EventType.user == user).order_by(EventType.created_at).first())
    start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    length = event_type.duration if event_type else 30
    return Booking(id="sample", uid="sample-booking", user=user, event_type=event_type,
                   event_name=event_type.name if event_type else "Sample meeting", start_at=start,
                   end_at=start + timedelta(minutes=length), invitee_name="Alex Example",
                   invitee_email="alex@example.com", invitee_timezone=user.timezone, status="CONFIRMED",
                   location_type=event_type.location_type if event_type else "none",
                   location=(event_type.location_detail or None) if event_type else None, answers={},
                   created_at=now)


def test_workflow(user: User, workflow_id: str, *, phone: str | None = None) -> list[TestResult]:
    """Run the workflow's actions now against a sample booking and say how each went (emails go to the host)."""
    workflow = get_workflow(user, workflow_id)
    now = utcnow()
    booking = sample_booking(user, now)
    values = variables(booking, host=user)
    results = []
    for action in actions_of(workflow):
        label = ACTION_LABELS[action.kind]
        job = Job(result=None, action=action, workflow=workflow, booking=booking, values=values, now=now, test=True,
                  phone=phone)
        try:
            sent = WORKFLOW_ACTIONS[action.kind](job)
            results.append(TestResult(label, "sent", sent.note if sent else "Sent"))
        except Skip as exc:
            results.append(TestResult(label, "skipped", str(exc)))
        except (templating.TemplateFailed, IntegrationError, Retry) as exc:
            results.append(TestResult(label, "failed", str(exc)))
    return results

