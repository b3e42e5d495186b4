"""The registry of window-only functions (ranking and value functions), listed once under
DuckDB's names: what the binder needs (name, the sqlglot keys that stand for it, how many
arguments, the result type) and whether the function reads its frame (``first_value``,
``last_value``, ``nth_value``) or one value per row of its whole partition, computed by a
``PartitionEvaluator`` (``engine.physical.window_evaluators``). Aggregates used as window
functions are in ``engine.plan.aggregates``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class WindowFunction:
    name: str
    result: Callable[[list[pa.DataType]], pa.DataType]   # argument types -> result type
    keys: tuple[str, ...] = ()       # sqlglot's keys of its typed node (RowNumber: "rownumber")
    nargs: tuple[int, int] = (0, 0)
    frame: bool = False              # reads its frame (else: a PartitionEvaluator)


def _int(types):
    return pa.int64()


def _double(types):
    return pa.float64()


def _first_arg(types):
    return types[0]


WINDOW_FUNCTIONS: list[WindowFunction] = [
    WindowFunction("row_number", _int, ("rownumber",)),
    WindowFunction("rank", _int),
    WindowFunction("dense_rank", _int, ("denserank",)),
    WindowFunction("percent_rank", _double, ("percentrank",)),
    WindowFunction("cume_dist", _double, ("cumedist",)),
    WindowFunction("ntile", _int, nargs=(1, 1)),
    WindowFunction("lag", _first_arg, nargs=(1, 3)),
    WindowFunction("lead", _first_arg, nargs=(1, 3)),
    WindowFunction("first_value", _first_arg, ("firstvalue",), nargs=(1, 1), frame=True),
    WindowFunction("last_value", _first_arg, ("lastvalue",), nargs=(1, 1), frame=True),
    WindowFunction("nth_value", _first_arg, ("nthvalue",), nargs=(2, 2), frame=True),
]

BY_NAME: dict[str, WindowFunction] = {w.name: w for w in WINDOW_FUNCTIONS}
BY_KEY: dict[str, WindowFunction] = {k: w for w in WINDOW_FUNCTIONS for k in (w.name, *w.keys)}


def lookup(name: str) -> WindowFunction | None:
    """The window function a name or sqlglot key stands for, or None."""
    return BY_KEY.get(name.lower())
