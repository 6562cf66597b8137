"""``flask --app wsgi api-keys ...``: create and list API keys from the command line.

``create`` prints the new key alone on standard output (so ``KEY=$(flask ... api-keys create ...)`` works);
messages and errors go to standard error.
"""
from __future__ import annotations

import sys

import click

from app.cli_group import DatabaseGroup
from app.db import db
from app.models import User
from app.services.account import accounts
from app.services.developer import api_keys
from app.services.errors import ValidationFailed
from app.services.plans import PlanLimitReached

api_keys_cli = DatabaseGroup("api-keys", help="Manage API keys.")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _user(email: str) -> User:
    user = User.get_or_none(User.email == accounts.normalize_email(email))
    if user is None:
        _fail(f"no account with email {email}")
    return user


@api_keys_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="A name to recognise the key by, e.g. the program using it.")
def api_keys_create(email: str, name: str):
    """Create an API key for the account EMAIL and print it (shown only this once)."""
    with db.connection_context():
        user = _user(email)
        try:
            _key, raw = api_keys.create_api_key(user, name)
        except ValidationFailed as exc:
            _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        except PlanLimitReached as exc:
            _fail(str(exc))
    click.echo(raw)


@api_keys_cli.command("list")
@click.argument("email")
def api_keys_list(email: str):
    """List the API keys of the account EMAIL (prefix, name, created, last used)."""
    with db.connection_context():
        for key in api_keys.list_api_keys(_user(email)):
            last = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            click.echo(f"{key.prefix}\t{key.name}\t{key.created_at.isoformat(timespec='seconds')}\t{last}")
