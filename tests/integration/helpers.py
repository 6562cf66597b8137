"""Helpers for tests that run LinkTime as real processes (server, CLI, queue consumer).

Every wait is bounded; every process started here is killed by ``Processes.stop_all`` (use it in ``finally``).
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self, TypeVar
from urllib.parse import urlparse, urlunparse

import pytest
import requests

from app.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
T = TypeVar("T")


def clean_env(**settings: str | int) -> dict[str, str]:
    """The process environment without any LinkTime setting (the test suite sets several), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FLASK_"))}
    for s in SETTINGS:
        env.pop(s.name, None)
        env.pop(s.name + "_FILE", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in settings.items()})
    return env


def wait_until(predicate: Callable[[], T], timeout: float, message: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message}" + (f" (last error: {last_error!r})"
                                                                       if last_error else ""))


class Processes:
    """Starts processes with their output in log files, and kills every one of them at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_path = self.log_dir / f"{name}-{len(self.started)}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.started.append((proc, log_path))
        return proc

    def log_of(self, proc: subprocess.Popen) -> str:
        for p, path in self.started:
            if p is proc:
                return path.read_text(errors="replace")
        return ""

    def all_logs(self) -> str:
        return "\n".join(f"--- {path.name} (exit {p.poll()}) ---\n{path.read_text(errors='replace')[-4000:]}"
                         for p, path in self.started)

    @staticmethod
    def kill9(proc: subprocess.Popen) -> None:
        """SIGKILL the process and everything it started (its own session), as a crash would."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc, _ in self.started:
            self.kill9(proc)


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def flask_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], env=env, timeout=timeout)


def wait_for_http(base_url: str, proc: subprocess.Popen, processes: Processes, timeout: float = 45) -> None:
    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}:\n{processes.log_of(proc)}")
        try:
            return requests.get(base_url + "/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False
    try:
        wait_until(ready, timeout, f"{base_url}/healthz did not answer 200")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{processes.all_logs()}") from None


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text[:500]
    match = _CSRF.search(page.text)
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def post_form(session: requests.Session, base_url: str, path: str, data: dict, *, form_path: str | None = None,
              **kwargs) -> requests.Response:
    """POST a form the way a browser does: fetch the page for its CSRF token first."""
    token = csrf_token(session, base_url + (form_path or path))
    return session.post(base_url + path, data={**data, "csrf_token": token}, allow_redirects=False, timeout=20,
                        **kwargs)


def sqlite_rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read another process's SQLite database (read-only, without disturbing its WAL)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []
    finally:
        conn.close()


class SMTPSink:
    """A real SMTP server (aiosmtpd) on a chosen loopback port; ``messages`` holds parsed messages."""

    def __init__(self, port: int) -> None:
        import threading

        from aiosmtpd.controller import Controller

        self.port = port
        self.messages: list = []
        self._cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy
                msg = message_from_bytes(envelope.content, policy=policy.default)
                with sink._cond:
                    sink.messages.append(msg)
                    sink._cond.notify_all()
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def wait_for(self, count: int = 1, timeout: float = 20.0) -> list:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)


def unavailable(message: str):
    """A service the test needs is missing: a failure on CI, a skip elsewhere."""
    from tests.conftest import IN_CI

    if IN_CI:
        pytest.fail(message + " (required on CI)")
    pytest.skip(message)


@contextmanager
def fresh_postgres_database(base: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database next to ``base``'s, dropped (its connections ended) afterwards."""
    import secrets

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(base, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL at {base} is unreachable: {exc}")
    admin.autocommit = True
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(base)._replace(path="/" + name))
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
