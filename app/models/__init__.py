"""Peewee models by domain. ``ALL_MODELS`` lists them in dependency order."""
from app.models.accounts import OAuthIdentity, User, UserLogo, WebSession
from app.models.analytics import PageView, PageViewDaily, PageViewReferrer, PageVisitor
from app.models.audit import AuditLog
from app.models.bookings import Booking, BookingActivity, BookingHost, Contact, Reminder
from app.models.developer import ApiKey, Webhook, WebhookDelivery
from app.models.integrations import (
    BookingCalendarEvent,
    BookingMeeting,
    CalendarBusyCache,
    Integration,
    IntegrationCalendar,
)
from app.models.organizations import Invitation, Membership, Organization, OrganizationLogo, Team, TeamMember
from app.models.outbox import OutboxMessage
from app.models.scheduling import EventType, EventTypeHost, Schedule

ALL_MODELS = [User, UserLogo, OAuthIdentity, AuditLog, OutboxMessage, Schedule, EventType, Contact, Booking,
              BookingActivity, Reminder, ApiKey, Webhook, WebhookDelivery]

__all__ = ["ALL_MODELS", "ApiKey", "AuditLog", "Booking", "BookingActivity", "Contact", "EventType", "OAuthIdentity",
           "OutboxMessage", "Reminder", "Schedule", "User", "UserLogo", "Webhook", "WebhookDelivery"]

ALL_MODELS += [Integration, IntegrationCalendar, CalendarBusyCache, BookingCalendarEvent, BookingMeeting]
__all__ += ["BookingCalendarEvent", "BookingMeeting", "CalendarBusyCache", "Integration", "IntegrationCalendar"]

ALL_MODELS += [PageView, PageViewDaily, PageViewReferrer, PageVisitor]
__all__ += ["PageView", "PageViewDaily", "PageViewReferrer", "PageVisitor"]

ALL_MODELS += [WebSession]
__all__ += ["WebSession"]

ALL_MODELS += [Organization, Membership, Invitation, Team, TeamMember]
__all__ += ["Invitation", "Membership", "Organization", "Team", "TeamMember"]

ALL_MODELS += [EventTypeHost, BookingHost]
__all__ += ["BookingHost", "EventTypeHost"]

ALL_MODELS += [OrganizationLogo]
__all__ += ["OrganizationLogo"]

from app.models.payments import Payment, PaymentEvent, Refund  # noqa: E402

ALL_MODELS += [Payment, Refund, PaymentEvent]
__all__ += ["Payment", "PaymentEvent", "Refund"]

from app.models.workflows import (  # noqa: E402
    SmsOptOut,
    Workflow,
    WorkflowAction,
    WorkflowEventType,
    WorkflowRun,
    WorkflowRunAction,
)

ALL_MODELS += [Workflow, WorkflowEventType, WorkflowAction, WorkflowRun, WorkflowRunAction, SmsOptOut]
__all__ += ["SmsOptOut", "Workflow", "WorkflowAction", "WorkflowEventType", "WorkflowRun", "WorkflowRunAction"]

from app.models.routing import RoutingForm, RoutingResponse  # noqa: E402

ALL_MODELS += [RoutingForm, RoutingResponse]
__all__ += ["RoutingForm", "RoutingResponse"]

from app.models.crm import BookingCrmSync  # noqa: E402

ALL_MODELS += [BookingCrmSync]
__all__ += ["BookingCrmSync"]

from app.models.close_links import CloseLink  # noqa: E402

ALL_MODELS += [CloseLink]
__all__ += ["CloseLink"]

from app.models.scim import ScimToken, ScimUser  # noqa: E402

ALL_MODELS += [ScimToken, ScimUser]
__all__ += ["ScimToken", "ScimUser"]

from app.models.domains import CustomDomain  # noqa: E402

ALL_MODELS += [CustomDomain]
__all__ += ["CustomDomain"]

from app.models.voice import (  # noqa: E402
    CallLog,
    PhoneNumber,
    VoiceAgent,
    VoiceAgentEventType,
    VoicePeriodNotice,
    VoiceToolBooking,
)

ALL_MODELS += [PhoneNumber, VoiceAgent, VoiceAgentEventType, CallLog, VoiceToolBooking, VoicePeriodNotice]
__all__ += ["CallLog", "PhoneNumber", "VoiceAgent", "VoiceAgentEventType", "VoicePeriodNotice", "VoiceToolBooking"]

from app.models.messaging import (  # noqa: E402
    Conversation,
    ConversationMessage,
    MessagingAgent,
    MessagingAgentEventType,
    MessagingCircuit,
    MessagingPoolNotice,
    WhatsAppSender,
)

ALL_MODELS += [MessagingAgent, MessagingAgentEventType, Conversation, ConversationMessage, WhatsAppSender,
               MessagingCircuit, MessagingPoolNotice]
__all__ += ["Conversation", "ConversationMessage", "MessagingAgent", "MessagingAgentEventType", "MessagingCircuit",
            "MessagingPoolNotice", "WhatsAppSender"]

from app.models.one_time_links import OneTimeLink, OneTimeLinkTime  # noqa: E402

ALL_MODELS += [OneTimeLink, OneTimeLinkTime]
__all__ += ["OneTimeLink", "OneTimeLinkTime"]
from app.models.out_of_office import OutOfOffice  # noqa: E402

ALL_MODELS += [OutOfOffice]
__all__ += ["OutOfOffice"]
from app.models.guests import BookingGuest  # noqa: E402

ALL_MODELS += [BookingGuest]
__all__ += ["BookingGuest"]
from app.models.scheduling import HostBookingLimits  # noqa: E402

ALL_MODELS += [HostBookingLimits]
__all__ += ["HostBookingLimits"]
