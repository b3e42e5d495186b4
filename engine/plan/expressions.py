"""Bound expressions: immutable, typed trees built by the binder and evaluated by operators.

Every column flowing through a plan is a ``ColumnRef`` with a plan-wide unique id; physical
batches name their columns by ``ColumnRef.key`` (``#<id>``), so joins never collide on names and
rules can move expressions between nodes freely. ``sql()`` renders an expression for EXPLAIN.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


class Expr:
    dtype: pa.DataType

    def children(self) -> tuple[Expr, ...]:
        return ()

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return self

    def walk(self) -> Iterator[Expr]:
        yield self
        for c in self.children():
            yield from c.walk()

    def transform(self, fn) -> Expr:
        """Bottom-up rewrite: ``fn`` sees each node after its children were rewritten."""
        kids = self.children()
        node = self
        if kids:
            new = tuple(k.transform(fn) for k in kids)
            if any(a is not b for a, b in zip(new, kids)):
                node = self.with_children(new)
        return fn(node)

    def columns(self) -> set[int]:
        """Ids of the columns this expression reads (subquery outer references included)."""
        out: set[int] = set()
        for e in self.walk():
            if isinstance(e, ColumnRef):
                out.add(e.cid)
            elif isinstance(e, SubqueryExpr):
                out.update(c.cid for c in e.outer)
        return out

    def sql(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class ColumnRef(Expr):
    cid: int
    name: str
    dtype: pa.DataType

    @property
    def key(self) -> str:
        return f"#{self.cid}"

    def sql(self) -> str:
        return f"{self.name}#{self.cid}"

    def __hash__(self) -> int:
        return hash(self.cid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnRef) and other.cid == self.cid


def new_column(name: str, dtype: pa.DataType) -> ColumnRef:
    return ColumnRef(next_id(), name, dtype)


@dataclass(frozen=True)
class Literal(Expr):
    value: Any
    dtype: pa.DataType

    def sql(self) -> str:
        if self.value is None:
            return "NULL"
        if isinstance(self.value, str):
            return "'" + self.value.replace("'", "''") + "'"
        if pa.types.is_date(self.dtype):
            return f"DATE '{self.value}'"
        if pa.types.is_timestamp(self.dtype):
            return f"TIMESTAMP '{self.value}'"
        if pa.types.is_interval(self.dtype):
            m, d, n = self.value
            return f"INTERVAL '{m} months {d} days {n} ns'"
        return str(self.value).upper() if isinstance(self.value, bool) else str(self.value)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Literal) and type(other.value) is type(self.value)
                and other.value == self.value and other.dtype == self.dtype)

    def __hash__(self) -> int:
        return hash((self.value, str(self.dtype)))


TRUE = Literal(True, pa.bool_())
FALSE = Literal(False, pa.bool_())

_INFIX = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "intdiv": "//",
          "mod": "%", "mod_fn": "%", "eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
          "and": "AND", "or": "OR", "concat_op": "||", "like": "LIKE", "ilike": "ILIKE",
          "not_like": "NOT LIKE", "not_ilike": "NOT ILIKE", "is_distinct": "IS DISTINCT FROM",
          "is_not_distinct": "IS NOT DISTINCT FROM"}


@dataclass(frozen=True)
class Call(Expr):
    """A scalar function or operator; ``fn`` names an entry of engine.physical.functions."""
    fn: str
    args: tuple[Expr, ...]
    dtype: pa.DataType

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return Call(self.fn, tuple(children), self.dtype)

    def sql(self) -> str:
        if self.fn in _INFIX and len(self.args) == 2:
            return f"({self.args[0].sql()} {_INFIX[self.fn]} {self.args[1].sql()})"
        if self.fn == "not":
            return f"(NOT {self.args[0].sql()})"
        if self.fn == "negate":
            return f"(- {self.args[0].sql()})"
        if self.fn == "is_null":
            return f"({self.args[0].sql()} IS NULL)"
        if self.fn == "is_not_null":
            return f"({self.args[0].sql()} IS NOT NULL)"
        return f"{self.fn}({', '.join(a.sql() for a in self.args)})"


@dataclass(frozen=True)
class Case(Expr):
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr
    dtype: pa.DataType

    def children(self) -> tuple[Expr, ...]:
        return tuple(x for w in self.whens for x in w) + (self.default,)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        n = len(self.whens)
        whens = tuple((children[2 * i], children[2 * i + 1]) for i in range(n))
        return Case(whens, children[2 * n], self.dtype)

    def sql(self) -> str:
        body = " ".join(f"WHEN {c.sql()} THEN {v.sql()}" for c, v in self.whens)
        return f"CASE {body} ELSE {self.default.sql()} END"


@dataclass(frozen=True)
class Cast(Expr):
    arg: Expr
    dtype: pa.DataType
    safe: bool = False  # TRY_CAST: failures become NULL instead of raising

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return Cast(children[0], self.dtype, self.safe)

    def sql(self) -> str:
        from engine.plan.types import sql_name
        return f"{'TRY_CAST' if self.safe else 'CAST'}({self.arg.sql()} AS {sql_name(self.dtype)})"


@dataclass(frozen=True)
class InList(Expr):
    arg: Expr
    values: tuple[Expr, ...]
    negated: bool = False
    dtype: pa.DataType = pa.bool_()

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,) + self.values

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return InList(children[0], tuple(children[1:]), self.negated)

    def sql(self) -> str:
        vals = ", ".join(v.sql() for v in self.values)
        return f"({self.arg.sql()} {'NOT IN' if self.negated else 'IN'} ({vals}))"


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    ascending: bool = True
    nulls_first: bool = False

    def sql(self) -> str:
        return (f"{self.expr.sql()} {'ASC' if self.ascending else 'DESC'}"
                f"{' NULLS FIRST' if self.nulls_first else ''}")


@dataclass(frozen=True)
class AggCall(Expr):
    """An aggregate: lives only in an Aggregate node's list, referenced above it by column."""
    fn: str
    args: tuple[Expr, ...]
    dtype: pa.DataType
    distinct: bool = False
    filter: Expr | None = None
    options: tuple = ()  # e.g. (("separator", ","),) for string_agg

    def children(self) -> tuple[Expr, ...]:
        return self.args + ((self.filter,) if self.filter is not None else ())

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        n = len(self.args)
        flt = children[n] if self.filter is not None else None
        return AggCall(self.fn, tuple(children[:n]), self.dtype, self.distinct, flt, self.options)

    def sql(self) -> str:
        args = ", ".join(a.sql() for a in self.args) or "*"
        s = f"{self.fn}({'DISTINCT ' if self.distinct else ''}{args})"
        return s + (f" FILTER (WHERE {self.filter.sql()})" if self.filter is not None else "")


