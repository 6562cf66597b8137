"""Slack incoming webhooks (issue 17, workflows): check a pasted webhook URL and post a message to it.

An incoming-webhook URL looks like ``https://hooks.slack.com/services/T.../B.../<secret>``: the URL itself is the
credential (store it encrypted, never log it). ``check_url`` accepts only that shape; the setting
``SLACK_WEBHOOK_BASE`` (default ``https://hooks.slack.com``) replaces the accepted scheme and host so a local fake
(``tests/fakes/slack.py``) can stand in, e.g. ``http://127.0.0.1:<port>``.

``post_message`` POSTs the payload as JSON (``text`` and/or ``blocks``) through ``app.net``'s guarded session inside
``net.deadline``. Slack answers 200 ``ok`` on success, else a status with a plain-text error string:

* 404 ``no_service`` (the webhook was removed or its app uninstalled), 404 ``channel_not_found``, 404
  ``team_disabled``, 410 ``channel_is_archived``, 403 ``action_prohibited``, ``invalid_token`` or
  ``posting_to_general_channel_denied``: ``SlackWebhookRevoked`` (an ``AuthRevoked``): the webhook will not work
  again; disable the action and tell the host.
* other 4xx (400 ``invalid_payload``, ``no_text``, ``too_many_attachments``, ``user_not_found``, ...):
  ``PermanentError`` carrying Slack's text.
* 429 (``Retry-After`` kept), 5xx, timeouts and network errors: ``TransientError``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from app import net
from app.integrations.errors import AuthRevoked, PermanentError, TransientError, retry_after_seconds

PROVIDER = "slack"
DEFAULT_BASE = "https://hooks.slack.com"
DEFAULT_TIMEOUT = 10.0
REVOKED = {"no_service", "channel_not_found", "channel_is_archived", "action_prohibited", "invalid_token",
           "team_disabled", "posting_to_general_channel_denied"}
PATH = re.compile(r"/services/(T[A-Z0-9]{1,30})/(B[A-Z0-9]{1,30})/([A-Za-z0-9]{8,64})")


class SlackWebhookRevoked(AuthRevoked):
    """The webhook no longer posts anywhere (removed, channel gone or archived, app uninstalled)."""


def _settings(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if config is not None:
        return config
    from flask import current_app
    return current_app.config


def webhook_base(config: Mapping[str, Any] | None = None) -> str:
    return str(_settings(config).get("SLACK_WEBHOOK_BASE") or DEFAULT_BASE).rstrip("/")


def check_url(url: str, config: Mapping[str, Any] | None = None) -> str:
    """``url`` if it is a Slack incoming-webhook URL (``https://hooks.slack.com/services/T…/B…/secret``); ValueError
    with a plain message otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("Paste the Slack webhook URL (it starts with https://hooks.slack.com/services/).")
    url = url.strip()
    base = urlsplit(webhook_base(config))
    parts = urlsplit(url)
    hint = f"{base.scheme}://{base.netloc}/services/"
    if parts.scheme != base.scheme or (parts.netloc or "").lower() != base.netloc.lower():
        raise ValueError(f"This is not a Slack incoming-webhook URL: it must start with {hint}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("A Slack webhook URL has no query, fragment or password.")
    prefix = base.path.rstrip("/")
    if not parts.path.startswith(prefix) or not PATH.fullmatch(parts.path[len(prefix):]):
        raise ValueError(f"This Slack webhook URL is incomplete: it looks like {hint}T…/B…/… (copy it whole from "
                         "Slack's Incoming Webhooks page).")
    return url


def _allow_private(url: str) -> bool:
    """A base other than Slack's (a local fake) may be on a private or loopback address; Slack's never."""
    try:
        from flask import current_app
        base = webhook_base(current_app.config)
    except RuntimeError:                                   # outside an app: only the real Slack
        base = DEFAULT_BASE
    return base != DEFAULT_BASE and url.startswith(base + "/")


def post_message(url: str, payload: dict, *, allow_private: bool | None = None, timeout: float | None = None) -> None:
    """POST ``payload`` (``text`` and/or ``blocks``) to the incoming webhook ``url``; raises the failure kinds."""
    if allow_private is None:
        allow_private = _allow_private(url)
    if timeout is None:
        try:
            from flask import current_app
            timeout = float(current_app.config.get("INTEGRATION_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)
        except RuntimeError:
            timeout = DEFAULT_TIMEOUT
    body = json.dumps(payload, ensure_ascii=False).encode()
    try:
        with net.deadline(timeout):
            answer = net.session(allow_private).post(
                url, data=body, headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=(min(5.0, timeout), timeout), allow_redirects=False)
            text = answer.text[:300].strip()
    except net.AddressNotAllowed as exc:
        raise PermanentError(f"Slack webhook: {exc}", provider=PROVIDER) from exc
    except (requests.RequestException, OSError) as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, net.AddressNotAllowed):
                raise PermanentError(f"Slack webhook: {cause}", provider=PROVIDER) from exc
            cause = cause.__cause__ or cause.__context__
        raise TransientError("Slack could not be reached or did not answer in time.", provider=PROVIDER) from exc
    status = answer.status_code
    if 200 <= status < 300:
        return
    code = text.split()[0] if text else None
    kwargs = {"provider": PROVIDER, "status": status, "code": code}
    if status == 429 or status >= 500:
        raise TransientError(f"Slack answered {status}" + (f" ({text})" if text else "") + "; will try again.",
                             retry_after=retry_after_seconds(answer.headers.get("Retry-After")), **kwargs)
    if code in REVOKED or status in (404, 410):
        raise SlackWebhookRevoked(f"The Slack webhook no longer works ({code or status}): it was removed, or its "
                                  "channel was deleted or archived. Paste a new webhook URL.", **kwargs)
    raise PermanentError(f"Slack refused the message ({status}" + (f": {text}" if text else "") + ").", **kwargs)
