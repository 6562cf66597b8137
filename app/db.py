"""Database from a URL, connection per request, transactions with after-commit hooks, migrations.

SQLite (default) runs in WAL mode with foreign keys and a busy timeout; PostgreSQL is selected by a
``postgresql://`` URL. All models bind to the proxy ``db``; ``init_database`` points it at a database.

SQLite writes: every transaction (``transaction()``, ``db.atomic()``, migrations) begins with BEGIN IMMEDIATE,
so it holds the database's write lock from its first statement. A deferred transaction that reads and then
writes cannot wait for the lock when another connection committed in between: SQLite answers "database is
locked" at once, without the busy timeout. And within a process, write transactions and single write
statements outside a transaction queue on a lock of the process (``WriteQueue``, first come first served)
before they ask SQLite: a thread waits exactly as long as the writers ahead of it take, instead of sleeping
in SQLite's busy handler (sleeps that grow to 100 ms and made the slowest bookings take over a second).
Other processes (a CLI command, gunicorn workers) meet at SQLite's lock, where the busy timeout applies.
Reads outside a transaction take no lock. Keep network calls out of transactions: one holds every writer
of the process.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import threading
import time
from collections import deque
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


class WriteQueue:
    """One SQLite write at a time in this process, handed from one thread to the next in arrival order.

    Not re-entrant: ``SqliteDatabase`` asks for it once per transaction (nested ones are savepoints).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[tuple[int, threading.Lock]] = deque()
        self.owner: int | None = None     # thread id of the holder

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self.owner is None:
                self.owner = me
                return True
            ticket = threading.Lock()
            ticket.acquire()
            self._waiting.append((me, ticket))
        try:
            if ticket.acquire(timeout=timeout):
                return True               # release() handed it over (and made this thread the owner)
        except BaseException:             # interrupted while waiting: leave the line, or pass on a turn just given
            with self._mutex:
                try:
                    self._waiting.remove((me, ticket))
                except ValueError:
                    self._hand_on()
            raise
        with self._mutex:
            try:
                self._waiting.remove((me, ticket))
            except ValueError:            # handed over just as the wait timed out
                return True
            return False

    def release(self) -> None:
        with self._mutex:
            self._hand_on()

    def _hand_on(self) -> None:
        if self._waiting:
            self.owner, ticket = self._waiting.popleft()
            ticket.release()
        else:
            self.owner = None

    def held(self) -> bool:
        return self.owner == threading.get_ident()

    def reset(self) -> None:
        """In a forked child: the threads that held or waited for it do not exist there."""
        self._mutex = threading.Lock()
        self._waiting = deque()
        self.owner = None


# A statement that writes (outside a transaction it is a transaction of its own).
WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|VACUUM|REINDEX)\b", re.IGNORECASE)


class SqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose transactions are write transactions from BEGIN (IMMEDIATE), queued in the process."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.write_queue = WriteQueue()
        _sqlite_databases.append(self)

    def _set_pragmas(self, conn) -> None:
        """Peewee's, retried while another process switches a new database file to WAL: that switch needs an
        exclusive lock, and SQLite answers "database is locked" at once instead of waiting in its busy handler
        (two processes starting on a new database together, e.g. web workers and ``flask db upgrade``)."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return super()._set_pragmas(conn)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _queue(self) -> bool:
        """Take this process's write turn unless the thread has it; True when this call took it."""
        if self.write_queue.held():
            return False
        if not self.write_queue.acquire(timeout=self._timeout):
            raise peewee.OperationalError(
                f"database is locked: no write turn in this process within {self._timeout} s")
        return True

    def _unqueue(self) -> None:
        if self.write_queue.held():
            self.write_queue.release()

    def begin(self, lock_type=None) -> None:
        # IMMEDIATE whatever was asked: a transaction that reads first must not find the lock gone at its
        # first write. Savepoints (nested transactions) do not come here.
        took = self._queue()
        try:
            super().begin("IMMEDIATE")
        except BaseException:
            if took:
                self._unqueue()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            # a COMMIT that failed leaves the transaction open until its ROLLBACK
            if self.is_closed() or not self.connection().in_transaction:
                self._unqueue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if self.is_closed() or not self.connection().in_transaction:
                self._unqueue()

    def _close(self, conn) -> None:
        try:
            super()._close(conn)    # closing a connection ends its transaction
        finally:
            self._unqueue()

    def execute_sql(self, sql, params=None):
        if self.write_queue.held() or not WRITE_STATEMENT.match(sql):
            return super().execute_sql(sql, params)
        self._queue()               # a write outside a transaction waits for its turn like a transaction
        try:
            return super().execute_sql(sql, params)
        finally:
            self._unqueue()


_sqlite_databases: list[SqliteDatabase] = []


def _reset_write_queues() -> None:
    for database in _sqlite_databases:
        database.write_queue.reset()


os.register_at_fork(after_in_child=_reset_write_queues)


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
            database = SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10)
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
    if isinstance(db.obj, SqliteDatabase):
        db.obj._unqueue()   # nor this process's write turn


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
def transaction(immediate: bool = True):
    """A write transaction. On SQLite every transaction takes the write lock at BEGIN (IMMEDIATE) after
    waiting for this process's write turn (see the module docstring), whatever ``immediate`` says: it is
    kept for the callers that spell it out. On PostgreSQL it is a plain transaction (bookings lock their host's
    row to serialise).

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
        with db.atomic():
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


MIGRATION_LOCK = 7_140_512   # PostgreSQL advisory lock key: one migrating process at a time


def _migration_lock() -> None:
    """Inside a transaction: wait until no other process migrates (SQLite: the transaction's write lock
    already does; PostgreSQL: a transaction-scoped advisory lock)."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))


def migration_status() -> list[tuple[str, bool]]:
    with db.atomic():
        _migration_lock()
        db.create_tables([SchemaMigration], safe=True)
    applied = {m.name for m in SchemaMigration.select()}
    return [(p.stem, p.stem in applied) for p in migration_files()]


def upgrade(log: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Apply every pending migration in order, each in its own transaction. Several processes may start at
    once (web workers, ``flask db upgrade``): each migration is checked again under the migration lock, so
    one of them applies it and the others skip it."""
    done = []
    for name, applied in migration_status():
        if applied:
            continue
        module = _load(MIGRATIONS_DIR / f"{name}.py")
        with db.atomic():
            _migration_lock()
            if SchemaMigration.select().where(SchemaMigration.name == name).exists():
                continue    # applied by another process since the status was read
            module.upgrade(db.obj)
            SchemaMigration.create(name=name, applied_at=datetime.now(UTC))
        log(f"applied {name}")
        done.append(name)
    return done
