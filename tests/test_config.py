"""Configuration: production refuses to start without its secrets; *_FILE works; development generates secrets."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from app.config import ConfigError, load_config, new_encryption_key
from tests.conftest import free_port
from tests.integration.helpers import PYTHON, VENV_BIN, clean_env, flask_cli, run

MISSING = ("SECRET_KEY", "ENCRYPTION_KEY", "BASE_URL")


def _production_env(tmp_path: Path, **extra) -> dict[str, str]:
    return clean_env(LINKTIME_ENV="production", INSTANCE_DIR=tmp_path / "instance",
                     DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}", HUEY_URL=f"sqlite:///{tmp_path / 'q.db'}",
                     PORT=free_port(), **extra)


def _assert_refused_naming(result: subprocess.CompletedProcess, names=MISSING) -> None:
    assert result.returncode != 0, result.stdout
    for name in names:
        assert name in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "LinkTime is running" not in result.stdout


def test_server_in_production_without_secrets_exits_non_zero_naming_each_missing_setting(tmp_path):
    result = run([PYTHON, "-m", "app.serve"], env=_production_env(tmp_path), timeout=30)
    _assert_refused_naming(result)
    assert result.returncode == 2
    assert not (tmp_path / "instance" / "secret_key").exists()  # production never generates secrets


def test_flask_cli_in_production_without_secrets_exits_non_zero_naming_each_missing_setting(tmp_path):
    result = flask_cli("db", "status", env=_production_env(tmp_path))
    _assert_refused_naming(result)


def test_gunicorn_in_production_without_secrets_stops_instead_of_restarting_workers(tmp_path):
    env = _production_env(tmp_path)
    result = run([str(VENV_BIN / "gunicorn"), "wsgi:app", "-b", f"127.0.0.1:{env['PORT']}", "-w", "1",
                  "--no-control-socket"], env=env, timeout=30)
    assert result.returncode != 0
    for name in MISSING:
        assert name in result.stderr, result.stderr


def test_production_names_only_the_settings_that_are_missing(tmp_path):
    result = run([PYTHON, "-m", "app.serve"], env=_production_env(tmp_path, SECRET_KEY="s" * 40), timeout=30)
    _assert_refused_naming(result, names=("ENCRYPTION_KEY", "BASE_URL"))
    assert "SECRET_KEY" not in result.stderr


def test_production_reads_secrets_from_file_variables(tmp_path):
    key = new_encryption_key()
    files = {"SECRET_KEY": "a-secret-from-a-file-" + "x" * 30, "ENCRYPTION_KEY": key,
             "BASE_URL": "https://cal.example.com"}
    for name, value in files.items():
        (tmp_path / name.lower()).write_text(value + "\n")  # trailing newline, as `echo` writes it
    env = {"LINKTIME_ENV": "production", "INSTANCE_DIR": str(tmp_path / "instance"),
           **{f"{name}_FILE": str(tmp_path / name.lower()) for name in files}}
    cfg = load_config(env=env)
    assert (cfg["SECRET_KEY"], cfg["ENCRYPTION_KEY"], cfg["BASE_URL"]) == tuple(files.values())
    assert cfg["SESSION_COOKIE_SECURE"] is True


def test_production_with_file_variables_starts_the_cli(tmp_path):
    for name, value in (("secret_key", "file-secret-" + "y" * 40), ("encryption_key", new_encryption_key())):
        (tmp_path / name).write_text(value)
    env = _production_env(tmp_path, SECRET_KEY_FILE=tmp_path / "secret_key",
                          ENCRYPTION_KEY_FILE=tmp_path / "encryption_key", BASE_URL="https://cal.example.com")
    status = flask_cli("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "[ ] 0001_foundation" in status.stdout and "pending" in status.stdout


def test_unreadable_file_variable_is_named_in_the_error(tmp_path):
    env = {"LINKTIME_ENV": "production", "INSTANCE_DIR": str(tmp_path), "BASE_URL": "https://cal.example.com",
           "ENCRYPTION_KEY": new_encryption_key(), "SECRET_KEY_FILE": str(tmp_path / "does-not-exist")}
    with pytest.raises(ConfigError) as excinfo:
        load_config(env=env)
    assert "SECRET_KEY_FILE" in str(excinfo.value) and "does-not-exist" in str(excinfo.value)


def test_an_environment_value_wins_over_its_file_variable(tmp_path):
    (tmp_path / "secret").write_text("from-the-file")
    cfg = load_config(env={"INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "from-the-environment",
                           "SECRET_KEY_FILE": str(tmp_path / "secret")})
    assert cfg["SECRET_KEY"] == "from-the-environment"


def test_malformed_values_are_all_reported_together(tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        load_config(env={"INSTANCE_DIR": str(tmp_path), "PORT": "eighty", "HUEY_IMMEDIATE": "maybe",
                         "SMTP_TLS": "sometimes", "DEFAULT_PLAN": "GOLD"})
    message = str(excinfo.value)
    for name in ("PORT", "HUEY_IMMEDIATE", "SMTP_TLS", "DEFAULT_PLAN"):
        assert name in message


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_development_generates_private_secrets_in_the_instance_folder_and_reuses_them(tmp_path):
    instance = tmp_path / "instance"
    first = load_config(env={"INSTANCE_DIR": str(instance)})
    for name, key in (("secret_key", "SECRET_KEY"), ("encryption_key", "ENCRYPTION_KEY")):
        path = instance / name
        assert path.read_text().strip() == first[key]
        assert _mode(path) == 0o600
    assert len(first["SECRET_KEY"]) >= 40
    from app.security import Encryptor
    Encryptor(first["ENCRYPTION_KEY"])  # a usable AES-256 key
    second = load_config(env={"INSTANCE_DIR": str(instance)})
    assert (second["SECRET_KEY"], second["ENCRYPTION_KEY"]) == (first["SECRET_KEY"], first["ENCRYPTION_KEY"])
    other = load_config(env={"INSTANCE_DIR": str(tmp_path / "other")})
    assert other["SECRET_KEY"] != first["SECRET_KEY"]


def test_development_server_start_creates_secrets_and_a_restart_reuses_them(tmp_path):
    """Through the real CLI process: the first start writes the secrets, the next one reads the same ones."""
    instance = tmp_path / "instance"
    env = clean_env(INSTANCE_DIR=instance, DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}",
                    HUEY_URL=f"sqlite:///{tmp_path / 'q.db'}")
    assert flask_cli("db", "status", env=env).returncode == 0
    secrets_after_first = {p.name: p.read_text() for p in instance.iterdir() if p.name.endswith("_key")}
    assert set(secrets_after_first) == {"secret_key", "encryption_key"}
    assert all(_mode(instance / name) == 0o600 for name in secrets_after_first)
    assert flask_cli("db", "status", env=env).returncode == 0
    assert {p.name: p.read_text() for p in instance.iterdir() if p.name.endswith("_key")} == secrets_after_first


def test_development_secret_generation_is_safe_when_processes_start_together(tmp_path):
    """Processes starting at once on a new instance folder (gunicorn workers) all get the same secrets."""
    import threading

    for round_no in range(20):
        instance = tmp_path / f"instance-{round_no}"
        barrier = threading.Barrier(8)
        results: list = []

        def start(instance: Path, barrier: threading.Barrier, results: list) -> None:
            barrier.wait()
            try:
                cfg = load_config(env={"INSTANCE_DIR": str(instance)})
                results.append((cfg["SECRET_KEY"], cfg["ENCRYPTION_KEY"]))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=start, args=(instance, barrier, results)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert len(set(results)) == 1 and all(results[0]), results
        assert (instance / "secret_key").read_text().strip() == results[0][0]
        assert sorted(p.name for p in instance.iterdir()) == ["encryption_key", "secret_key"]  # no leftovers


def test_development_defaults_need_no_configuration(tmp_path):
    cfg = load_config(env={"INSTANCE_DIR": str(tmp_path)})
    assert cfg["PRODUCTION"] is False and cfg["SESSION_COOKIE_SECURE"] is False
    assert cfg["DATABASE_URL"] == f"sqlite:///{tmp_path / 'linktime.db'}"
    assert cfg["HUEY_URL"] == f"sqlite:///{tmp_path / 'queue.db'}"
    assert cfg["BASE_URL"] == "http://127.0.0.1:5000"


def test_relative_instance_folder_is_taken_from_the_project_root():
    cfg = load_config(env={"INSTANCE_DIR": "instance"}, overrides={"SECRET_KEY": "x", "ENCRYPTION_KEY":
                                                                       new_encryption_key()})
    assert Path(cfg["INSTANCE_DIR"]) == Path(__file__).resolve().parent.parent / "instance"
    assert os.path.isabs(cfg["INSTANCE_DIR"])


def test_session_lifetimes_must_be_at_least_a_day_and_idle_within_the_absolute_one(tmp_path):
    for idle, absolute in (("0", "30"), ("31", "30")):
        with pytest.raises(ConfigError) as excinfo:
            load_config(env={"INSTANCE_DIR": str(tmp_path), "SESSION_IDLE_DAYS": idle, "SESSION_MAX_DAYS": absolute})
        assert "SESSION_IDLE_DAYS" in str(excinfo.value)
    cfg = load_config(env={"INSTANCE_DIR": str(tmp_path), "SESSION_IDLE_DAYS": "7", "SESSION_MAX_DAYS": "7"})
    assert (cfg["SESSION_IDLE_DAYS"], cfg["SESSION_MAX_DAYS"]) == (7, 7)


def test_the_queue_file_commits_without_waiting_for_the_disk(tmp_path):
    """WAL with synchronous=NORMAL, as the database: an enqueue on a booking's commit waits for no fsync (a killed
    process still loses nothing committed; the outbox sweep covers a power cut)."""
    from app.queue import make_huey

    queue = make_huey({"HUEY_URL": f"sqlite:///{tmp_path / 'queue.db'}", "HUEY_IMMEDIATE": False})
    conn = queue.storage.conn
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("pragma synchronous").fetchone()[0] == 1
    queue.storage.close()


def test_the_queue_keeps_no_task_results(tmp_path):
    """Nothing reads a task's return value: storing each one would cost a write per task and grow forever."""
    from app.queue import make_huey

    queue = make_huey({"HUEY_URL": f"sqlite:///{tmp_path / 'queue.db'}", "HUEY_IMMEDIATE": False})

    @queue.task()
    def answer():
        return "done"

    answer()
    task = queue.dequeue()
    assert queue.execute(task) == "done"
    assert queue.result_count() == 0
    queue.storage.close()
