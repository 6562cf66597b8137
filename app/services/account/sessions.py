"""Signed-in sessions of an account: listing and ending them (the store itself: app/web/server_session.py)."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.models import User, WebSession
from app.models.base import utcnow


def expired(row: WebSession, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
    return now - row.last_seen_at > idle or now - row.created_at > absolute


def end(session_id: str) -> None:
    WebSession.delete().where(WebSession.id == session_id).execute()


def active(user: User, idle: timedelta, absolute: timedelta) -> list[WebSession]:
    """The account's live sessions, most recently used first."""
    now = utcnow()
    rows = (WebSession.select(WebSession.id, WebSession.user, WebSession.created_at, WebSession.last_seen_at,
                              WebSession.ip, WebSession.user_agent)
            .where(WebSession.user == user.id).order_by(WebSession.last_seen_at.desc(), WebSession.id))
    return [row for row in rows if not expired(row, now, idle, absolute)]


def end_one(user: User, session_id: str) -> bool:
    """End one session of ``user``; False when there is no such session of theirs."""
    return WebSession.delete().where((WebSession.id == session_id) & (WebSession.user == user.id)).execute() > 0


def end_all(user: User | str, *, keep: str | None = None) -> int:
    """End every session of the account (but ``keep``, the id of the current one). Returns how many ended."""
    user_id = user if isinstance(user, str) else user.id
    query = WebSession.delete().where(WebSession.user == user_id)
    if keep:
        query = query.where(WebSession.id != keep)
    return query.execute()


def remove_expired(idle: timedelta, absolute: timedelta) -> int:
    """Delete sessions past their idle or absolute lifetime (daily housekeeping)."""
    now = utcnow()
    return (WebSession.delete()
            .where((WebSession.last_seen_at < now - idle) | (WebSession.created_at < now - absolute))
            .execute())


def describe_device(user_agent: str | None) -> str:
    """A short, human description of a browser from its User-Agent: "Firefox on Linux"."""
    ua = user_agent or ""
    browser = next((name for token, name in (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                                             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"),
                                             ("Safari/", "Safari")) if token in ua), None)
    system = next((name for token, name in (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"),
                                            ("iPad", "iPadOS"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
                                            ("Linux", "Linux")) if token in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:60] if ua else "Unknown device")
