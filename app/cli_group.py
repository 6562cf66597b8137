"""The click group of the commands that use the database (``flask db``, ``flask users``, ``flask api-keys``)."""
from __future__ import annotations

import click
from flask.cli import AppGroup, ScriptInfo

from app.db_errors import DATABASE_ERRORS, unreachable_message


class DatabaseGroup(AppGroup):
    """Commands that use the database: when it cannot be reached, one line on standard error and exit
    status 1, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DATABASE_ERRORS as exc:
            url = ctx.ensure_object(ScriptInfo).load_app().config["DATABASE_URL"]
            click.echo(unreachable_message(url, exc), err=True)
            ctx.exit(1)
