"""Test fixtures shared by the whole suite.

The suite runs on SQLite (default) or PostgreSQL (``LINKTIME_TEST_BACKEND=postgres``, database URL from
``TEST_DATABASE_URL``). Each xdist worker gets its own database, migrated once; every test starts from
empty tables. Huey runs tasks inline (immediate mode) unless a test starts a real consumer process.

The PostgreSQL pass runs only the tests whose result can depend on the backend: those that use the suite's database
(the ``migrated_database`` fixture, through ``app`` and its kin) or read ``BACKEND``/``DATABASE_URL`` from here.
The others (pure logic, property tests, and the integration stacks that choose their own database) already ran
in the SQLite pass; ``LINKTIME_TEST_ALL=1`` runs them again.
"""
from __future__ import annotations

import atexit
import os
import re
import socket
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.factories import PASSWORD  # no app import: safe before the environment is set

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
BACKEND = os.environ.get("LINKTIME_TEST_BACKEND", "sqlite")
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
pytest_plugins = ["tests.webhook_fixtures", "tests.payment_fixtures",  # receiver, queue; stripe_fake, paypal_fake
                  "tests.crm_fixtures"]                               # crm_fakes
_TMP = Path(tempfile.mkdtemp(prefix=f"linktime-test-{WORKER}-"))


