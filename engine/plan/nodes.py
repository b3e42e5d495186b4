"""Logical plan nodes: frozen dataclasses; rewrites build new nodes with ``with_children``.

Each node exposes ``columns`` (its output, as ColumnRefs with plan-wide unique ids), ``schema``
(the Arrow schema of its batches), ``children`` and ``with_children``. ``describe()`` gives the
node's EXPLAIN text without estimates; estimates come from engine.optimizer.cost.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from engine.plan.expressions import AggCall, ColumnRef, Expr, SortKey, WindowCall


class Node:
    @property
    def columns(self) -> tuple[ColumnRef, ...]:
        raise NotImplementedError

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.key, c.dtype) for c in self.columns])

    @property
    def children(self) -> tuple[Node, ...]:
        return ()

    def with_children(self, children: tuple[Node, ...]) -> Node:
        return self

    def expressions(self) -> tuple[Expr, ...]:
        return ()

    def describe(self) -> str:
        return type(self).__name__

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class UnaryNode(Node):
    """A node over one input, held in its ``child`` field."""

    @property
    def children(self):
        return (self.child,)

    def with_children(self, children):
        return replace(self, child=children[0])


def _cols(cols) -> str:
    return ", ".join(c.sql() for c in cols)


def describe_groups(groups) -> str:
    """Grouping keys as EXPLAIN shows them: ``expr AS out`` where the output column is a new one,
    so the plan above can be read back to the key it uses."""
    return ", ".join(e.sql() if isinstance(e, ColumnRef) and e.cid == c.cid else f"{e.sql()} AS {c.sql()}"
                     for c, e in groups)


@dataclass(frozen=True, eq=False)
class Scan(Node):
    """Read a table; ``filters`` are conjuncts pushed into the scan (applied by the scan)."""
    table: str
    source: Any  # catalog.sources.TableSource
    out: tuple[ColumnRef, ...]
    source_columns: tuple[str, ...]
    filters: tuple[Expr, ...] = ()

    @property
    def columns(self):
        return self.out

    def expressions(self):
        return self.filters

    def describe(self) -> str:
        # each source column with the id it has in the plan: a self join reads back unambiguously
        cols = ", ".join(f"{n}#{c.cid}" for n, c in zip(self.source_columns, self.out))
        s = f"Scan: {self.table} columns=[{cols}]"
        if self.filters:
            s += " filters=[" + ", ".join(f.sql() for f in self.filters) + "]"
        return s


@dataclass(frozen=True)
class SampleSpec:
    """A TABLESAMPLE / USING SAMPLE clause (engine/sql/bind/sample.py builds it)."""
    method: str                  # "bernoulli" | "system" | "reservoir"
    percent: float | None = None
    rows: int | None = None
    seed: int | None = None

    def describe(self) -> str:
        size = f"{self.rows} ROWS" if self.rows is not None else f"{self.percent:g}%"
        return f"{self.method.upper()} {size}" + (f" REPEATABLE ({self.seed})" if self.seed is not None else "")


INCLUSION_PROB = "__inclusion_prob"


@dataclass(frozen=True, eq=False)
class Sample(UnaryNode):
    """TABLESAMPLE: a sample of ``child`` (a Scan, as bound), taken before any WHERE, as SQL
    defines it, so no filter moves below it. ``prob`` is the hidden ``__inclusion_prob`` column:
    each output row's probability of being in the sample (None once nobody reads it)."""
    child: Node
    spec: SampleSpec
    prob: ColumnRef | None = None

    @property
    def columns(self):
        return self.child.columns + ((self.prob,) if self.prob is not None else ())


    def describe(self) -> str:
        s = f"Sample: {self.spec.describe()}"
        return s + (f" inclusion_prob={self.prob.sql()}" if self.prob is not None else "")


@dataclass(frozen=True)
class CascadeSpec:
    """How a Cascade answers its predicate (engine/optimizer/insert_cascades.py decides)."""
    oracle: str                  # the expensive function, as written
    predicate: str               # the predicate with plain column names (the model's key)
    model_key: str               # catalog key of the specialized model (catalog/specialized.py)
    video: str                   # the video's identity (content hash and decode options)
    fn_rate: float
    fp_rate: float
    confidence: float
    seed: int
    mode: str                    # "auto" | "force"
    have_model: bool             # a model for this predicate is stored already
    have_index: bool             # the video's embeddings are stored (a new predicate trains a head)
    estimate: tuple = ()         # ((name, value), ...) the cost phase's figures, for EXPLAIN

    @property
    def targets(self) -> str:
        return f"fn={self.fn_rate:g},fp={self.fp_rate:g},confidence={self.confidence:g}"

    def describe(self) -> str:
        model = "stored" if self.have_model else ("head on the video index" if self.have_index else "to train")
        est = " ".join(f"{k}={v}" for k, v in self.estimate)
        return (f"stages=[difference detector, specialized model ({model}), {self.oracle}] "
                f"targets=[fn<={self.fn_rate:g} fp<={self.fp_rate:g} @{self.confidence:.0%}]"
                + (f" est=[{est}]" if est else ""))


