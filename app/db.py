"""Database from a URL, connection per request, transactions with after-commit hooks, migrations.

SQLite (default) runs in WAL mode with foreign keys and a busy timeout; PostgreSQL is selected by a
``postgresql://`` URL. All models bind to the proxy ``db``; ``init_database`` points it at a database.
"""
from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase

from app.instance import private_dir, private_file

db = peewee.DatabaseProxy()

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("busy_timeout", 10000),
    ("synchronous", "normal"),
    ("cache_size", -16000),
)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

_databases: dict[str, peewee.Database] = {}
_lock = threading.Lock()


def is_postgres(database: peewee.Database | None = None) -> bool:
    target = database or db.obj
    return isinstance(target, peewee.PostgresqlDatabase)


def database_from_url(url: str) -> peewee.Database:
    """One Database object per URL for the life of the process."""
    with _lock:
        if url in _databases:
            return _databases[url]
        parsed = urlparse(url)
        if parsed.scheme == "sqlite":
            path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ":memory:"
            if path != ":memory:":
                private_dir(Path(path).parent)  # created 0700, the file 0600 (app/instance.py)
                private_file(path)
            database = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10)
        elif parsed.scheme in ("postgres", "postgresql"):
            database = PooledPostgresqlDatabase(
                (parsed.path or "/postgres")[1:],
                user=unquote(parsed.username) if parsed.username else None,
                password=unquote(parsed.password) if parsed.password else None,
                host=parsed.hostname or "127.0.0.1",
                port=parsed.port or 5432,
                max_connections=32,
                stale_timeout=300,
                timeout=30,  # wait up to 30 s for a free pooled connection instead of failing at once
                autorollback=True,
            )
        else:
            raise ValueError(f"DATABASE_URL: unsupported scheme {parsed.scheme!r} (use sqlite:/// or postgresql://)")
        _databases[url] = database
        return database


def init_database(url: str) -> peewee.Database:
    database = database_from_url(url)
    db.initialize(database)
    return database


def release_connection() -> None:
    """End of a request or task. A PostgreSQL connection goes back to the pool. A SQLite connection stays
    open in its thread for the next request: opening one runs the PRAGMAs, and closing the last one
    checkpoints the WAL, together about 5 ms that every request paid when it was closed each time."""
    if db.is_closed():
        return
    if is_postgres():
        db.close()
        return
    raw = db.connection()
    if raw.in_transaction:  # never carry a transaction a failed request left open into the next one
        raw.rollback()


@contextmanager
def connection():
    """A database connection for a task or script, released (see above) at the end."""
    db.connect(reuse_if_open=True)
    try:
        yield db
    finally:
        release_connection()


# --- transactions with after-commit callbacks ------------------------------------------------------
_state = threading.local()


@contextmanager
def transaction(immediate: bool = False):
    """A write transaction. ``immediate`` takes SQLite's write lock at BEGIN (booking writes).

    Yields a ``Transaction`` whose ``after_commit(fn)`` callbacks run once the outermost transaction
    has committed (for enqueueing tasks: a task never sees uncommitted rows).
    """
    outer = getattr(_state, "tx", None)
    if outer is not None:
        with db.atomic():
            yield outer
        return
    tx = Transaction()
    _state.tx = tx
    try:
        if immediate and not is_postgres():
            ctx = db.atomic("IMMEDIATE")
        else:
            ctx = db.atomic()
        with ctx:
            yield tx
    finally:
        _state.tx = None
    tx.run_callbacks()


class Transaction:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._callbacks.append(fn)

    def run_callbacks(self) -> None:
        for fn in self._callbacks:
            fn()


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn`` after the current transaction commits, or now when none is open."""
    tx = getattr(_state, "tx", None)
    if tx is None:
        fn()
    else:
        tx.after_commit(fn)


# --- migrations -------------------------------------------------------------------------------------
class SchemaMigration(peewee.Model):
    name = peewee.CharField(primary_key=True, max_length=200)
    applied_at = peewee.DateTimeField()

    class Meta:
        database = db
        table_name = "schema_migrations"


def migration_files() -> list[Path]:
    return sorted(p for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"linktime_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def migration_status() -> list[tuple[str, bool]]:
    db.create_tables([SchemaMigration], safe=True)
    applied = {m.name for m in SchemaMigration.select()}
    return [(p.stem, p.stem in applied) for p in migration_files()]


def upgrade(log: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Apply every pending migration in order, each in its own transaction."""
    done = []
    for name, applied in migration_status():
        if applied:
            continue
        module = _load(MIGRATIONS_DIR / f"{name}.py")
        with db.atomic():
            module.upgrade(db.obj)
            SchemaMigration.create(name=name, applied_at=datetime.now(UTC))
        log(f"applied {name}")
        done.append(name)
    return done