@dataclass(frozen=True)
class Frame:
    """A window frame: mode 'rows' or 'range'; bounds are offsets (None = unbounded)."""
    mode: str
    start: int | None  # rows before the current row (0 = current row); None = unbounded
    end: int | None    # rows after the current row; None = unbounded

    def sql(self) -> str:
        def b(v, side):
            if v is None:
                return f"UNBOUNDED {side}"
            return "CURRENT ROW" if v == 0 else f"{abs(v)} {side if v > 0 else ('FOLLOWING' if side == 'PRECEDING' else 'PRECEDING')}"
        return f"{self.mode.upper()} BETWEEN {b(self.start, 'PRECEDING')} AND {b(self.end, 'FOLLOWING')}"


@dataclass(frozen=True)
class WindowCall(Expr):
    fn: str
    args: tuple[Expr, ...]
    partition: tuple[Expr, ...]
    order: tuple[SortKey, ...]
    frame: Frame | None
    dtype: pa.DataType
    options: tuple = ()  # an aggregate's constant parameters, as AggCall.options (quantiles)

    def children(self) -> tuple[Expr, ...]:
        return self.args + self.partition + tuple(k.expr for k in self.order)

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        a, p = len(self.args), len(self.partition)
        order = tuple(SortKey(c, k.ascending, k.nulls_first)
                      for c, k in zip(children[a + p:], self.order))
        return WindowCall(self.fn, tuple(children[:a]), tuple(children[a:a + p]), order,
                          self.frame, self.dtype, self.options)

    def sql(self) -> str:
        over = []
        if self.partition:
            over.append("PARTITION BY " + ", ".join(p.sql() for p in self.partition))
        if self.order:
            over.append("ORDER BY " + ", ".join(k.sql() for k in self.order))
        if self.frame:
            over.append(self.frame.sql())
        return f"{self.fn}({', '.join(a.sql() for a in self.args)}) OVER ({' '.join(over)})"


