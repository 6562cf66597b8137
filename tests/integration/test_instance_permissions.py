"""The instance folder is private (issue 12, point 19): the real one-process server, started on a new instance
folder in development (SQLite database, SQLite queue, mail written to ``mail/*.eml``), creates the folder 0700
and every file in it 0600, the password-reset mail included. An instance folder made by an older version is
narrowed at start."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import requests

from app.instance import tighten
from tests.conftest import free_port
from tests.integration.helpers import PYTHON, Processes, clean_env, post_form, wait_for_http, wait_until

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_instance_folder_and_everything_in_it_is_private(tmp_path):
    instance = tmp_path / "instance"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes = Processes(tmp_path)
    env = clean_env(LINKTIME_ENV="development", INSTANCE_DIR=instance, HOST="127.0.0.1", PORT=port,
                    RUN_QUEUE_IN_WEB="1", HUEY_WORKERS=1, LOG_LEVEL="INFO")
    umask = os.umask(0o022)  # the usual umask (the server inherits it): without care files come out 0644
    try:
        proc = processes.start("serve", [PYTHON, "-m", "app.serve"], env)
        wait_for_http(base, proc, processes)
        with requests.Session() as browser:
            created = post_form(browser, base, "/signup", {
                "name": "Ada Lovelace", "email": "ada@example.com", "username": "ada",
                "password": "private instance 42", "timezone": "Europe/London"})
            assert created.status_code == 302, created.text[:500]
        with requests.Session() as stranger:
            asked = post_form(stranger, base, "/password/forgot", {"email": "ada@example.com"})
            assert asked.status_code in (200, 302), asked.text[:500]
        mail = wait_until(lambda: list((instance / "mail").glob("*.eml")), 60, "the reset mail was not written")
        assert "/password/reset/" in mail[0].read_text()
        wait_until(lambda: (instance / "linktime.db-wal").exists(), 30, "no WAL file")
    finally:
        os.umask(umask)
        processes.stop_all()

    assert mode(instance) == 0o700
    assert mode(instance / "mail") == 0o700
    files = [p for p in instance.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"linktime.db", "linktime.db-wal", "linktime.db-shm", "queue.db", "secret_key",
            "encryption_key"} <= names, names
    loose = {str(p.relative_to(instance)): oct(mode(p)) for p in files if mode(p) != 0o600}
    assert loose == {}


def test_an_older_instance_folder_is_narrowed_at_start(tmp_path):
    instance = tmp_path / "old"
    (instance / "mail").mkdir(parents=True)
    old = [instance / "linktime.db", instance / "queue.db", instance / "mail" / "1-reset.eml"]
    for path in old:
        path.write_bytes(b"")
        path.chmod(0o644)
    instance.chmod(0o755)
    (instance / "mail").chmod(0o755)
    elsewhere = tmp_path / "not-ours.txt"  # a symlink inside must not widen the reach of the chmod
    elsewhere.write_text("x")
    elsewhere.chmod(0o644)
    (instance / "link").symlink_to(elsewhere)

    tighten(instance)

    assert (mode(instance), mode(instance / "mail")) == (0o700, 0o700)
    assert [mode(p) for p in old] == [0o600] * 3
    assert mode(elsewhere) == 0o644
