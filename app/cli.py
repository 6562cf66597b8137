"""Command-line interface: ``flask --app wsgi db ...`` and ``flask --app wsgi users ...``."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app

from app.cli_api_keys import api_keys_cli
from app.cli_group import DatabaseGroup
from app.db import db, migration_status, upgrade
from app.models import User
from app.services.account import accounts
from app.services.errors import ValidationFailed
from app.services.plans import UnknownPlan, normalize_plan
from app.timezones import is_valid_timezone

db_cli = DatabaseGroup("db", help="Database migrations.")
users_cli = DatabaseGroup("users", help="Manage accounts.")


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every pending migration."""
    with db.connection_context():
        done = upgrade(log=click.echo)
    click.echo("database is up to date" if not done else f"{len(done)} migration(s) applied")


@db_cli.command("status")
def db_status():
    """List migrations and whether each is applied."""
    with db.connection_context():
        rows = migration_status()
    for name, applied in rows:
        click.echo(f"[{'x' if applied else ' '}] {name}")
    pending = sum(1 for _, applied in rows if not applied)
    click.echo(f"{pending} pending")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@users_cli.command("create")
@click.argument("email")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--name", default=None)
@click.option("--timezone", "tz", default="UTC")
@click.option("--plan", default=None)
@click.option("--admin", is_flag=True, default=False)
def users_create(email, username, password, name, tz, plan, admin):
    """Create an account."""
    if not is_valid_timezone(tz):
        _fail(f"unknown time zone {tz!r}")
    try:
        plan = normalize_plan(plan or current_app.config["DEFAULT_PLAN"])
    except UnknownPlan as exc:
        _fail(str(exc))
    with db.connection_context():
        try:
            user = accounts.signup(
                accounts.SignupData(name=name or username, email=email, username=username, password=password,
                                    timezone=tz),
                default_plan=plan, email_verified=True)  # the operator vouches for the address
            if admin and not user.is_admin:
                User.update(is_admin=True).where(User.id == user.id).execute()
        except ValidationFailed as exc:
            _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        click.echo(f"created {user.email} ({user.username}) id={user.id}")


@users_cli.command("set-plan")
@click.argument("email")
@click.argument("plan")
def users_set_plan(email, plan):
    """Set an account's plan (FREE, PRO, BUSINESS, ORGANIZATION)."""
    with db.connection_context():
        user = User.get_or_none(User.email == accounts.normalize_email(email))
        if user is None:
            _fail(f"no account with email {email}")
        try:
            accounts.set_plan(user, plan)
        except ValidationFailed as exc:
            _fail(exc.errors["plan"])
        click.echo(f"{user.email} plan={user.plan}")


@users_cli.command("list")
def users_list():
    """List accounts."""
    with db.connection_context():
        for u in User.select().order_by(User.created_at):
            flags = ",".join(f for f, on in (("admin", u.is_admin), ("disabled", u.is_disabled)) if on)
            click.echo(f"{u.email}\t{u.username}\t{u.plan}\t{u.timezone}\t{flags}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(api_keys_cli)
