"""Querysets built and compiled to SQL once per process, then run with each request's values.

Building a queryset (filters, annotations, subqueries) and compiling it costs Django more CPU than
PostgreSQL spends answering it for the small, hot queries of a page: the similar-photos ranking
query took ~1.8 ms of the web process's CPU a page to build and compile, its source vector's query
and a photo's visibility lookup most of a millisecond more (cProfile of bench/page_cpu.py,
issue 17). A ``PreparedQuery`` keeps the ORM as the one definition of the query: it builds the
queryset once for each shape (``**shape``: whatever changes the SQL text, such as a signed-in
viewer or a LIMIT), with a placeholder value for each parameter, compiles it, and remembers at
which positions of the SQL's parameters the placeholders went. Each run puts the real values,
prepared for the database by the same fields the ORM prepares them with, at those positions and
turns the rows into model instances as a queryset would (select_related rows and annotations
included). The SQL and parameters are the ORM's own for those values: tests compare them with a
freshly built queryset's (tests/gallery/platform/test_prepared.py).

A value that is not a parameter is baked into the SQL text: anything that varies (settings, the
viewer being signed in, limits) must be a parameter or part of the shape.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import CharField, Field, IntegerField, Model, QuerySet, TextField, UUIDField
from django.db.models.query import get_related_populators

# Compiled shapes kept per query, oldest dropped first: a shape can hold a request's offset.
MAX_SHAPES = 256
# Placeholder text values: never sent to the database, and no real title or version holds a NUL.
_TEXT_MARK = "\x00prepared-placeholder-"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]  # (position in params, parameter name)
    compiler: object
    db: str

    def instances(self, values: dict[str, object]) -> list[Model]:
        params = list(self.params)
        for position, name in self.slots:
            params[position] = values[name]
        with connections[self.db].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        # What django.db.models.query.ModelIterable does with the rows of a compiled query.
        compiler = self.compiler
        select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
        model, select_fields = klass_info["model"], klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        related_populators = get_related_populators(klass_info, select, self.db)
        objects = []
        for row in compiler.results_iter([rows]):
            obj = model.from_db(self.db, init_list, row[start:end])
            for populator in related_populators:
                populator.populate(row, obj)
            for name, position in annotation_col_map.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


class PreparedQuery:
    """``build(**placeholders, **shape)`` returns the queryset; ``params`` names each parameter with
    the field that prepares its value for the database (a model class: an instance of it, passed
    by its primary key, as ``filter(owner=user)`` does)."""

    def __init__(self, build: Callable[..., QuerySet], **params: Field | type[Model]) -> None:
        self._build = build
        self._params = params
        self._compiled: dict[tuple, _Compiled] = {}
        self._lock = threading.Lock()

    def list(self, *, values: dict[str, object], **shape: object) -> list[Model]:
        compiled = self.compiled(**shape)
        connection = connections[compiled.db]
        return compiled.instances({name: self._db_value(name, value, connection) for name, value in values.items()})

    def sql_with_params(self, *, values: dict[str, object], **shape: object) -> tuple[str, tuple]:
        """What ``list`` sends to the database (tests compare it with the ORM's)."""
        compiled = self.compiled(**shape)
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = self._db_value(name, values[name], connections[compiled.db])
        return compiled.sql, tuple(params)

    def first(self, *, values: dict[str, object], **shape: object) -> Model | None:
        """The one row of a query built with ``first_row_queryset``, or None."""
        rows = self.list(values=values, **shape)
        return rows[0] if rows else None

    def compiled(self, **shape: object) -> _Compiled:
        key = tuple(sorted(shape.items()))
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key) or self._compile(shape)
                if len(self._compiled) >= MAX_SHAPES:  # shapes made from request values (an offset)
                    self._compiled.pop(next(iter(self._compiled)))
                self._compiled[key] = compiled
        return compiled

    def _compile(self, shape: dict) -> _Compiled:
        placeholders = {name: _placeholder(kind, index) for index, (name, kind) in enumerate(self._params.items())}
        queryset = self._build(**placeholders, **shape)
        if queryset._known_related_objects or queryset._prefetch_related_lookups:
            raise ValueError("a prepared query returns rows as a plain queryset does: no prefetches")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        connection = connections[queryset.db]
        marks = {}
        for name, value in placeholders.items():
            db_value = self._db_value(name, value, connection)
            marks[(type(db_value), db_value)] = name
        slots = []
        for position, param in enumerate(params):
            name = marks.get((type(param), param))
            if name is not None:
                slots.append((position, name))
            elif isinstance(param, str) and _TEXT_MARK in param:
                # The ORM rewrote a placeholder (a LIKE pattern, a cast in Python): the real value
                # would need the same rewrite, which this class does not know.
                raise ValueError(f"a placeholder was transformed by the ORM: {param!r}")
        return _Compiled(sql=sql, params=tuple(params), slots=tuple(slots), compiler=compiler, db=queryset.db)

    def _db_value(self, name: str, value: object, connection) -> object:
        kind = self._params[name]
        if isinstance(kind, type) and issubclass(kind, Model):
            return kind._meta.pk.get_db_prep_value(value.pk, connection)
        return kind.get_db_prep_value(value, connection)


def _placeholder(kind: Field | type[Model], index: int) -> object:
    if isinstance(kind, type) and issubclass(kind, Model):
        return kind(pk=_placeholder(kind._meta.pk, index))
    if isinstance(kind, UUIDField):
        return uuid.UUID(int=(0x5EED << 112) + index)
    if isinstance(kind, (CharField, TextField)):
        return f"{_TEXT_MARK}{index}\x00"
    if isinstance(kind, IntegerField):  # also AutoField and BigAutoField
        return -(10**15) - index
    raise TypeError(f"no placeholder for a {type(kind).__name__}")


def first_row_queryset(queryset: QuerySet) -> QuerySet:
    """What ``queryset.first()`` runs, as a queryset to prepare: its ordering (else by primary
    key), LIMIT 1."""
    return (queryset if queryset.ordered else queryset.order_by("pk"))[:1]
