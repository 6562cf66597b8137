"""The ``flask users`` commands: create, set-plan, list, and their error messages."""
from __future__ import annotations

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=list(args))
    return invoke


def _user(app, email):
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        return User.get_or_none(User.email == email)


def _audit(app, action):
    from app.db import db
    from app.models import AuditLog
    with app.app_context(), db.connection_context():
        return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.created_at))


def test_users_create_with_every_option_creates_the_account(cli, app):
    result = cli("users", "create", "Ada@Example.com", "--username", "ada", "--password", PASSWORD,
                 "--name", "Ada Lovelace", "--timezone", "Europe/London", "--plan", "business", "--admin")
    assert result.exit_code == 0, result.output
    user = _user(app, "ada@example.com")
    assert f"created ada@example.com (ada) id={user.id}" in result.output
    assert (user.name, user.username, user.timezone, user.plan, user.is_admin) == (
        "Ada Lovelace", "ada", "Europe/London", "BUSINESS", True)
    from app.security import verify_password
    assert verify_password(user.password_hash, PASSWORD)


def test_users_create_defaults_and_the_admin_flag(cli, app):
    assert cli("users", "create", "first@example.com", "--username", "first", "--password", PASSWORD).exit_code == 0
    assert cli("users", "create", "plain@example.com", "--username", "plain", "--password", PASSWORD).exit_code == 0
    assert cli("users", "create", "boss@example.com", "--username", "boss", "--password", PASSWORD,
               "--admin").exit_code == 0
    first, plain, boss = (_user(app, f"{n}@example.com") for n in ("first", "plain", "boss"))
    assert (first.name, first.timezone, first.plan) == ("first", "UTC", "FREE")
    assert first.is_admin  # the instance's first account administers it
    assert not plain.is_admin and boss.is_admin


def test_users_create_uses_the_configured_default_plan(app_factory):
    app = app_factory(DEFAULT_PLAN="PRO")
    result = app.test_cli_runner().invoke(args=["users", "create", "p@example.com", "--username", "pro-user",
                                                "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert _user(app, "p@example.com").plan == "PRO"


@pytest.mark.parametrize("args,message", [
    (["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["--plan", "GOLD"], "unknown plan 'GOLD'"),
    (["--password", "short"], "password: Use at least 10 characters."),
])
def test_users_create_with_bad_values_fails_with_a_clear_message(cli, app, args, message):
    options = {"--password": PASSWORD}
    options.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = cli("users", "create", "ada@example.com", "--username", "ada",
                 *[x for pair in options.items() for x in pair])
    assert result.exit_code != 0
    assert f"error: {message}" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert _user(app, "ada@example.com") is None


def test_users_create_refuses_a_duplicate_email_or_username(cli, app):
    assert cli("users", "create", "ada@example.com", "--username", "ada", "--password", PASSWORD).exit_code == 0
    same_email = cli("users", "create", "ADA@example.com", "--username", "other", "--password", PASSWORD)
    assert same_email.exit_code != 0
    assert "error: email: An account with this email already exists." in same_email.output
    same_username = cli("users", "create", "new@example.com", "--username", "ada", "--password", PASSWORD)
    assert same_username.exit_code != 0 and "error: username: This username is taken." in same_username.output
    assert _user(app, "new@example.com") is None and _user(app, "other@example.com") is None


def test_users_create_requires_username_and_password(cli):
    result = cli("users", "create", "ada@example.com", "--password", PASSWORD)
    assert result.exit_code == 2 and "Missing option '--username'" in result.output


def test_users_set_plan_changes_the_plan_and_records_it(cli, app):
    cli("users", "create", "ada@example.com", "--username", "ada", "--password", PASSWORD)
    result = cli("users", "set-plan", "ADA@example.com", "pro")
    assert result.exit_code == 0, result.output
    assert "ada@example.com plan=PRO" in result.output
    assert _user(app, "ada@example.com").plan == "PRO"
    alias = cli("users", "set-plan", "ada@example.com", "ENTERPRISE")
    assert alias.exit_code == 0 and _user(app, "ada@example.com").plan == "ORGANIZATION"
    entries = [e for e in _audit(app, "settings.updated") if '"plan"' in e.details]
    assert len(entries) == 2 and '"oldValue":"FREE"' in entries[0].details and '"newValue":"PRO"' in entries[0].details


def test_users_set_plan_errors_are_clear(cli, app):
    cli("users", "create", "ada@example.com", "--username", "ada", "--password", PASSWORD)
    unknown_user = cli("users", "set-plan", "nobody@example.com", "PRO")
    assert unknown_user.exit_code != 0 and "error: no account with email nobody@example.com" in unknown_user.output
    bad_plan = cli("users", "set-plan", "ada@example.com", "PLATINUM")
    assert bad_plan.exit_code != 0 and "error: unknown plan 'PLATINUM'" in bad_plan.output
    assert _user(app, "ada@example.com").plan == "FREE"


def test_users_list_shows_every_account_with_plan_and_flags(cli, app):
    cli("users", "create", "ada@example.com", "--username", "ada", "--password", PASSWORD, "--timezone",
        "Europe/London")
    cli("users", "create", "bob@example.com", "--username", "bob", "--password", PASSWORD, "--plan", "PRO")
    from app.db import db
    from app.models import User
    with app.app_context(), db.connection_context():
        User.update(is_disabled=True).where(User.username == "bob").execute()
    result = cli("users", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines == ["ada@example.com\tada\tFREE\tEurope/London\tadmin",
                     "bob@example.com\tbob\tPRO\tUTC\tdisabled"]


def test_users_list_on_an_empty_instance_prints_nothing(cli):
    result = cli("users", "list")
    assert result.exit_code == 0 and result.output == ""


def test_accounts_created_on_the_command_line_count_as_verified(cli, app, make_user):
    make_user("someone-first")  # so the CLI account is not the instance's first (verified for that reason)
    assert cli("users", "create", "ops@example.com", "--username", "ops", "--password", PASSWORD).exit_code == 0
    assert _user(app, "ops@example.com").email_verified_at is not None
    assert _user(app, "someone-first@example.com").email_verified_at is not None
