"""Peewee models by domain. ``ALL_MODELS`` lists them in dependency order."""
from app.models.accounts import OAuthIdentity, User, UserLogo, WebSession
from app.models.analytics import PageView, PageViewDaily, PageViewReferrer, PageVisitor
from app.models.audit import AuditLog
from app.models.bookings import Booking, BookingActivity, Contact, Reminder
from app.models.developer import ApiKey, Webhook, WebhookDelivery
from app.models.integrations import (
    BookingCalendarEvent,
    BookingMeeting,
    CalendarBusyCache,
    Integration,
    IntegrationCalendar,
)
from app.models.organizations import Invitation, Membership, Organization, Team, TeamMember
from app.models.outbox import OutboxMessage
from app.models.scheduling import EventType, Schedule

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
