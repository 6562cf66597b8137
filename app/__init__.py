"""LinkTime application factory."""
from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask import Flask, g, request
from flask_htmx import HTMX
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import ROOT, load_config
from app.db import db, init_database, release_connection
from app.ratelimit import RateLimiter
from app.security import Encryptor

csrf = CSRFProtect()
htmx = HTMX()


class RedactURLs(logging.Filter):
    """Keeps the path and query of URLs out of a log record: an ICS feed's secret address, a webhook's secret
    path. ``https://host/secret?token=x`` becomes ``https://host/…`` and a bare ``/secret?token=x`` becomes
    ``/…``."""

    _full = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s'\"<>]+)/[^\s'\"<>)]*", re.IGNORECASE)
    _path = re.compile(r"(?<![\w/.:])/[^\s'\"<>)]+")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):   # a record that cannot be formatted: the handler reports it
            return True
        redacted = self._path.sub("/…", self._full.sub(r"\1/…", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# The HTTP client's loggers: urllib3 logs the path and query of every request at DEBUG, and a URL in some warnings.
HTTP_CLIENT_LOGGERS = ("urllib3", "urllib3.connection", "urllib3.connectionpool", "urllib3.response",
                       "urllib3.util.retry", "urllib3.poolmanager")


def quiet_http_client_logs(level: str | int) -> None:
    """urllib3 logs at INFO or above whatever LOG_LEVEL says (its DEBUG lines carry every request's path and
    query: secret feed addresses), and what it does log has URLs cut to their host."""
    wanted = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    logging.getLogger("urllib3").setLevel(max(logging.INFO, wanted))
    for name in HTTP_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactURLs) for f in logger.filters):
            logger.addFilter(RedactURLs())


def create_app(overrides: dict | None = None) -> Flask:
    cfg = load_config(overrides=overrides)
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=cfg["INSTANCE_DIR"], instance_relative_config=False)
    app.config.update(cfg)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg["SESSION_COOKIE_SECURE"],
        SESSION_COOKIE_NAME="linktime_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead of a clock
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    logging.basicConfig(level=cfg["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_http_client_logs(cfg["LOG_LEVEL"])

    if cfg["TRUSTED_PROXIES"] > 0:
        n = cfg["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    init_database(cfg["DATABASE_URL"])
    app.extensions["linktime_encryptor"] = Encryptor(cfg["ENCRYPTION_KEY"])
    app.extensions["linktime_ratelimiter"] = RateLimiter(cfg["RATELIMIT_STORAGE_URL"])
    csrf.init_app(app)
    htmx.init_app(app)

    @app.before_request
    def _open_db():
        db.connect(reuse_if_open=True)
        g.client_ip = request.remote_addr

    @app.teardown_request
    def _close_db(_exc):
        release_connection()

    from app.web import register_web
    register_web(app)

    from app.cli import register_cli
    register_cli(app)

    import tasks
    tasks.bind_app(app)
    tasks.load_all()
    # imported for their outbox handlers and event subscriptions, which register on import
    from app.services import (  # noqa: F401
        calendar_sync,
        calendars,
        mailer,
        meetings,
        notifications,
        webhooks,
    )
    return app
