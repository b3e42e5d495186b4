"""The shapes the JIT's planner, code generator and executor share: a chunk's column signature
(``ColSig``), a pipeline's expressions (``Template``, whose ``shape()`` is the code-cache key with
literals left out), the accumulator states and how answers are read from them (``State``,
``AggOut``), and the compiled kernel's plan (``KernelPlan``). The IR itself is codegen.py's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from engine.plan.expressions import Call, ColumnRef, Expr, InList, Literal


class Unsupported(Exception):
    """What the JIT does not compile (the pipeline runs the vectorized path instead)."""


@dataclass(frozen=True)
class ColSig:
    """A column's physical form in a chunk: ``kind`` one of i8 i16 i32 i64 f64 bool date dec
    dict8 dict16 dict32; ``scale`` for dec; ``nulls``: the chunk has a validity bitmap."""
    kind: str
    scale: int = 0
    nulls: bool = True

    def text(self) -> str:
        return f"{self.kind}{self.scale if self.kind == 'dec' else ''}{'?' if self.nulls else ''}"


INT_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "date": 32}
DICT_BITS = {"dict8": 8, "dict16": 16, "dict32": 32}
AGGS = ("sum", "avg", "count", "count_star", "min", "max")
# the sink of a compiled scan filter (engine/jit/filter.py): the kept rows' numbers, not an aggregate
SELECT = ("select", None)
_CMP = ("eq", "neq", "lt", "lte", "gt", "gte")
_ARITH = ("add", "subtract", "multiply", "divide")
_LOGIC = ("and", "or", "not", "is_null", "is_not_null")


@dataclass
class Template:
    """A pipeline's expressions over the scan's columns (``columns``: their ``#id`` keys, in
    slot order; ``types``: their plan types)."""
    columns: list[str]
    types: list[pa.DataType]
    filters: list[Expr]
    groups: list[Expr]
    aggs: list[tuple[str, Expr | None]]  # (fn, argument), fn in AGGS

    def roots(self) -> list[Expr]:
        return list(self.filters) + list(self.groups) + [a for _, a in self.aggs if a is not None]

    def nodes(self) -> list[Expr]:
        """Every expression node, pre-order over ``roots``: how a KernelPlan names nodes."""
        out: list[Expr] = []
        for r in self.roots():
            out.extend(r.walk())
        return out

    def shape(self) -> str:
        """The template with literal values left out (they are parameters)."""
        got = self.__dict__.get("_shape")
        if got is None:
            got = self.__dict__["_shape"] = self._shape()
        return got

    def _shape(self) -> str:
        col = {k: i for i, k in enumerate(self.columns)}

        def text(e: Expr) -> str:
            if isinstance(e, ColumnRef):
                return f"c{col[e.key]}"
            if isinstance(e, Literal):
                nan = isinstance(e.value, float) and e.value != e.value
                return f"L{e.dtype}{'N' if e.value is None else ''}{'nan' if nan else ''}"
            kids = ",".join(text(c) for c in e.children())
            tag = e.fn if isinstance(e, Call) else ("not_in" if isinstance(e, InList) and e.negated
                                                   else type(e).__name__)
            return f"{tag}:{e.dtype}({kids})"
        f = ";".join(text(e) for e in self.filters)
        g = ";".join(text(e) for e in self.groups)
        a = ";".join(f"{fn}({text(x) if x is not None else '*'})" for fn, x in self.aggs)
        return f"F[{f}] G[{g}] A[{a}]"


@dataclass
class State:
    """One accumulator array: ``kind`` i64 (counts, integer min/max), i128 (exact sums, two u64
    words a slot), f64."""
    kind: str
    init: str = "zero"


@dataclass
class AggOut:
    """How an aggregate's answer is read from the states."""
    fn: str
    value: int | None      # state index of the sum/min/max
    count: int             # state index of the count of non-NULL arguments (0: the row count)
    rep: str = "int"       # int, f64 or dec: what ``value`` holds
    scale: int = 0         # of a dec


@dataclass
class KernelPlan:
    key: str
    params: list[int]                  # node indices of the literals, in parameter order
    aux: list[tuple[str, int, int]]    # (kind "pred" | "group", node index, column)
    states: list[State]
    outs: list[AggOut]
    keys: list[tuple[str, int]]        # per group key: (kind "dict" | "bool" | "int", column)
    ir: object = None                  # ir(name) -> module text
    meta: dict = field(default_factory=dict)