@dataclass(frozen=True, eq=False)
class SubqueryExpr(Expr):
    """A subquery used as a value: kind 'scalar', 'exists' or 'in' (``arg IN (plan)``).

    ``outer`` lists the enclosing query's columns the subquery reads; when it is empty the
    subquery is evaluated once per statement, otherwise the optimizer decorrelates it into a join.
    """
    kind: str
    plan: Any  # engine.plan.nodes.Node
    dtype: pa.DataType
    arg: Expr | None = None
    negated: bool = False
    outer: tuple[ColumnRef, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,) if self.arg is not None else ()

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return SubqueryExpr(self.kind, self.plan, self.dtype, children[0] if children else None,
                            self.negated, self.outer)

    def sql(self) -> str:
        inner = f"<subquery {self.kind}{' correlated' if self.outer else ''}>"
        if self.kind == "exists":
            return f"{'NOT ' if self.negated else ''}EXISTS {inner}"
        if self.kind == "in":
            return f"({self.arg.sql()} {'NOT IN' if self.negated else 'IN'} {inner})"
        return inner


def user_sql(e: Expr) -> str:
    """An expression as the user would recognise it in a message: without the plan's column ids."""
    return re.sub(r"#\d+", "", e.sql())


def conjuncts(e: Expr | None) -> list[Expr]:
    """Split an AND tree into its conjuncts."""
    if e is None:
        return []
    if isinstance(e, Call) and e.fn == "and":
        return conjuncts(e.args[0]) + conjuncts(e.args[1])
    return [e]


def and_all(parts: list[Expr]) -> Expr | None:
    out: Expr | None = None
    for p in parts:
        out = p if out is None else Call("and", (out, p), pa.bool_())
    return out


def substitute(e: Expr, mapping: dict[int, Expr]) -> Expr:
    """Replace column references by id (used to push expressions through projections)."""
    if not mapping:
        return e

    def fn(x: Expr) -> Expr:
        if isinstance(x, ColumnRef) and x.cid in mapping:
            return mapping[x.cid]
        return x
    return e.transform(fn)


def contains(e: Expr, kinds: tuple[type, ...]) -> bool:
    return any(isinstance(x, kinds) for x in e.walk())


@dataclass(frozen=True, eq=False)
class UdfCall(Expr):
    """A call of a user-defined (or built-in library) function from ``udfs``.

    ``identity`` holds hidden arguments that identify the input for the result cache, such as
    ``(video content hash, frame_id)`` for a frame read from a video table; when empty, inputs
    are identified by their content.
    """
    name: str
    args: tuple[Expr, ...]
    dtype: pa.DataType
    udf: Any = None            # udfs.core.UDF
    identity: tuple[Expr, ...] = ()

    @property
    def deterministic(self) -> bool:
        return bool(getattr(self.udf, "deterministic", True))

    def children(self) -> tuple[Expr, ...]:
        return self.args + self.identity

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        n = len(self.args)
        return UdfCall(self.name, tuple(children[:n]), self.dtype, self.udf, tuple(children[n:]))

    def sql(self) -> str:
        return f"{self.name}({', '.join(a.sql() for a in self.args)})"

    def _key(self):
        return (self.name, self.args, self.identity, str(self.dtype))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UdfCall) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((self.name, self.args))
