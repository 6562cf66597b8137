"""Add-to-calendar links: one meeting as a prefilled "new event" page of Google Calendar, Outlook.com,
Microsoft 365 (Office 365) and Yahoo Calendar. Pure URL building (no Flask, no database), shared by the
invitee's booking page (``app.web.invitee``) and the booking emails (``app.services.booking.notifications``).

Every target gets UTC instants, so the event lands at the same moment whatever the calendar's own zone.
"""
from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

GOOGLE = "https://calendar.google.com/calendar/render"
OUTLOOK = "https://outlook.live.com/calendar/0/deeplink/compose"
OFFICE = "https://outlook.office.com/calendar/0/deeplink/compose"
YAHOO = "https://calendar.yahoo.com/"

TARGETS = (("google", "Google Calendar"), ("outlook", "Outlook.com"), ("office", "Microsoft 365"),
           ("yahoo", "Yahoo Calendar"))


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def calendar_links(start: datetime, end: datetime, title: str, details: str, where: str) -> dict[str, str]:
    """``{"google": url, "outlook": url, "office": url, "yahoo": url}`` for a meeting from ``start`` to ``end``
    (aware instants; naive ones count as UTC), with its title, description and location."""
    start, end = _utc(start), _utc(end)
    stamp, iso = "%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ"
    google = {"action": "TEMPLATE", "text": title, "details": details, "location": where,
              "dates": f"{start:{stamp}}/{end:{stamp}}"}
    outlook = {"path": "/calendar/action/compose", "rru": "addevent", "subject": title, "body": details,
               "location": where, "startdt": f"{start:{iso}}", "enddt": f"{end:{iso}}"}
    yahoo = {"v": "60", "title": title, "st": f"{start:{stamp}}", "et": f"{end:{stamp}}", "desc": details,
             "in_loc": where}
    return {"google": f"{GOOGLE}?{urlencode(google)}", "outlook": f"{OUTLOOK}?{urlencode(outlook)}",
            "office": f"{OFFICE}?{urlencode(outlook)}", "yahoo": f"{YAHOO}?{urlencode(yahoo)}"}
