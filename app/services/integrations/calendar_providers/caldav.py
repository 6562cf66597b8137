"""CalDAV and iCloud accounts: connecting (discovery), busy time by REPORT per calendar, and booking events
written as iCalendar objects (``If-None-Match: *`` to create, ``If-Match`` to replace, DELETE)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.db import transaction
from app.integrations import caldav
from app.integrations.errors import AuthRevoked, IntegrationError, NotFound, PreconditionFailed
from app.integrations.ical import Budget
from app.models import Integration, User
from app.models.base import utcnow
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.integrations.calendar_providers.base import (
    BusyRead,
    EventDraft,
    RemoteCalendar,
    WrittenEvent,
    allow_private,
    clean_url,
    own_uids,
    secret,
    timeout,
)
from app.services.integrations.connections import lock_user, sealed, service_name, sync_calendars


def caldav_client(integration: Integration) -> caldav.CalDAVClient:
    data = secret(integration, "username", "password")
    return caldav.CalDAVClient(integration.server_url or "", data.get("username", ""), data.get("password", ""),
                               timeout=timeout(), allow_private=allow_private())


PROVIDER = "caldav"


class CalDAVCalendars:
    name = PROVIDER
    writable = True
    video_locations: tuple[str, ...] = ()

    def list_calendars(self, integration: Integration) -> list[RemoteCalendar]:
        return [RemoteCalendar(c.url, c.name, c.color, c.writable)
                for c in caldav_client(integration).discover().calendars]

    def read_busy(self, integration: Integration, calendars: Sequence, lo: datetime, hi: datetime, tz, *,
                  windows: int = 1) -> BusyRead:
        client = caldav_client(integration)
        read = BusyRead()
        for cal in calendars:
            try:
                budget = Budget(windows=windows)
                read.intervals[cal.id] = client.busy(cal.remote_id, lo, hi, tz, own_uids(integration.user_id), budget)
                if budget.partial:
                    read.partial.append(cal.name)
            except AuthRevoked:
                raise               # the account, not this calendar: every calendar says so
            except IntegrationError as exc:
                read.errors[cal.id] = str(exc)
        return read

    def failure_text(self, integration: Integration, exc: IntegrationError) -> str:
        return exc.message

    def create_event(self, integration: Integration, calendar_id: str, draft: EventDraft, *, first: bool = True,
                     with_meet: bool = False) -> WrittenEvent:
        client = caldav_client(integration)
        url = client.event_url(calendar_id, draft.key)
        return WrittenEvent(url, _save(client, url, draft.ics(), None, create=True)[0])

    def update_event(self, integration: Integration, mapping, draft: EventDraft, *,
                     with_meet: bool = False) -> WrittenEvent:
        client = caldav_client(integration)
        etag, recreated = _save(client, mapping.href, draft.ics(), mapping.etag, create=False)
        return WrittenEvent(mapping.href, etag, recreated=recreated)

    def delete_event(self, integration: Integration, mapping) -> None:
        caldav_client(integration).delete_event(mapping.href, etag=mapping.etag)


def _save(client: caldav.CalDAVClient, url: str, ics: bytes, etag: str | None, *,
          create: bool) -> tuple[str | None, bool]:
    """(the event's etag, whether a replace found it deleted in the calendar and created it again)."""
    try:
        return client.put_event(url, ics, etag=etag, create=create), False
    except PreconditionFailed:
        # Created by an earlier attempt, or edited in the calendar since: ours to overwrite.
        try:
            current = client.etag(url)
        except NotFound:    # deleted in the calendar since (servers answer If-Match on a missing event with 412)
            return client.put_event(url, ics, create=True), not create
        return client.put_event(url, ics, etag=current), False
    except NotFound:
        if create:
            raise
        return client.put_event(url, ics, create=True), True


# --- connecting ----------------------------------------------------------------------------------------------
def _connect_error(exc: IntegrationError, url_field: str) -> dict[str, str]:
    if isinstance(exc, AuthRevoked):
        return {"password": "The server refused this user name and password. For iCloud use an app-specific "
                            "password (appleid.apple.com → Sign-In and Security → App-Specific Passwords)."}
    message = str(exc).split(": ", 1)[-1]
    return {url_field: f"We could not connect: {message}"}


def connect_caldav(user: User, *, server_url: str, username: str, password: str, ip: str | None = None) -> Integration:
    """Discover the account's calendars and store the connection; a failure stores nothing."""
    errors: dict[str, str] = {}
    url = clean_url(server_url, "server_url", errors, "https://caldav.example.com/",
                    credentials_hint="Enter them in the User name and Password fields.")
    username = (username or "").strip()
    if not username:
        errors["username"] = "Enter the user name (for iCloud: your Apple ID email)."
    elif len(username) > 254:
        errors["username"] = "Use at most 254 characters."
    if not password:
        errors["password"] = "Enter the password (for iCloud: an app-specific password)."
    elif len(password) > 1000:
        errors["password"] = "Use at most 1000 characters."
    if errors:
        raise ValidationFailed(errors)
    client = caldav.CalDAVClient(url, username, password, timeout=timeout(), allow_private=allow_private())
    try:
        account = client.discover()
    except IntegrationError as exc:
        raise ValidationFailed(_connect_error(exc, "server_url")) from None
    if not account.calendars:
        raise ValidationFailed({"server_url": "This account has no calendars that hold events."})
    stored = sealed({"username": username, "password": password})
    with transaction(immediate=True):
        lock_user(user)
        integration = (Integration.select().where((Integration.user == user) & (Integration.provider == PROVIDER)
                                                  & (Integration.server_url == url)
                                                  & (Integration.account_email == username)).first())
        if integration is None:
            integration = Integration.create(user=user, provider=PROVIDER, label=account.display_name or username,
                                             account_email=username, server_url=url, credentials=stored)
        else:   # connecting the same account again: new password, calendars brought up to date
            integration.credentials, integration.status, integration.last_error = stored, "connected", None
            integration.updated_at = utcnow()
            integration.save()
        sync_calendars(user, integration, [(c.url, c.name, c.color, c.writable) for c in account.calendars])
        audit.record("integration.connected", resource="integration", resource_id=integration.id, user=user, ip=ip,
                     details={"service": service_name(integration), "account": username})
    return integration
