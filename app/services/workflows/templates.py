"""The six workflow templates of spec page 12, each a filled-in editor with sensible default text.

``template_input(key)`` is what "Use template" puts in the new-workflow editor; the host saves it as it is (a
Slack template asks for the channel's webhook URL first, the SMS one needs Twilio and the Pro plan).
"""
from __future__ import annotations

from dataclasses import dataclass

from app.services.workflows.definitions import ActionInput, WorkflowInput


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    trigger: str
    offset_minutes: int
    actions: tuple[ActionInput, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(action.kind for action in self.actions)


_THANKS = """Hi {{ invitee_name }},

Thank you for booking {{ event_name }} with {{ host_name }}. We look forward to speaking with you on {{ start_time }}.

{% if meeting_link %}Join here: {{ meeting_link }}
{% endif %}Need another time? Reschedule: {{ reschedule_link }}

See you soon,
{{ host_name }}"""

_PAYMENT = """Hi {{ invitee_name }},

We received your payment of {{ payment_amount }} for {{ event_name }} on {{ start_time }}. Thank you.

Your booking: {{ manage_link }}

{{ host_name }}"""

_CANCELLED = """Hi {{ invitee_name }},

Your {{ event_name }} with {{ host_name }} on {{ start_time }} was cancelled\
{% if cancel_reason %} ({{ cancel_reason }}){% endif %}.

If you would still like to meet, you can book another time whenever it suits you.

{{ host_name }}"""

_SURVEY = """Hi {{ invitee_name }},

Thank you for meeting with {{ host_name }} for {{ event_name }}. How did it go? A short reply to this email with what
worked and what could be better helps us a lot.

{{ host_name }}"""

TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template("thank_you_email", "Thank You Email", "Sends a thank-you after booking.", "booking_created", 0,
             (ActionInput(kind="email", recipient="invitee", subject="Thank you for booking {{ event_name }}",
                          body=_THANKS),)),
    Template("meeting_reminder", "Meeting Reminder", "SMS reminder before the meeting.", "before_meeting", 60,
             (ActionInput(kind="sms", recipient="invitee",
                          body="Reminder: {{ event_name }} with {{ host_name }} at {{ start_time }}. "
                               "{% if meeting_link %}Join: {{ meeting_link }} {% endif %}"
                               "Reschedule: {{ reschedule_link }}"),)),
    Template("team_notification", "Team Notification", "Slack message when a booking is created.",
             "booking_created", 0,
             (ActionInput(kind="slack",
                          body="*New booking:* {{ invitee_name }} ({{ invitee_email }}) booked *{{ event_name }}* "
                               "with {{ host_name }} for {{ start_time_host }}."),)),
    Template("payment_confirmation", "Payment Confirmation", "Email after payment received.", "payment_received", 0,
             (ActionInput(kind="email", recipient="invitee", subject="Payment received: {{ event_name }}",
                          body=_PAYMENT),)),
    Template("cancellation_follow_up", "Cancellation Follow-up", "Email when someone cancels.", "booking_cancelled",
             0, (ActionInput(kind="email", recipient="invitee", subject="Your {{ event_name }} was cancelled",
                             body=_CANCELLED),)),
    Template("post_meeting_survey", "Post-Meeting Survey", "Email after the meeting ends.", "after_meeting", 60,
             (ActionInput(kind="email", recipient="invitee", subject="How was {{ event_name }}?", body=_SURVEY),)),
)}


def template_input(key: str) -> WorkflowInput | None:
    """The editor's input for template ``key`` (enabled, all event types); None for an unknown key."""
    template = TEMPLATES.get(key)
    if template is None:
        return None
    return WorkflowInput(name=template.name, trigger=template.trigger, offset_minutes=template.offset_minutes or 60,
                         all_event_types=True, enabled=True,
                         actions=[ActionInput(**vars(action)) for action in template.actions])