@dataclass(frozen=True, eq=False)
class Cascade(UnaryNode):
    """Rows of ``child`` (a video scan) for which ``predicate`` (a comparison on an expensive
    model, ``people_count(frame) > 0``) holds, answered by a difference detector, a specialized
    model and, for the frames those are unsure of, the predicate itself (NoScope)."""
    child: Node
    predicate: Expr
    spec: CascadeSpec

    @property
    def columns(self):
        return self.child.columns

    def expressions(self):
        return (self.predicate,)

    def describe(self) -> str:
        return f"Cascade: predicate={self.predicate.sql()} {self.spec.describe()}"


@dataclass(frozen=True)
class ApproxSpec:
    """What an approximate query asks (engine/sql/bind/approx.py builds it from the clauses)."""
    kind: str                        # "aggregate" | "limit" | "select"
    agg: str | None = None           # count | sum | avg | fcount (aggregate)
    error: float | None = None
    relative: bool = False
    confidence: float | None = None  # a probability
    limit: int | None = None         # k of LIMIT k [GAP g]
    gap: int = 0
    target_kind: str | None = None   # recall | precision
    target: float | None = None
    probability: float | None = None
    oracle_limit: int | None = None
    clause: str = ""                 # the clauses as written (EXPLAIN, the run's params)
    proxy_sql: str = ""


@dataclass(frozen=True, eq=False)
class Approx(UnaryNode):
    """An answer within a stated error from few oracle calls (engine/physical/approx.py).

    ``child`` is the table's Scan with the cheap conjuncts of WHERE; ``oracle_pred`` the
    conjuncts that call a model (None: none), evaluated only on sampled rows; ``value`` the
    aggregate's argument (None for ``*``); ``proxy`` the cheap score of every row (None: the
    video's stored specialized model, or none); ``out`` the output columns and their expressions
    (the aggregate's estimate, or the select items of a limit query or selection); ``frame_id``
    the video's frame column (frames are decoded only for rows the oracle sees)."""
    child: Node
    spec: ApproxSpec
    out: tuple[tuple[ColumnRef, Expr], ...]
    oracle_pred: Expr | None
    value: Expr | None
    proxy: Expr | None
    frame_id: ColumnRef | None = None

    @property
    def columns(self):
        return tuple(c for c, _ in self.out)

    def expressions(self):
        xs = [e for _, e in self.out if self.spec.kind != "aggregate"]
        xs += [x for x in (self.oracle_pred, self.value, self.proxy, self.frame_id) if x is not None]
        return tuple(xs)

    def describe(self) -> str:
        what = (f"{self.spec.agg.upper()}({self.value.sql() if self.value is not None else '*'})"
                if self.spec.kind == "aggregate" else ", ".join(e.sql() for _, e in self.out))
        s = f"Approx: {what} {self.spec.clause}".rstrip()
        if self.oracle_pred is not None:
            s += f" oracle_predicate={self.oracle_pred.sql()}"
        return s


@dataclass(frozen=True, eq=False)
class Values(Node):
    rows: tuple[tuple[Expr, ...], ...]
    out: tuple[ColumnRef, ...]

    @property
    def columns(self):
        return self.out

    def expressions(self):
        return tuple(e for r in self.rows for e in r)

    def describe(self) -> str:
        return f"Values: rows={len(self.rows)} columns=[{_cols(self.out)}]"


@dataclass(frozen=True, eq=False)
class Filter(UnaryNode):
    child: Node
    predicate: Expr

    @property
    def columns(self):
        return self.child.columns


    def expressions(self):
        return (self.predicate,)

    def describe(self) -> str:
        return f"Filter: {self.predicate.sql()}"


@dataclass(frozen=True, eq=False)
class Project(UnaryNode):
    child: Node
    exprs: tuple[tuple[ColumnRef, Expr], ...]

    @property
    def columns(self):
        return tuple(c for c, _ in self.exprs)


    def expressions(self):
        return tuple(e for _, e in self.exprs)

    def describe(self) -> str:
        items = []
        for c, e in self.exprs:
            items.append(e.sql() if isinstance(e, ColumnRef) and e.cid == c.cid
                         else f"{e.sql()} AS {c.sql()}")
        return "Project: " + ", ".join(items)


@dataclass(frozen=True, eq=False)
class Aggregate(UnaryNode):
    child: Node
    groups: tuple[tuple[ColumnRef, Expr], ...]
    aggs: tuple[tuple[ColumnRef, AggCall], ...]

    @property
    def columns(self):
        return tuple(c for c, _ in self.groups) + tuple(c for c, _ in self.aggs)


    def expressions(self):
        return tuple(e for _, e in self.groups) + tuple(a for _, a in self.aggs)

    def describe(self) -> str:
        a = ", ".join(f"{e.sql()} AS {c.sql()}" for c, e in self.aggs)
        return f"Aggregate: group=[{describe_groups(self.groups)}] aggs=[{a}]"


