"""LinkTime application factory."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import ROOT, load_config
from app.db import db, init_database, release_connection
from app.extensions import csrf, htmx
from app.instance import tighten as tighten_instance
from app.log_redaction import quiet_http_client_logs
from app.ratelimit import RateLimiter
from app.security import Encryptor


def create_app(overrides: dict | None = None) -> Flask:
    cfg = load_config(overrides=overrides)
    tighten_instance(cfg["INSTANCE_DIR"])  # 0700 folder, 0600 files, also for an older install
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
    from app.web.compression import init_compression
    from app.web.static_assets import init_static_assets
    init_compression(app)     # first registered after-request hook: runs last, on the final headers
    init_static_assets(app)   # url_for('static', ...) gives content-hashed URLs, served with a year's cache
    logging.basicConfig(level=cfg["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_http_client_logs(cfg["LOG_LEVEL"])

    if cfg["TRUSTED_PROXIES"] > 0:
        n = cfg["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    init_database(cfg["DATABASE_URL"])
    app.extensions["linktime_encryptor"] = Encryptor(cfg["ENCRYPTION_KEY"])
    app.extensions["linktime_ratelimiter"] = RateLimiter(cfg["RATELIMIT_STORAGE_URL"])

    @app.before_request
    def _refuse_oversized_body():
        # 413 at once from the declared length, whichever view (or none: an unknown path) would have read it
        if request.content_length is not None and request.content_length > app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()

    from app.web.server_session import ServerSessionInterface
    app.session_interface = ServerSessionInterface()  # the cookie names a server-side session row
    csrf.init_app(app)
    htmx.init_app(app)

    @app.before_request
    def _open_db():
        g.client_ip = request.remote_addr
        if request.endpoint == "main.healthz":
            return  # the health check opens the database itself and reports the failure as its own check
        # unreachable: peewee.OperationalError, answered 503 by app.errors' handler (not a 500 traceback)
        db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_db(_exc):
        release_connection()

    from app.datetimes import register_filters
    register_filters(app)  # |date, |time, |datetime, |timerange, |times on the viewer's clock

    from app.auth import load_current_user
    from app.errors import register_error_handlers
    app.before_request(load_current_user)  # g.user, for the pages and the session's JSON endpoints alike
    register_error_handlers(app)

    from app.api import register_api
    from app.web import register_web
    register_api(app)  # before the public pages' /<username>/... routes, as before
    register_web(app)

    from app.cli import register_cli
    register_cli(app)

    from app.queue import configure_queue
    configure_queue(app)   # the lanes' storage from this app's settings; the tasks run in this app
    # imported for their outbox handlers and event subscriptions, which register on import
    from app.services import mailer  # noqa: F401
    from app.services.booking import (  # noqa: F401
        guests,  # noqa: F401 (additional guests of bookings)
        no_shows,
        notifications,
        payments,
        seats,
        team_bookings,
    )
    from app.services.booking import one_time_links as _links  # noqa: F401 (uses up single-use links in bookings)
    from app.services.booking import series_limits as _series_limits  # noqa: F401 (booking limits over a series)
    from app.services.booking.approvals import confirm_request  # noqa: F401 (requests the host confirms)
    from app.services.developer import webhooks  # noqa: F401
    from app.services.integrations import calendar_sync, calendars, close_links, crm_sync, meetings  # noqa: F401
    from app.services.messaging import notices as messaging_notices  # noqa: F401 (WhatsApp confirmations, reminders)
    from app.services.routing import responses  # noqa: F401 (links bookings to routing forms)
    from app.services.scheduling import (  # noqa: F401 (event-type options; out_of_office: its busy source)
        booking_limits,
        event_type_guests,
        event_type_policies,
        event_type_prices,
        event_type_redirects,
        event_type_seats,
        out_of_office,
    )
    from app.services.scheduling.event_type_approvals import needs_confirmation  # noqa: F401 (event-type option)
    from app.services.workflows import actions, runs  # noqa: F401
    return app
