"""Requests that used to answer 500 (issue 12): an oversized form, an unreachable database, a ``next`` that
leaves the site or holds a line break, a start time before the first instant, names with line breaks and
email fields naming two recipients; and waitress's queue warnings summarized instead of one per request."""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from app.models import Booking, BookingActivity, Contact
from tests.conftest import DATABASE_URL, PASSWORD, ROOT, free_port
from tests.web.test_public_pages import next_week, open_form, submit

BIG = 2_500_000  # over MAX_CONTENT_LENGTH (2 MB)


@pytest.fixture
def host(make_user, app):
    with app.app_context():
        yield make_user("hana", name="Hana Host")


# --- 413 for an oversized form, whatever the path, without a traceback ---------------------------------------
@pytest.mark.parametrize("path", ["/nosuchhost/some-event", "/hana/30-min", "/login"])
def test_an_oversized_form_is_413_without_a_logged_error(client, host, caplog, path):
    caplog.set_level(logging.INFO)
    response = client.post(path, data={"embed": "true", "name": "x" * BIG})
    assert response.status_code == 413
    assert b"too large" in response.data
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_oversized_embedded_form_with_embed_in_the_query_still_answers_413(client, host, caplog):
    response = client.post("/hana/30-min?embed=true", data={"name": "x" * BIG})
    assert response.status_code == 413
    assert "X-Frame-Options" not in response.headers  # the embed may show its error page
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- the database down: 503, not a 500 traceback ---------------------------------------------------------------
def _unreachable_urls(tmp_path):
    directory = tmp_path / "a-directory.db"
    directory.mkdir()  # SQLite cannot open a directory as its database file
    return {"sqlite": f"sqlite:///{directory}", "postgres": f"postgresql://postgres@127.0.0.1:{free_port()}/none"}


@pytest.fixture(params=["sqlite", "postgres"])
def down_app(request, app_factory, tmp_path):
    """An app whose database cannot be reached (a directory as SQLite file; PostgreSQL on a closed port)."""
    from app.db import init_database

    url = _unreachable_urls(tmp_path)[request.param]
    try:
        yield app_factory(DATABASE_URL=url)
    finally:
        init_database(DATABASE_URL)  # the suite's database again, for the other tests and the clean-up