@dataclass(frozen=True, eq=False)
class Unnest(UnaryNode):
    """unnest(list) in a select list or FROM: each input row becomes one row per list element,
    its columns repeated; several lists are unnested side by side (the shorter padded with NULL),
    and a row whose lists are all NULL or empty yields no row, as in DuckDB."""
    child: Node
    lists: tuple[tuple[ColumnRef, Expr], ...]  # (element column, list expression)

    @property
    def columns(self):
        return self.child.columns + tuple(c for c, _ in self.lists)


    def expressions(self):
        return tuple(e for _, e in self.lists)

    def describe(self) -> str:
        return "Unnest: " + ", ".join(f"{e.sql()} AS {c.sql()}" for c, e in self.lists)


JOIN_KINDS = ("inner", "left", "right", "full", "cross", "semi", "anti")


@dataclass(frozen=True, eq=False)
class Join(Node):
    """kind: inner, left, right, full, cross, semi, anti (semi/anti output the left columns),
    positional (rows paired by position), asof / asof_left (engine/physical/asof_join.py)."""
    left: Node
    right: Node
    kind: str
    condition: Expr | None = None

    @property
    def columns(self):
        if self.kind in ("semi", "anti"):
            return self.left.columns
        return self.left.columns + self.right.columns

    @property
    def children(self):
        return (self.left, self.right)

    def with_children(self, children):
        return replace(self, left=children[0], right=children[1])

    def expressions(self):
        return (self.condition,) if self.condition is not None else ()

    def describe(self) -> str:
        on = f" on={self.condition.sql()}" if self.condition is not None else ""
        return f"Join: kind={self.kind}{on}"


@dataclass(frozen=True, eq=False)
class Sort(UnaryNode):
    child: Node
    keys: tuple[SortKey, ...]
    limit: int | None = None  # set by pushdown_limits: a top-N sort

    @property
    def columns(self):
        return self.child.columns


    def expressions(self):
        return tuple(k.expr for k in self.keys)

    def describe(self) -> str:
        s = "Sort: " + ", ".join(k.sql() for k in self.keys)
        return s + (f" limit={self.limit}" if self.limit is not None else "")


@dataclass(frozen=True, eq=False)
class Limit(UnaryNode):
    child: Node
    limit: int | None
    offset: int = 0
    percent: float | None = None  # LIMIT p%: limit is then None


    @property
    def columns(self):
        return self.child.columns


    def describe(self) -> str:
        if self.percent is not None:
            return f"Limit: limit={self.percent:g}% offset={self.offset}"
        return f"Limit: limit={self.limit} offset={self.offset}"


@dataclass(frozen=True, eq=False)
class Distinct(UnaryNode):
    child: Node

    @property
    def columns(self):
        return self.child.columns


    def describe(self) -> str:
        return "Distinct"


@dataclass(frozen=True, eq=False)
class SetOp(Node):
    """UNION / INTERSECT / EXCEPT [ALL]; inputs are already projected to the output types."""
    kind: str
    all: bool
    left: Node
    right: Node
    out: tuple[ColumnRef, ...]

    @property
    def columns(self):
        return self.out

    @property
    def children(self):
        return (self.left, self.right)

    def with_children(self, children):
        return replace(self, left=children[0], right=children[1])

    def describe(self) -> str:
        return f"SetOp: {self.kind.upper()}{' ALL' if self.all else ''}"


@dataclass(frozen=True, eq=False)
class Window(UnaryNode):
    child: Node
    funcs: tuple[tuple[ColumnRef, WindowCall], ...]

    @property
    def columns(self):
        return self.child.columns + tuple(c for c, _ in self.funcs)


    def expressions(self):
        return tuple(f for _, f in self.funcs)

    def describe(self) -> str:
        return "Window: " + ", ".join(f"{f.sql()} AS {c.sql()}" for c, f in self.funcs)


@dataclass(frozen=True, eq=False)
class WorkTable(Node):
    """Inside a recursive CTE's step: the rows that the previous iteration added."""
    token: int
    out: tuple[ColumnRef, ...]

    @property
    def columns(self):
        return self.out

    def describe(self) -> str:
        return f"WorkTable: #{self.token} columns=[{_cols(self.out)}]"


@dataclass(frozen=True, eq=False)
class RecursiveUnion(Node):
    """WITH RECURSIVE: the anchor's rows, then the step run over the rows the previous iteration
    added (its WorkTable ``token``) until an iteration adds none. Without ALL, rows seen before
    are dropped (which also ends cycles). Both inputs are projected to the output types."""
    anchor: Node
    step: Node
    token: int
    all: bool
    out: tuple[ColumnRef, ...]

    @property
    def columns(self):
        return self.out

    @property
    def children(self):
        return (self.anchor, self.step)

    def with_children(self, children):
        return replace(self, anchor=children[0], step=children[1])

    def describe(self) -> str:
        return f"RecursiveUnion: #{self.token}{' ALL' if self.all else ''}"


def transform_up(node: Node, fn) -> Node:
    """Rewrite a plan bottom-up: ``fn`` receives each node with its children already rewritten."""
    kids = node.children
    if kids:
        new = tuple(transform_up(k, fn) for k in kids)
        if any(a is not b for a, b in zip(new, kids)):
            node = node.with_children(new)
    return fn(node)
