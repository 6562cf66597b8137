"""Email: messages are rendered when queued and delivered by the outbox worker.

Delivery goes to the configured SMTP server. In development without SMTP settings each message is
written to ``INSTANCE_DIR/mail/*.eml`` and logged, so password reset works offline.
"""
from __future__ import annotations

import base64
import json
import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import current_app, render_template

from app.instance import private_dir, write_private
from app.services import outbox
from app.services.outbox import PermanentFailure
from app.services.validation import single_line

log = logging.getLogger(__name__)


def queue_email(to: str | list[str], subject: str, template: str, *, user_id: str | None = None,
                attachments: list[dict] | None = None, reply_to: str | None = None,
                booking_id: str | None = None, **context) -> None:
    """Render ``email/<template>.txt`` and ``.html`` and queue the message through the outbox.

    ``attachments``: dicts with ``filename``, ``content_type`` (e.g. ``text/calendar; method=REQUEST``) and
    ``data`` (str or bytes). With ``booking_id``, a message that is finally given up is noted in that
    booking's activity log (which said "queued" when it was queued).
    """
    recipients = [to] if isinstance(to, str) else list(to)
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    payload = {
        "to": recipients, "subject": subject, "text": text, "html": html, "reply_to": reply_to,
        "attachments": [
            {"filename": a["filename"], "content_type": a["content_type"],
             "data_b64": base64.b64encode(a["data"].encode() if isinstance(a["data"], str) else a["data"]).decode()}
            for a in (attachments or [])
        ],
    }
    # Sealed with the AES-256-GCM key: a queued message can hold a password-reset link or an invitee's
    # answers, and the outbox row stays in the database until (and after) it is delivered.
    sealed = current_app.extensions["linktime_encryptor"].encrypt(json.dumps(payload, separators=(",", ":")))
    outbox.add("email", {"sealed": sealed, **({"booking_id": booking_id} if booking_id else {})}, user_id=user_id)


def unseal(payload: dict) -> dict:
    """The message of an outbox row (rows queued before sealing existed hold it in plain form)."""
    if "sealed" not in payload:
        return payload
    return json.loads(current_app.extensions["linktime_encryptor"].decrypt(payload["sealed"]))


def build_message(payload: dict, sender: str) -> EmailMessage:
    """The message; header values are made single-line first (a subject holds names typed by people, and
    a line break in a header would make the message impossible to build, on every retry)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(single_line(to) for to in payload["to"])
    msg["Subject"] = single_line(payload["subject"])
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="linktime.local")
    if payload.get("reply_to"):
        msg["Reply-To"] = single_line(payload["reply_to"])
    msg.set_content(payload["text"])
    msg.add_alternative(payload["html"], subtype="html")
    for att in payload.get("attachments", []):
        maintype, _, rest = att["content_type"].partition("/")
        subtype, *params = [p.strip() for p in rest.split(";")]
        data = base64.b64decode(att["data_b64"])
        extra = dict(p.split("=", 1) for p in params if "=" in p)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=att["filename"], params=extra)
    return msg


def _smtp_settings(cfg) -> dict | None:
    if cfg.get("SMTP_URL"):
        u = urlparse(cfg["SMTP_URL"])
        tls = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "ssl"}.get(u.scheme)
        if tls is None:
            raise PermanentFailure("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        return {"host": u.hostname, "port": u.port or {"none": 25, "starttls": 587, "ssl": 465}[tls],
                "user": unquote(u.username or ""), "password": unquote(u.password or ""), "tls": tls}
    if cfg.get("SMTP_HOST"):
        return {"host": cfg["SMTP_HOST"], "port": cfg["SMTP_PORT"], "user": cfg["SMTP_USER"],
                "password": cfg["SMTP_PASSWORD"], "tls": cfg["SMTP_TLS"]}
    return None


def _write_eml(msg: EmailMessage, instance_dir: str) -> Path:
    folder = private_dir(private_dir(instance_dir) / "mail")  # reset links inside: 0700 folders, 0600 files
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{msg['Message-ID'].strip('<>').split('@')[0]}.eml"
    return write_private(path, bytes(msg))


@outbox.handler("email")
def deliver(payload: dict) -> None:
    cfg = current_app.config
    payload = unseal(payload)
    try:
        msg = build_message(payload, cfg["MAIL_FROM"])
    except (ValueError, TypeError) as exc:  # no retry can fix the message itself
        raise PermanentFailure(f"the message cannot be built: {exc}") from exc
    settings = _smtp_settings(cfg)
    if settings is None:
        path = _write_eml(msg, cfg["INSTANCE_DIR"])
        log.info("no SMTP server configured: wrote %r to %s", payload["subject"], path)
        return
    context = ssl.create_default_context()
    timeout = cfg["SMTP_TIMEOUT"]
    if settings["tls"] == "ssl":
        client = smtplib.SMTP_SSL(settings["host"], settings["port"], timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(settings["host"], settings["port"], timeout=timeout)
    try:
        if settings["tls"] == "starttls":
            client.starttls(context=context)
        if settings["user"]:
            client.login(settings["user"], settings["password"])
        try:
            client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipients refused: {', '.join(exc.recipients)}") from exc
    finally:
        try:
            client.quit()
        except smtplib.SMTPException:
            pass


@outbox.on_failure("email")
def _note_failure(payload: dict, error: str) -> None:
    """An email about a booking was given up: say so in the booking's activity log."""
    booking_id = payload.get("booking_id")
    if not booking_id:
        return
    from app.models import BookingActivity

    to = ", ".join(unseal(payload).get("to") or [])
    BookingActivity.create(booking=booking_id, kind="email",
                           message=f"Email to {to} could not be delivered: {error}"[:1000])