def _postgres_url_for_worker() -> str:
    """Create (fresh) a database of this worker's own next to TEST_DATABASE_URL's."""
    import psycopg2

    base = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    parsed = urlparse(base)
    # One database per test process, so parallel runs on one server never share tables; dropped at exit.
    name = f"linktime_test_{re.sub(r'[^a-z0-9]', '', WORKER.lower())}_{os.getpid()}"
    try:
        conn = psycopg2.connect(base, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        message = f"PostgreSQL at {base} is unreachable: {exc}"
        if IN_CI:
            raise RuntimeError(message) from exc
        pytest.exit(message + " (outside CI the PostgreSQL run is skipped)", returncode=0)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                    "pg_backend_pid()", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    atexit.register(_drop_postgres_database, base, name)
    return urlunparse(parsed._replace(path="/" + name))


def _drop_postgres_database(base: str, name: str) -> None:
    import psycopg2

    try:
        from app.db import db
        if not db.is_closed():
            db.close()
        db.obj.close_all()
    except Exception:
        pass
    try:
        conn = psycopg2.connect(base, connect_timeout=5)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
    except Exception:
        pass


if BACKEND == "postgres":
    DATABASE_URL = _postgres_url_for_worker()
else:
    DATABASE_URL = f"sqlite:///{_TMP / 'test.db'}"

# create_app reads the settings (the queue's too) from the environment: set them before the first app is built.
os.environ.update({
    "LINKTIME_ENV": "development",
    "INSTANCE_DIR": str(_TMP / "instance"),
    "DATABASE_URL": DATABASE_URL,
    "HUEY_IMMEDIATE": "1",
    "HUEY_URL": f"sqlite:///{_TMP / 'queue.db'}",
    "RATELIMIT_STORAGE_URL": "memory://",
})
for var in ("SMTP_URL", "SMTP_HOST", "GOOGLE_CLIENT_ID", "MICROSOFT_CLIENT_ID", "TRUSTED_PROXIES"):
    os.environ.pop(var, None)


def _cheap_password_hashing() -> None:
    """Argon2id at its lowest cost inside the test processes. The production cost (about half a second of CPU per
    hash and per sign-in on a busy 2-core machine) is what protects stored passwords, and the suite creates and signs
    in thousands of accounts. The algorithm, the hash format and every check stay the same; the tests that start
    ``python -m app.serve`` as a subprocess run the production cost."""
    from argon2 import PasswordHasher

    from app import security

    security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


_cheap_password_hashing()


def _reuse_url_builders() -> None:
    """Most tests build their own app, and building one compiled each of its ~280 URL rules' builder functions
    again (Werkzeug generates and compiles Python code per rule: about a third of a second per app on this
    machine). A builder depends only on the rule's text, host or subdomain, defaults and flags, so the test processes
    keep each one and hand it to the next app with the same rule; the rules, their matching and every URL built are
    unchanged."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    builders: dict = {}

    def reused(self, append_unknown: bool = True):
        key = (self.rule, self.host, self.subdomain, self.merge_slashes, bool(self.map and self.map.host_matching),
               repr(sorted((self.defaults or {}).items())), append_unknown,
               tuple(sorted((name, type(conv).__name__) for name, conv in self._converters.items())))
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = reused


_reuse_url_builders()


def _depends_on_backend(item) -> bool:
    if "migrated_database" in getattr(item, "fixturenames", ()):
        return True
    module = getattr(item, "module", None)
    return any(getattr(module, name, None) is value for name, value in (("BACKEND", BACKEND),
                                                                          ("DATABASE_URL", DATABASE_URL)))


def pytest_collection_modifyitems(config, items):
    if BACKEND != "postgres" or os.environ.get("LINKTIME_TEST_ALL"):
        return
    keep, drop = [], []
    for item in items:
        (keep if _depends_on_backend(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def migrated_database():
    from app.db import db, init_database, upgrade

    init_database(DATABASE_URL)
    with db.connection_context():
        upgrade()
    return DATABASE_URL


_PG_FAST_EMPTY: list[bool] = []   # [True]: DELETE with triggers off works here; [False]: TRUNCATE instead


def _empty_postgres_tables(db, tables: list[str]) -> None:
    """Empty every table between tests. TRUNCATE gives each table a new file (about 0.1-0.2 s for the whole schema,
    per test); DELETE with triggers and foreign-key checks off (``session_replication_role = replica``, which needs
    a superuser, as CI's trust-auth ``postgres`` is) takes milliseconds. The integer sequences restart as
    TRUNCATE's RESTART IDENTITY did. A database user without the right falls back to TRUNCATE."""
    if not _PG_FAST_EMPTY:
        try:
            with db.atomic():
                db.execute_sql("SET LOCAL session_replication_role = replica")
            _PG_FAST_EMPTY.append(True)
        except Exception:   # noqa: BLE001 - any refusal means: not allowed here
            _PG_FAST_EMPTY.append(False)
    if not _PG_FAST_EMPTY[0]:
        db.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        return
    sequences = [name for (name,) in db.execute_sql(
        "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()")]
    with db.atomic():
        db.execute_sql("SET LOCAL session_replication_role = replica; "
                       + "; ".join(f'DELETE FROM "{t}"' for t in tables)
                       + "".join(f'; ALTER SEQUENCE "{name}" RESTART' for name in sequences))


def _empty_all_tables() -> None:
    from app.db import db, is_postgres

    with db.connection_context():
        tables = [t for t in db.get_tables() if t != "schema_migrations"]
        if not tables:
            return
        if is_postgres():
            _empty_postgres_tables(db, tables)
        else:
            # the append-only guard of audit_logs refuses DELETE: lift the triggers while emptying, then restore
            triggers = [sql for (sql,) in db.execute_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL").fetchall()]
            names = [name for (name,) in db.execute_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL").fetchall()]
            db.execute_sql("PRAGMA foreign_keys = OFF")
            with db.atomic():
                for name in names:
                    db.execute_sql(f'DROP TRIGGER "{name}"')
                for t in tables:
                    db.execute_sql(f'DELETE FROM "{t}"')
                for sql in triggers:
                    db.execute_sql(sql)
            db.execute_sql("PRAGMA foreign_keys = ON")


@pytest.fixture
def app_factory(migrated_database):
    """Build an app with config overrides; tables are emptied after the test."""
    from app import create_app

    made = []

    def make(**overrides):
        overrides.setdefault("TESTING", True)
        overrides.setdefault("WTF_CSRF_ENABLED", False)
        application = create_app(overrides)
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["linktime_ratelimiter"].reset()
    _empty_all_tables()


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_conn(app):
    """An open database connection for tests that use models directly."""
    from app.db import db

    with app.app_context(), db.connection_context():
        yield db


@pytest.fixture
def make_user(app):
    """Create an account through the service: ``make_user("alice", plan="PRO")`` (see ``factories.user``)."""
    from app.db import db
    from tests import factories

    def make(username="alice", **kwargs):
        with app.app_context(), db.connection_context():
            return factories.user(username, **kwargs)
    return make


@pytest.fixture
def host(make_user):
    """Hana, a host in Berlin (a module that needs another host defines its own ``host``)."""
    return make_user("hana", timezone="Europe/Berlin")


@pytest.fixture
def event_type(app, host):
    """The ``host``'s "30-min" event type, the one every new account gets."""
    from app.db import db
    from tests import factories

    with app.app_context(), db.connection_context():
        return factories.event_type(host)


def login(client, user, password=PASSWORD):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.data[:500]
    return response


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; ``.messages`` holds parsed email.message objects."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []
            self.event = threading.Condition()

        async def handle_DATA(self, server, session, envelope):
            with self.event:
                msg = message_from_bytes(envelope.content, policy=policy.default)
                msg.envelope_rcpt = list(envelope.rcpt_tos)
                self.messages.append(msg)
                self.event.notify_all()
            return "250 OK"

        def wait_for(self, count=1, timeout=10.0):
            with self.event:
                self.event.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return self.messages

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def radicale(tmp_path):
    """A real Radicale CalDAV server on loopback (user ``alice``, password ``app-pass-1234``)."""
    from tests.fakes.radicale_server import RadicaleServer

    server = RadicaleServer(tmp_path / "radicale").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def feed_server():
    """A local HTTP server answering every request with ``.body`` / ``.status`` after ``.delay`` seconds."""
    from tests.fakes.calendar_feed import FeedServer

    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
