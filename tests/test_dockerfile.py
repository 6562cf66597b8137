"""The container image runs in production (issue 12, point 14): the Dockerfile's environment, given to the real
``python -m app.serve`` (the image's CMD), refuses to start without the secrets and, with them (as NAME_FILE,
the way Docker secrets arrive), serves with the production protections on. Docker itself is not needed: the
test reads the ENV and CMD lines of the Dockerfile."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import requests

from app.config import load_config, new_encryption_key
from tests.conftest import free_port
from tests.integration.helpers import PYTHON, ROOT, Processes, clean_env, run, wait_for_http

pytestmark = pytest.mark.integration


def dockerfile() -> tuple[dict[str, str], list[str]]:
    """The ENV settings and the CMD of the Dockerfile."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    env: dict[str, str] = {}
    cmd: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                name, _, value = item.partition("=")
                env[name] = value
        elif line.startswith("CMD "):
            cmd = json.loads(line[4:])
    return env, cmd


def image_env(tmp_path: Path, **extra) -> dict[str, str]:
    env, _ = dockerfile()
    env.update(INSTANCE_DIR=str(tmp_path / "data"), HOST="127.0.0.1", PORT=str(free_port()))  # /data, loopback
    return clean_env(**env, **extra)


def image_cmd() -> list[str]:
    _, cmd = dockerfile()
    assert cmd[0] == "python"
    return [PYTHON, *cmd[1:]]


def secret_files(tmp_path: Path) -> dict[str, str]:
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    values = {"SECRET_KEY": "docker-secret-" + "z" * 40, "ENCRYPTION_KEY": new_encryption_key(),
              "BASE_URL": "https://cal.example.com"}
    for name, value in values.items():
        (secrets / name.lower()).write_text(value + "\n")
    return {f"{name}_FILE": str(secrets / name.lower()) for name in values}


def test_the_image_defaults_to_production():
    env, cmd = dockerfile()
    assert env["LINKTIME_ENV"] == "production"
    assert (env["HOST"], env["INSTANCE_DIR"]) == ("0.0.0.0", "/data")
    assert cmd == ["python", "-m", "app.serve"]


def test_the_image_without_its_secrets_exits_with_one_clear_message(tmp_path):
    result = run(image_cmd(), env=image_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("LinkTime cannot start:")
    for name in ("SECRET_KEY", "ENCRYPTION_KEY", "BASE_URL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr and "LinkTime is running" not in result.stdout
    assert not (tmp_path / "data" / "secret_key").exists()  # production never generates secrets


def test_the_image_with_secret_files_keeps_the_production_protections(tmp_path):
    env = image_env(tmp_path, **secret_files(tmp_path))
    cfg = load_config(env=env)
    assert cfg["PRODUCTION"] and cfg["SESSION_COOKIE_SECURE"]
    assert not cfg["WEBHOOK_ALLOW_PRIVATE"] and not cfg["CALENDAR_ALLOW_PRIVATE"]  # the outbound-request guard

    processes = Processes(tmp_path)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        proc = processes.start("image", image_cmd(), env)
        wait_for_http(base, proc, processes, timeout=90)
        page = requests.get(base + "/login", timeout=10)
        assert page.status_code == 200
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        processes.stop_all()
