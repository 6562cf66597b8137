"""A fake of Slack's incoming webhooks.

Served on ``127.0.0.1:<free port>`` from a thread (``with SlackFake() as fake``); point ``SLACK_WEBHOOK_BASE`` at
``fake.url``. ``fake.new_webhook()`` answers a fresh ``{url}/services/T…/B…/<secret>`` URL. A POST to it, as Slack
answers:

* ``Content-Type: application/json`` with a JSON object holding ``text`` or ``blocks`` (or ``attachments``): 200
  ``ok`` (text/html), and the payload is kept (``fake.received[url]``);
* another content type or a body that is not a JSON object: 400 ``invalid_payload``; no ``text``/``blocks``: 400
  ``no_text``;
* a URL the fake never issued, or one the test revoked (``revoke(url)``): 404 ``no_service``; an archived
  channel (``archive(url)``): 410 ``channel_is_archived``; ``remove_channel(url)``: 404 ``channel_not_found``;
* ``rate_limit(url, retry_after=30, times=1)``: 429 ``rate_limited`` with ``Retry-After``; ``fail(url, status)``:
  that status (500 ``internal_error``); ``hang(url, seconds)`` holds the next answer back.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections import defaultdict
from typing import Any

from flask import Response, request

from tests.fakes.flask_server import FlaskFake


def _text(status: int, body: str, headers: dict | None = None) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(headers or {})
    return response


class SlackFake(FlaskFake):
    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.RLock()
        self._hooks: dict[str, str] = {}                 # path -> state: ok, revoked, archived, no_channel
        self._scripted: dict[str, list[tuple[int, str, dict, float]]] = defaultdict(list)
        self._init_server("fake_slack")
        self._routes()


    def settings(self, **overrides) -> dict[str, Any]:
        return {"SLACK_WEBHOOK_BASE": self.url, "INTEGRATION_HTTP_TIMEOUT": 5, **overrides}

    # -- test knobs
    def new_webhook(self) -> str:
        team = "T" + secrets.token_hex(4).upper()
        bot = "B" + secrets.token_hex(4).upper()
        path = f"/services/{team}/{bot}/{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"
        with self.lock:
            self._hooks[path] = "ok"
        return self.url + path

    def _path(self, url: str) -> str:
        return url[len(self.url):] if url.startswith(self.url) else url

    def revoke(self, url: str) -> None:
        with self.lock:
            self._hooks[self._path(url)] = "revoked"

    def archive(self, url: str) -> None:
        with self.lock:
            self._hooks[self._path(url)] = "archived"

    def remove_channel(self, url: str) -> None:
        with self.lock:
            self._hooks[self._path(url)] = "no_channel"

    def rate_limit(self, url: str, *, retry_after: int = 30, times: int = 1) -> None:
        with self.lock:
            self._scripted[self._path(url)] += [(429, "rate_limited", {"Retry-After": str(retry_after)}, 0.0)] * times

    def fail(self, url: str, status: int = 500, body: str = "internal_error", *, times: int = 1) -> None:
        with self.lock:
            self._scripted[self._path(url)] += [(status, body, {}, 0.0)] * times

    def hang(self, url: str, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self._scripted[self._path(url)] += [(0, "", {}, seconds)] * times

    def messages(self, url: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received.get(url, []))

    # -- the endpoint
    def _routes(self) -> None:
        @self.app.post("/services/<team>/<bot>/<secret>")
        def incoming(team: str, bot: str, secret: str):
            path = request.path
            raw = request.get_data()
            with self.lock:
                self.requests.append((path, dict(request.headers), raw))
                scripted = self._scripted[path].pop(0) if self._scripted.get(path) else None
                state = self._hooks.get(path)
            if scripted is not None:
                status, body, headers, delay = scripted
                if delay:
                    time.sleep(delay)
                if status:
                    return _text(status, body, headers)
            if state in (None, "revoked"):
                return _text(404, "no_service")
            if state == "archived":
                return _text(410, "channel_is_archived")
            if state == "no_channel":
                return _text(404, "channel_not_found")
            if request.mimetype != "application/json":
                return _text(400, "invalid_payload")
            try:
                payload = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return _text(400, "invalid_payload")
            if not isinstance(payload, dict):
                return _text(400, "invalid_payload")
            if not (payload.get("text") or payload.get("blocks") or payload.get("attachments")):
                return _text(400, "no_text")
            if "blocks" in payload and not isinstance(payload["blocks"], list):
                return _text(400, "invalid_blocks")
            with self.lock:
                self.received[self.url + path].append(payload)
            return _text(200, "ok")
