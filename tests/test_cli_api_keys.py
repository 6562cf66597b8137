"""``flask api-keys create EMAIL --name NAME`` prints the new key alone; ``api-keys list`` shows prefixes."""
from __future__ import annotations

import pytest

from app.db import db
from app.models import ApiKey
from app.services.developer import api_keys


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))
    return invoke


def stored_keys(app, user):
    with app.app_context(), db.connection_context():
        return list(ApiKey.select().where(ApiKey.user == user))


def test_create_prints_only_the_new_key_and_the_key_works(app, cli, make_user):
    user = make_user("hana", plan="PRO")
    result = cli("api-keys", "create", "Hana@Example.com", "--name", "deploy script")
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert result.stdout == raw + "\n"
    assert api_keys.looks_like_key(raw)
    assert result.stderr == ""
    [key] = stored_keys(app, user)
    assert key.name == "deploy script"
    with app.app_context(), db.connection_context():
        assert api_keys.authenticate(raw).id == key.id
    client = app.test_client()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).json["id"] == user.id


def test_create_for_an_unknown_email_fails_on_stderr_with_nothing_on_stdout(cli):
    result = cli("api-keys", "create", "nobody@example.com", "--name", "x")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no account with email nobody@example.com" in result.stderr


def test_create_beyond_the_free_plans_two_keys_fails_with_the_plan_message(app, cli, make_user):
    user = make_user("frida", plan="FREE")
    for name in ("one", "two"):
        assert cli("api-keys", "create", user.email, "--name", name).exit_code == 0
    result = cli("api-keys", "create", user.email, "--name", "three")
    assert result.exit_code == 1 and result.stdout == ""
    assert "Free plan allows 2 API keys" in result.stderr
    assert len(stored_keys(app, user)) == 2


def test_create_needs_a_name(app, cli, make_user):
    user = make_user("hana", plan="PRO")
    assert cli("api-keys", "create", user.email).exit_code == 2           # --name is required
    result = cli("api-keys", "create", user.email, "--name", "   ")
    assert result.exit_code == 1 and result.stdout == "" and "name" in result.stderr
    assert stored_keys(app, user) == []


def test_list_shows_each_keys_prefix_and_name_but_never_the_key(app, cli, make_user):
    user = make_user("hana", plan="PRO")
    raw = cli("api-keys", "create", user.email, "--name", "deploy").stdout.strip()
    result = cli("api-keys", "list", user.email)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{raw[:12]}\tdeploy\t") and result.stdout.rstrip().endswith("never")
    assert raw not in result.stdout
