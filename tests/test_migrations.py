"""The migrations build exactly the schema the models describe, and ``flask db`` applies them once.

An empty database migrated with every script in migrations/ is compared with an empty database built by
``create_tables(app.models.ALL_MODELS)``: tables, columns (name, nullability, type family), indexes (columns
and uniqueness) and foreign keys (column, target, ON DELETE). Runs on the suite's backend (SQLite, or
PostgreSQL with LINKTIME_TEST_BACKEND=postgres). Models and migrations are discovered at run time, so new ones
are covered as they are added.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import peewee
import pytest

from tests.conftest import BACKEND, DATABASE_URL, PG_DEFAULT

TYPE_ALIASES = {
    "character varying": "varchar", "char": "varchar", "character": "varchar",
    "int": "integer", "int4": "integer", "int8": "bigint", "bool": "boolean", "datetime": "timestamp",
    "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
    "double precision": "real", "float": "real", "double": "real", "numeric": "decimal",
}
PG_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _all_models() -> list[type[peewee.Model]]:
    return list(importlib.import_module("app.models").ALL_MODELS)


@contextmanager
def fresh_database(label: str, tmp_path: Path):
    """The URL of a new, empty database on the suite's backend, removed afterwards."""
    if BACKEND != "postgres":
        yield f"sqlite:///{tmp_path / f'{label}.db'}"
        return
    import psycopg2

    from app.db import database_from_url

    base = os.environ.get("TEST_DATABASE_URL", PG_DEFAULT)
    name = f"linktime_mig_{label}_{secrets.token_hex(4)}"
    admin = psycopg2.connect(base, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(urlparse(base)._replace(path="/" + name))
    try:
        yield url
    finally:
        database_from_url(url).close_all()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def restore_test_database():
    """Tests here point the shared ``db`` proxy at other databases; put it back for the next test."""
    yield
    from app.db import db, init_database
    if not db.is_closed():
        db.close()
    init_database(DATABASE_URL)


def _type_family(data_type: str) -> str:
    base = re.sub(r"\(.*\)", "", data_type.lower()).strip()
    return TYPE_ALIASES.get(base, base)


def _foreign_keys(database: peewee.Database, table: str) -> set[tuple]:
    if isinstance(database, peewee.PostgresqlDatabase):
        rows = database.execute_sql(
            """SELECT a.attname, ft.relname, fa.attname, c.confdeltype
               FROM pg_constraint c
               JOIN pg_class t ON t.oid = c.conrelid
               JOIN pg_class ft ON ft.oid = c.confrelid
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
               JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = ANY(c.confkey)
               WHERE c.contype = 'f' AND t.relname = %s AND t.relnamespace = 'public'::regnamespace""",
            (table,)).fetchall()
        return {(col, dest, dest_col, PG_ON_DELETE[rule]) for col, dest, dest_col, rule in rows}
    rows = database.execute_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
    return {(row[3], row[2], row[4], row[6].upper()) for row in rows}


def describe_schema(database: peewee.Database) -> dict[str, dict]:
    """Tables with their columns, indexes and foreign keys, in a form two databases can be compared by."""
    schema = {}
    for table in database.get_tables():
        if table == "schema_migrations":
            continue
        schema[table] = {
            "columns": {c.name: {"null": c.null, "type": _type_family(c.data_type), "pk": c.primary_key}
                        for c in database.get_columns(table)},
            "indexes": sorted((tuple(i.columns), i.unique) for i in database.get_indexes(table)),
            "foreign_keys": sorted(_foreign_keys(database, table)),
        }
    return schema


def _migrated_schema(url: str) -> dict:
    from app.db import database_from_url, db, init_database, upgrade
    init_database(url)
    with db.connection_context():
        applied = upgrade()
    assert applied, "no migration was applied to the empty database"
    database = database_from_url(url)
    with database.connection_context():
        return describe_schema(database)


def _models_schema(url: str) -> dict:
    from app.db import database_from_url
    database = database_from_url(url)
    models = _all_models()
    with database.connection_context(), database.bind_ctx(models):
        database.create_tables(models)
        return describe_schema(database)


def _differences(migrated: dict, modelled: dict) -> list[str]:
    problems = []
    for table in sorted(set(migrated) | set(modelled)):
        if table not in migrated:
            problems.append(f"table {table}: in the models but no migration creates it")
            continue
        if table not in modelled:
            problems.append(f"table {table}: created by a migration but no model in ALL_MODELS")
            continue
        m, d = migrated[table], modelled[table]
        for column in sorted(set(m["columns"]) | set(d["columns"])):
            got, want = m["columns"].get(column), d["columns"].get(column)
            if got != want:
                problems.append(f"{table}.{column}: migrations give {got}, the model says {want}")
        for key in ("indexes", "foreign_keys"):
            if m[key] != d[key]:
                problems.append(f"{table} {key}: migrations give {m[key]}, the models say {d[key]}")
    return problems


def test_migrations_build_the_same_schema_as_the_models(tmp_path, restore_test_database):
    with fresh_database("migrated", tmp_path) as migrated_url, fresh_database("models", tmp_path) as models_url:
        migrated = _migrated_schema(migrated_url)
        modelled = _models_schema(models_url)
    assert modelled, "ALL_MODELS created no tables"
    problems = _differences(migrated, modelled)
    assert not problems, "migrations and models disagree:\n  " + "\n  ".join(problems)


def test_schema_comparison_notices_a_column_the_migrations_lack(tmp_path, restore_test_database):
    """The comparison itself can fail: a model column no migration adds is reported."""
    from app.db import database_from_url
    with fresh_database("migrated", tmp_path) as migrated_url:
        migrated = _migrated_schema(migrated_url)
        database = database_from_url(migrated_url)
        with database.connection_context():
            database.execute_sql('ALTER TABLE "users" ADD COLUMN "nickname" VARCHAR(20)')
            database.execute_sql('CREATE UNIQUE INDEX "users_nickname" ON "users" ("nickname")')
            changed = describe_schema(database)
    problems = _differences(changed, migrated)
    assert any("users.nickname" in p for p in problems) and any("users indexes" in p for p in problems), problems


def test_every_model_module_is_listed_in_all_models():
    """A model missing from ALL_MODELS would escape the comparison above (and the test-database cleanup)."""
    import app.models as package
    from app.db import db

    listed = set(_all_models())
    defined = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"app.models.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, peewee.Model) and value.__module__ == module.__name__
                    and value._meta.database is db and info.name != "base"):
                defined.add(value)
    assert defined - listed == set(), f"models not in ALL_MODELS: {sorted(m.__name__ for m in defined - listed)}"