def test_healthz_is_503_json_naming_the_database_check(down_app):
    response = down_app.test_client().get("/healthz")
    assert response.status_code == 503 and response.is_json
    body = response.get_json()
    assert body["status"] == "error"
    assert body["checks"]["database"].startswith("error: ")
    assert body["checks"]["queue"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_are_503_with_retry_after_and_one_log_line(down_app, caplog):
    caplog.set_level(logging.INFO)
    client = down_app.test_client()
    for path in ("/", "/login", "/hana", "/hana/30-min"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.mimetype == "text/html"
        assert b"temporarily unavailable" in response.data
        assert response.headers["Retry-After"] == "30"
    warnings = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(warnings) == 4 and all(r.exc_info is None for r in warnings)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_the_api_is_503_in_its_error_shape(down_app):
    client = down_app.test_client()
    for method, path, kwargs in (("post", "/api/bookings", {"json": {"eventTypeId": "x"}}),
                                 ("get", "/api/v1/me", {"headers": {"Authorization": "Bearer lt_x"}}),
                                 ("get", "/api/zapier/me", {"headers": {"X-API-Key": "lt_x"}})):
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == 503, path
        assert response.get_json() == {"error": "The service is temporarily unavailable: its database cannot be "
                                                "reached. Please try again in a minute."}
        assert response.headers["Retry-After"] == "30"


def _env_with(url: str, tmp_path) -> dict:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DATABASE_URL=url, INSTANCE_DIR=str(tmp_path / "instance"), HUEY_URL=f"sqlite:///{tmp_path}/q.db",
               PORT=str(free_port()), HOST="127.0.0.1")
    return env


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("command", [["-m", "flask", "--app", "wsgi", "db", "upgrade"],
                                     ["-m", "flask", "--app", "wsgi", "users", "list"],
                                     ["-m", "flask", "--app", "wsgi", "api-keys", "list", "a@example.com"],
                                     ["-m", "app.serve"]])
def test_cli_and_make_run_say_in_one_line_that_the_database_is_unreachable(tmp_path, backend, command):
    url = _unreachable_urls(tmp_path)[backend]
    done = subprocess.run([sys.executable, *command], check=False, cwd=ROOT, env=_env_with(url, tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot use the database at ") and "check DATABASE_URL" in lines[0]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout


# --- next after sign-in: only a path on this site, read as a browser reads it --------------------------------------
@pytest.mark.parametrize("target", [
    "/%09/evil.example",           # the tab is dropped by browsers: //evil.example
    "/%0a/evil.example",           # so is a line break (and a Location header cannot hold one)
    "/%0d%0aSet-Cookie:%20x=1",
    "/%5Cevil.example",            # backslash reads as a slash
    "//evil.example",
    "https://evil.example/",
    "%20//evil.example",
    "/%E2%80%A8/evil.example",     # U+2028
    "javascript:alert(1)",
])
def test_sign_in_never_follows_next_off_the_site(client, make_user, target):
    user = make_user("ada")
    page = client.get(f"/login?next={target}")
    assert page.status_code == 200
    response = client.post(f"/login?next={target}", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_sign_in_follows_a_local_next(client, make_user):
    user = make_user("ada")
    response = client.post("/login?next=/dashboard/bookings%3Ftab%3Dpast",
                           data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/dashboard/bookings?tab=past"


def test_is_local_path():
    from app.web.redirects import is_local_path
    assert is_local_path("/a/b?c=d#e") and is_local_path("/")
    for bad in ("", None, "//x", "///x", "////x", "/\t/x", "/\\x", "http://x/", "https:x", "x/y", "/a\nb", "/a\x7fb",
                "/" + "a" * 2001):
        assert not is_local_path(bad), bad


# --- the booking form: start times and names ------------------------------------------------------------------------
@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00", "2026-03-01",
                                   "2026-03-01T10:00:00"])
def test_a_start_time_out_of_range_is_400_on_the_booking_form(client, event_type, start):
    response = submit(client, next_week(1, 10), start=start)
    assert response.status_code == 400 and b"Choose a time first." in response.data
    assert Booking.select().count() == 0


@pytest.mark.parametrize("name", ["Ivan\nBcc: x@evil.test", "Ivan\r\nInvitee", "Ivan\tInvitee", "Ivan\u2028I"])
def test_a_name_with_a_control_character_is_refused_on_the_booking_form(client, event_type, name):
    response = submit(client, next_week(1, 10), name=name)
    assert response.status_code == 422
    assert b"Must not contain line breaks, tabs or other control characters." in response.data
    assert Booking.select().count() == 0


@pytest.mark.parametrize("email", ["postmaster,attacker@evil.test", "a@example.com; b@evil.test",
                                   "Ivan <ivan@example.com>", "ivan@example.com\nBcc: x@evil.test",
                                   '"a b"@example.com', "a@b@example.com"])
def test_an_email_field_naming_more_than_one_address_is_refused(client, event_type, email):
    response = submit(client, next_week(1, 10), email=email)
    assert response.status_code == 422 and b"Enter a valid email address." in response.data
    assert Booking.select().count() == 0


@pytest.mark.parametrize("email", ["ivan@example.com", "ivan.o'neil+tag@mail.example.co.uk", "jürgen@bücher.de",
                                   "x@example.xn--p1ai"])
def test_ordinary_addresses_are_still_accepted(email):
    from app.services.validation import is_email
    assert is_email(email)


@pytest.mark.parametrize("email", ["ivan@example.com\n", "ivan@example.com\r\n", " ivan@example.com"])
def test_an_address_with_anything_around_it_is_not_one_address(email):
    from app.services.validation import is_email
    assert not is_email(email)


def test_the_same_form_reused_for_other_details_is_409_not_the_earlier_booking(client, event_type):
    data = {**open_form(client, next_week(1, 10)), "name": "Ivan Invitee", "email": "ivan@example.com"}
    first = client.post("/hana/30-min", data=data)
    assert first.status_code == 302
    again = client.post("/hana/30-min", data={**data, "name": "Someone Else", "email": "else@example.com"})
    assert again.status_code == 409 and b"already booked this time with other details" in again.data
    assert b"Ivan Invitee" not in again.data
    assert Booking.select().count() == 1


# --- contacts and accounts use the same checks --------------------------------------------------------------------
def test_contacts_and_signup_refuse_control_characters_and_address_lists(app, host):
    from app.services.account import accounts
    from app.services.booking import contacts
    from app.services.errors import ValidationFailed
    for data, field in (({"name": "A\nB", "email": "a@example.com"}, "name"),
                        ({"name": "A", "email": "a@example.com", "company": "X\r\nY"}, "company"),
                        ({"name": "A", "email": "a@example.com,b@evil.test"}, "email")):
        with pytest.raises(ValidationFailed) as caught:
            contacts.create_contact(host, data)
        assert field in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        accounts.signup(accounts.SignupData(name="Eve\nBcc", email="eve@example.com,x@evil.test", username="eve",
                                            password=PASSWORD, timezone="UTC"), default_plan="FREE")
    assert set(caught.value.errors) >= {"name", "email"}
    assert Contact.select().count() == 0


# --- email about a booking: a line break in a stored name no longer breaks it; a failure is logged -----------------
def _booking_with_a_stored_line_break(event_type):
    """A row saved before names were checked (the service refuses such a name now)."""
    from app.services.booking.bookings import BookingRequest, create_booking
    booking = create_booking(event_type, BookingRequest(start=next_week(1, 10), invitee_name="Ivan",
                                                        invitee_email="ivan@example.com",
                                                        invitee_timezone="Europe/Berlin")).booking
    Booking.update(invitee_name="Ivan\nBcc: x@evil.test").where(Booking.id == booking.id).execute()
    return Booking.get_by_id(booking.id)


def _activity(booking) -> list[str]:
    return [a.message for a in BookingActivity.select().where(BookingActivity.booking == booking)
            .order_by(BookingActivity.created_at, BookingActivity.id)]


def test_a_stored_name_with_a_line_break_still_gets_its_emails_through(app, event_type, smtp_server):
    from app.services.booking.notifications import send_confirmation
    booking = _booking_with_a_stored_line_break(event_type)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    with app.test_request_context():
        send_confirmation(booking)
    messages = smtp_server.wait_for(2)
    host_mail = next(m for m in messages if m["To"] == "hana@example.com")
    assert host_mail["Subject"] == "New booking: 30 Minute Meeting with Ivan Bcc: x@evil.test"
    assert host_mail["Bcc"] is None and host_mail.envelope_rcpt == ["hana@example.com"]
    assert not any("could not be delivered" in m for m in _activity(booking))


def test_an_email_given_up_is_noted_in_the_booking_activity(app, event_type):
    """The activity log says "queued"; when the outbox gives a message up, the log says that too."""
    from app.services.booking.notifications import send_confirmation
    booking = _booking_with_a_stored_line_break(event_type)
    app.config.update(SMTP_URL="ftp://nowhere.invalid")  # a permanent failure: no retry can fix it
    with app.test_request_context():
        send_confirmation(booking)  # the queue runs inline in the tests (HUEY_IMMEDIATE)
    failed = [m for m in _activity(booking) if "could not be delivered" in m]
    reason = "SMTP_URL must start with smtp://, smtp+starttls:// or smtps://"
    assert sorted(failed) == [f"Email to hana@example.com could not be delivered: {reason}",
                              f"Email to ivan@example.com could not be delivered: {reason}"]


# --- waitress: one queue warning per interval, with the count of the others ----------------------------------------
def test_queue_depth_warnings_are_summarized(caplog):
    from app.log_throttle import QueueDepthSummary
    clock = [100.0]
    logger = logging.getLogger("waitress.queue")
    summary = QueueDepthSummary(interval=60, clock=lambda: clock[0])
    logger.addFilter(summary)
    try:
        with caplog.at_level(logging.WARNING, logger="waitress.queue"):
            for depth in range(1, 1001):           # a thousand queued requests within the minute
                logger.warning("Task queue depth is %d", depth)
            clock[0] += 61
            logger.warning("Task queue depth is %d", 3)
    finally:
        logger.removeFilter(summary)
    messages = [r.getMessage() for r in caplog.records if r.name == "waitress.queue"]
    summary_line = ("Task queue depth is 3 (999 more queue warnings in the last 61 s, deepest 1000): "
                    "every server thread is busy")
    assert messages == ["Task queue depth is 1", summary_line]


def test_the_server_installs_the_summary_once():
    from app.log_throttle import QueueDepthSummary, summarize_waitress_queue_warnings
    logger = logging.getLogger("waitress.queue")
    first = summarize_waitress_queue_warnings()
    try:
        assert summarize_waitress_queue_warnings() is first
        assert [f for f in logger.filters if isinstance(f, QueueDepthSummary)] == [first]
    finally:
        logger.removeFilter(first)


def test_a_busy_waitress_server_logs_one_queue_warning(caplog):
    """A real waitress server with one thread, held busy, while 20 more requests queue up."""
    import socket
    import threading
    import time

    from waitress.server import create_server

    from app.log_throttle import summarize_waitress_queue_warnings

    release = threading.Event()

    def slow_app(environ, start_response):
        release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    summary = summarize_waitress_queue_warnings()
    server = create_server(slow_app, host="127.0.0.1", port=0, threads=1)

    def serve():
        try:
            server.run()
        except (OSError, ValueError):   # close() took the socket away under the loop's select at the end
            pass
    runner = threading.Thread(target=serve, daemon=True)
    sockets = []
    try:
        with caplog.at_level(logging.WARNING, logger="waitress.queue"):
            runner.start()
            for _ in range(21):
                conn = socket.create_connection(("127.0.0.1", server.effective_port), timeout=10)
                conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                sockets.append(conn)
            deadline = time.monotonic() + 30
            while summary._suppressed < 19 and time.monotonic() < deadline:  # waitress queued them all
                time.sleep(0.02)
            queued = [r for r in caplog.records if r.name == "waitress.queue"]
    finally:
        release.set()
        for conn in sockets:
            conn.close()
        server.close()
        runner.join(10)
        logging.getLogger("waitress.queue").removeFilter(summary)
    assert summary._suppressed >= 19
    assert len(queued) == 1 and queued[0].getMessage().startswith("Task queue depth is ")


def test_healthz_is_200_when_database_and_queue_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok" and response.get_json()["checks"]["database"] == "ok"


def test_healthz_reports_the_webhook_lanes_backlog(client, monkeypatch):
    """A scaled-out install without a webhook worker shows it: the webhook lane's backlog only grows."""
    import tasks
    from tasks.outbox import TASKS

    monkeypatch.setattr(tasks.webhook_huey, "immediate", False)   # queued, as with no consumer running
    tasks.webhook_huey.flush()
    try:
        TASKS["webhooks"]("no-such-row")
        checks = client.get("/healthz").get_json()["checks"]
        assert checks["webhook_queue_pending"] == 1 and checks["queue_pending"] == 0
    finally:
        tasks.webhook_huey.flush()


def test_healthz_reports_the_agents_lanes_backlog(client, monkeypatch):
    """A scaled-out install without an agent worker shows it: the agents lane's backlog only grows."""
    import tasks
    from tasks.messaging import reply_to_message

    monkeypatch.setattr(tasks.agent_huey, "immediate", False)     # queued, as with no consumer running
    tasks.agent_huey.flush()
    try:
        reply_to_message("no-such-message")
        checks = client.get("/healthz").get_json()["checks"]
        assert checks["agent_queue_pending"] == 1 and checks["queue_pending"] == 0
        assert checks["webhook_queue_pending"] == 0
    finally:
        tasks.agent_huey.flush()
