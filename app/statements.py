"""Prepared statements: a hot query built by Peewee once per SQL dialect, then run with new values.

Building a query's SQL costs Peewee 0.1-0.5 ms of Python (more than SQLite takes to run most of ours), and a
booking runs about twenty. A ``Statement`` builds its query the first time it runs, with ``Param`` in place of
each value that changes, keeps the SQL text and the order of its parameters, and from then on only converts
the values (with the converter Peewee would have used: the field's ``db_value``) and executes. Rows come back
as the query would give them (models, joined models, namedtuples, tuples).

    _EXISTING = Statement(lambda: Booking.select().where(Booking.user == Param("user")).limit(1))
    booking = _EXISTING.first(user=host_id)

``insert(instance)`` is the same for ``Model.create``: the INSERT of a model's columns is built once.
Only queries whose shape never changes belong here: a query with optional filters is one Statement per shape.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee

from app.db import db


class Param(peewee.Node):
    """A named value of a Statement. In a comparison with a field it is converted as the field converts its
    values; elsewhere (SET, VALUES) give the ``field`` whose ``db_value`` converts it."""

    def __init__(self, name: str, field: peewee.Field | None = None) -> None:
        self.name = name
        self.field = field

    def __sql__(self, ctx):
        converter = self.field.db_value if self.field is not None else ctx.state.converter
        return ctx.value(_Slot(self.name, converter), converter=False)


@dataclass(frozen=True)
class _Slot:
    name: str
    converter: Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple            # constants, or _Slot for the values given at each run
    names: frozenset[str]
    query: peewee.BaseQuery  # for its cursor wrapper (how rows become models)


_lock = threading.Lock()


def _dialect() -> type:
    """The key of a compiled statement: its SQL depends on the kind of database only."""
    return type(db.obj)


class Statement:
    def __init__(self, build: Callable[[], peewee.BaseQuery]) -> None:
        self._build = build
        self._compiled: dict[type, _Compiled] = {}

    def _get(self) -> _Compiled:
        dialect = _dialect()
        compiled = self._compiled.get(dialect)
        if compiled is None:
            with _lock:
                query = self._build()
                sql, params = query.sql()
                names = frozenset(p.name for p in params if isinstance(p, _Slot))
                compiled = self._compiled[dialect] = _Compiled(sql, tuple(params), names, query)
        return compiled

    def _cursor(self, values: dict):
        compiled = self._get()
        if values.keys() != compiled.names:
            missing, extra = compiled.names - values.keys(), values.keys() - compiled.names
            raise TypeError(f"statement parameters: missing {sorted(missing)}, unexpected {sorted(extra)}")
        params = [(p.converter(values[p.name]) if p.converter else values[p.name]) if isinstance(p, _Slot) else p
                  for p in compiled.params]
        return compiled, db.execute_sql(compiled.sql, params)

    def rows(self, **values) -> list:
        """Every row, as the query's own iteration would give them."""
        compiled, cursor = self._cursor(values)
        return list(compiled.query._get_cursor_wrapper(cursor))

    def first(self, **values):
        """The first row or None (give the query its ``.limit(1)``)."""
        rows = self.rows(**values)
        return rows[0] if rows else None

    def scalar(self, **values):
        compiled, cursor = self._cursor(values)
        row = cursor.fetchone()
        return row[0] if row else None

    def execute(self, **values) -> int:
        """Run a write; the number of rows it changed."""
        _compiled, cursor = self._cursor(values)
        return db.rows_affected(cursor)


_inserts: dict[tuple, Statement] = {}


def insert(instance: peewee.Model) -> peewee.Model:
    """INSERT ``instance`` (built with its defaults, primary key included) as ``Model.create`` would."""
    model = type(instance)
    data = instance.__data__
    key = (model, tuple(data))
    statement = _inserts.get(key)
    if statement is None:
        fields = [model._meta.fields[name] for name in data]
        statement = _inserts[key] = Statement(
            lambda: model.insert({f: Param(f.name, f) for f in fields}).returning())
    statement.execute(**data)
    instance._dirty.clear()
    return instance


def create(model: type[peewee.Model], **values) -> peewee.Model:
    """``model.create(**values)`` with the INSERT built once per set of columns."""
    return insert(model(**values))