def test_migration_files_are_numbered_without_gaps_or_duplicates():
    from app.db import migration_files
    numbers = [int(p.name[:4]) for p in migration_files()]
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in migration_files()]


def test_db_upgrade_applies_everything_once_and_status_lists_all_applied(tmp_path, restore_test_database):
    from app import create_app
    from app.db import database_from_url, migration_files

    names = [p.stem for p in migration_files()]
    with fresh_database("cli", tmp_path) as url:
        runner = create_app({"DATABASE_URL": url, "TESTING": True}).test_cli_runner()

        before = runner.invoke(args=["db", "status"])
        assert before.exit_code == 0, before.output
        assert before.output.splitlines() == [f"[ ] {n}" for n in names] + [f"{len(names)} pending"]

        first = runner.invoke(args=["db", "upgrade"])
        assert first.exit_code == 0, first.output
        assert [line for line in first.output.splitlines() if line.startswith("applied ")] == [
            f"applied {n}" for n in names]
        assert f"{len(names)} migration(s) applied" in first.output
        database = database_from_url(url)
        with database.connection_context():
            schema_after_first = describe_schema(database)

        status = runner.invoke(args=["db", "status"])
        assert status.exit_code == 0, status.output
        assert status.output.splitlines() == [f"[x] {n}" for n in names] + ["0 pending"]

        again = runner.invoke(args=["db", "upgrade"])
        assert again.exit_code == 0, again.output
        assert again.output.strip() == "database is up to date"
        with database.connection_context():
            assert describe_schema(database) == schema_after_first
            applied = database.execute_sql("SELECT name FROM schema_migrations ORDER BY name").fetchall()
        assert [row[0] for row in applied] == names


def test_0013_marks_accounts_verified_only_where_a_sign_in_identity_carries_their_address_and_admins(tmp_path):
    from app.db import _load, database_from_url, migration_files

    with fresh_database("verified", tmp_path) as url:
        database = database_from_url(url)
        with database.connection_context():
            files = migration_files()
            for path in files:
                if path.name.startswith("0013"):
                    break
                with database.atomic():
                    _load(path).upgrade(database)
            user_sql = ('INSERT INTO "users" (id, email, username, name, timezone, brand_color, plan, is_admin, '
                        "is_disabled, session_key, created_at) VALUES (%s, %s, %s, 'N', 'UTC', '#2563eb', 'FREE', "
                        "%s, %s, 'k', '2026-01-02 03:04:05')")
            identity_sql = ('INSERT INTO "oauth_identities" (id, user_id, provider, subject, email, created_at) '
                            "VALUES (%s, %s, 'google', %s, %s, '2026-01-02 03:04:05')")
            if BACKEND != "postgres":
                user_sql, identity_sql = user_sql.replace("%s", "?"), identity_sql.replace("%s", "?")
            for uid, email, admin in (("u1", "linked@example.com", False), ("u2", "plain@example.com", False),
                                      ("u3", "changed@example.com", False), ("u4", "admin@example.com", True)):
                database.execute_sql(user_sql, (uid, email, uid, admin, False))
            database.execute_sql(identity_sql, ("i1", "u1", "s1", "linked@example.com"))
            database.execute_sql(identity_sql, ("i3", "u3", "s3", "old-address@example.com"))
            with database.atomic():
                _load(next(p for p in files if p.name.startswith("0013"))).upgrade(database)
            rows = dict(database.execute_sql(
                'SELECT id, email_verified_at IS NOT NULL FROM "users" ORDER BY id').fetchall())
    assert {k: bool(v) for k, v in rows.items()} == {"u1": True, "u2": False, "u3": False, "u4": True}
