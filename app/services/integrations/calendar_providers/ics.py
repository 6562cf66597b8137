"""ICS feeds (a calendar's secret address in iCalendar format): read-only, busy time only."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from app.db import transaction
from app.integrations import ics_feed
from app.integrations.errors import IntegrationError
from app.integrations.ical import Budget
from app.models import Integration, IntegrationCalendar, User
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.integrations.calendar_providers.base import (
    BusyRead,
    ReadOnly,
    RemoteCalendar,
    allow_private,
    clean_url,
    own_uids,
    secret,
    timeout,
)
from app.services.integrations.connections import SERVICES, cfg, credentials, lock_user, sealed

PROVIDER = "ics"
FEED_CALENDAR = "feed"          # the remote id of a feed's one calendar


def feed_url(integration: Integration) -> str:
    return secret(integration, "url")["url"]


def _fetch(url: str):
    return ics_feed.fetch(url, timeout=timeout(), allow_private=allow_private(),
                          max_bytes=int(cfg("CALENDAR_FEED_MAX_BYTES")))


class IcsFeedCalendar(ReadOnly):
    name = PROVIDER
    writable = False
    video_locations: tuple[str, ...] = ()

    def list_calendars(self, integration: Integration) -> list[RemoteCalendar]:
        return [RemoteCalendar(FEED_CALENDAR, integration.label, None, False)]

    def read_busy(self, integration: Integration, calendars: Sequence, lo: datetime, hi: datetime, tz, *,
                  windows: int = 1) -> BusyRead:
        feed = _fetch(feed_url(integration))
        budget = Budget(windows=windows)
        busy = ics_feed.busy(feed, lo, hi, tz, own_uids(integration.user_id), budget)
        read = BusyRead(intervals={cal.id: busy for cal in calendars})
        if budget.partial:
            read.partial.append(integration.label)
        return read

    def failure_text(self, integration: Integration, exc: IntegrationError) -> str:
        return exc.message


def connect_ics(user: User, *, url: str, name: str | None = None, ip: str | None = None) -> Integration:
    errors: dict[str, str] = {}
    url = clean_url(ics_feed.normalize_url(url or ""), "feed_url", errors, "https://example.com/calendar.ics",
                    credentials_hint="Use the feed's secret address; a calendar that needs a password can be "
                                     "connected as a CalDAV account, with the password in its own field.")
    name = (name or "").strip()
    if len(name) > 200:
        errors["feed_name"] = "Use at most 200 characters."
    if errors:
        raise ValidationFailed(errors)
    for existing in Integration.select().where((Integration.user == user) & (Integration.provider == PROVIDER)):
        if credentials(existing).get("url") == url:
            raise ValidationFailed({"feed_url": f"This feed is connected already (“{existing.label}”)."})
    try:
        feed = _fetch(url)
    except IntegrationError as exc:
        raise ValidationFailed({"feed_url": f"We could not read this feed: {str(exc).split(': ', 1)[-1]}"}) from None
    label = name or ics_feed.name_of(feed) or (urlsplit(url).hostname or "Calendar feed")
    with transaction(immediate=True):
        lock_user(user)
        integration = Integration.create(user=user, provider=PROVIDER, label=label[:200],
                                         server_url=ics_feed.display_url(url), credentials=sealed({"url": url}))
        IntegrationCalendar.create(integration=integration, user=user, remote_id=FEED_CALENDAR, name=label[:200],
                                   writable=False, check_conflicts=True)
        audit.record("integration.connected", resource="integration", resource_id=integration.id, user=user, ip=ip,
                     details={"service": SERVICES[PROVIDER]})
    return integration
