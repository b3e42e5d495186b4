"""Binding window functions: OVER clauses (with named windows), frames and result types.

Aggregates used as window functions are read through the aggregate registry
(``engine.plan.aggregates``), which says whether a window computes them over any frame or only
over whole partitions; the functions that exist only as window functions are listed here.
"""
from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, TypeMismatchError
from engine.plan import aggregates as R
from engine.plan import functions as F
from engine.plan import types as T
from engine.plan import window_functions as W
from engine.plan.expressions import Call, ColumnRef, Expr, Frame, WindowCall, new_column
from engine.plan.functions.names import VOLATILE
from engine.sql.bind.aggregates import (
    _Written,
    agg_type,
    call_parts,
    coerce_args,
    constant_param,
    quantile_options,
    udf_aggregate_call,
)
from engine.sql.bind.util import _const_int, sort_key
from engine.sql.bind.weak import bind_weak, is_weak
from engine.sql.parser import location
from udfs.accumulator import implements

# the window-only functions' names (for the other binders' questions), from their registry
_WINDOW_ONLY = frozenset(W.BY_NAME)


class _WindowContext:
    def __init__(self, named: list[exp.Window] | None = None) -> None:
        self.funcs: list[tuple[ColumnRef, WindowCall]] = []
        # WINDOW w AS (...) clauses of the SELECT, by name
        self.named = {w.name.lower(): w for w in named or []}

    def resolve(self, node: exp.Window) -> tuple[list, exp.Order | None, exp.Expression | None]:
        """PARTITION BY, ORDER BY and frame of an OVER clause, filling in a named window's parts
        that the clause leaves out (``OVER w``, ``OVER (w ORDER BY x)``)."""
        parts, order, spec = node.args.get("partition_by") or [], node.args.get("order"), node.args.get("spec")
        alias = node.args.get("alias")
        seen = set()
        while alias is not None:
            name = alias.name.lower()
            base = self.named.get(name)
            if base is None or name in seen:
                raise BindError(f'Window "{alias.name}" is not defined{location(alias)}')
            seen.add(name)
            parts = parts or base.args.get("partition_by") or []
            order = order if order is not None else base.args.get("order")
            spec = spec if spec is not None else base.args.get("spec")
            alias = base.args.get("alias")
        return parts, order, spec

    def add(self, call: WindowCall, name: str) -> ColumnRef:
        for ref, w in self.funcs:
            if w == call:
                return ref
        ref = new_column(name, call.dtype)
        self.funcs.append((ref, call))
        return ref



class WindowBinding:
    """Window function calls (mixed into the expression binder)."""

    def _Window(self, node) -> Expr:
        if self.win is None:
            raise BindError(f"Window functions are not allowed here{location(node)}")
        part_nodes, o, spec = self.win.resolve(node)
        partition = tuple(self._post(self.bind(p), p) for p in part_nodes)
        order = []
        for k in (o.expressions if o is not None else []):
            order.append(sort_key(self._post(self.bind(k.this), k.this), k))
        for what, exprs in (("PARTITION BY", partition), ("ORDER BY", [k.expr for k in order])):
            if any(isinstance(x, Call) and x.fn in VOLATILE for e in exprs for x in e.walk()):
                raise BindError(f"{what} window expressions cannot be volatile (random()){location(node)}")
        frame = self._frame(spec, node) if spec is not None else None
        if frame is not None and frame.mode == "range" and {frame.start, frame.end} - {None, 0}:
            if len(order) != 1 or not T.is_numeric(order[0].expr.dtype):
                raise NotSupportedError("A RANGE frame with an offset needs exactly one numeric "
                                        f"ORDER BY key{location(node)}")
        agg = self._window_aggregate(node.this, node, frame, bool(order))
        if agg is not None:
            fname, args, dtype, options = agg
        else:
            fname, args = self._window_func(node.this)
            dtype, options = self._window_type(fname, args, node), ()
        call = WindowCall(fname, tuple(args), partition, tuple(order), frame, dtype, options)
        return self.win.add(call, fname)

    def _window_aggregate(self, f: exp.Expression, node, frame: Frame | None, ordered: bool):
        """(name, args, type, options) of an aggregate used as a window function, or None."""
        within = None
        if isinstance(f, exp.IgnoreNulls) and isinstance(f.this, exp.AnyValue):
            f = f.this  # DuckDB's any_value ignores NULLs; sqlglot says so with this wrapper
        if isinstance(f, exp.WithinGroup):
            f, within = f.this, f.expression
        if isinstance(f, exp.Filter):
            raise NotSupportedError(f"FILTER in window aggregates is not supported{location(node)}")
        entry = R.BY_NODE.get(type(f))
        if entry is None and isinstance(f, exp.Anonymous):
            entry = R.lookup(f.name)
        if entry is None:
            whole = (frame is None and not ordered) or \
                (frame is not None and frame.start is None and frame.end is None)
            if isinstance(f, exp.Anonymous) and is_weak(f.name):
                return bind_weak(self, f, window=True, whole=whole,
                                 bind_arg=lambda a: self._post(self.bind(a), a))
            return self._window_udf(f, whole) if isinstance(f, exp.Anonymous) else None
        what = _Written(f, entry, within is not None)
        parts = call_parts(entry, f, within)
        if parts.star:
            entry = R.get("count_star")
        if parts.distinct:
            raise NotSupportedError(f'DISTINCT aggregates over windows are not supported ("{what}")'
                                    f"{location(f)}")
        if parts.order and entry.ordered:
            raise NotSupportedError(f'ORDER BY inside a window aggregate is not supported ("{what}")'
                                    f"{location(f)}")
        whole = (frame is None and not ordered) or \
            (frame is not None and frame.start is None and frame.end is None)
        if entry.window is None or (entry.window == "partition" and not whole):
            raise NotSupportedError(
                f'{entry.name} as a window function is supported over whole partitions only '
                f'("{what}" OVER without ORDER BY, or with ROWS BETWEEN UNBOUNDED PRECEDING AND '
                f"UNBOUNDED FOLLOWING){location(node)}")
        args = [self._post(self.bind(a), a) for a in parts.values]
        options = quantile_options(entry, parts, f, within)
        if entry.family == "string_agg":
            sep = constant_param(parts.params[0], what, entry, "separator") if parts.params else ","
            options = (("separator", sep),)
        dtype = agg_type(entry.name, [a.dtype for a in args], f, dict(options))
        return entry.name, coerce_args(entry, args), dtype, options

    def _window_udf(self, f: exp.Anonymous, whole: bool):
        """(name, args, type, options) of a user aggregate used as a window function (any frame:
        the window computes it through its accumulator), or None for another function."""
        if F.lookup(f.name) is not None:
            return None
        u = self.b.lookup_udf(f.name, f)
        if u is None or u.kind != "aggregate":
            return None
        if f.expressions and isinstance(f.expressions[0], (exp.Distinct, exp.Order)):
            raise NotSupportedError(f'DISTINCT or ORDER BY in a call of the aggregate UDF "{u.name}" '
                                    f"is not supported{location(f)}")
        if not whole and isinstance(u.fn, type) and not (implements(u.fn, "merge") and implements(u.fn, "state")):
            raise NotSupportedError(f'The aggregate UDF "{u.name}" has no merge and state methods, so it '
                                    "works over whole partitions only (OVER without ORDER BY, or with "
                                    f"ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING){location(f)}")
        args = [self._post(self.bind(a), a) for a in f.expressions]
        call = udf_aggregate_call(self.b, u, args, None, f)
        return call.fn, list(call.args), call.dtype, call.options

    def _window_func(self, f: exp.Expression):
        if isinstance(f, (exp.IgnoreNulls, exp.RespectNulls)):
            raise NotSupportedError(f'IGNORE/RESPECT NULLS is not supported ("{f.sql(dialect="duckdb")}")'
                                    f"{location(f)}")
        name = (f.name if isinstance(f, exp.Anonymous) else f.key).lower()
        w = W.lookup(name)
        if w is None:
            raise BindError(f'"{name}" is not a window function{location(f)}')
        name = w.name
        raw = [a for a in ([f.this] if f.args.get("this") is not None else [])]
        for k in ("offset", "default", "expression"):
            if f.args.get(k) is not None:
                raw.append(f.args[k])
        raw += list(f.expressions or [])
        return name, [self._post(self.bind(a), a) for a in raw]

    def _window_type(self, fname, args, node) -> pa.DataType:
        w = W.BY_NAME[fname]
        lo, hi = w.nargs
        if len(args) < lo:
            raise BindError(f"{fname}() needs an argument{location(node)}")
        if len(args) > hi:
            raise TypeMismatchError(f"{fname}() takes at most {hi} argument(s), got {len(args)}"
                                    f"{location(node)}")
        return w.result([a.dtype for a in args])

    def _frame(self, spec, node) -> Frame:
        """ROWS/RANGE frame: start = rows before the current row, end = rows after it (None =
        unbounded; a negative count means the other direction)."""
        kind = (spec.args.get("kind") or "ROWS").lower()

        def offset(v, side: str | None, default_side: str) -> int | None:
            text = v.upper() if isinstance(v, str) else (v.sql().upper() if v is not None else "")
            if text == "UNBOUNDED":
                return None
            if text == "CURRENT ROW":
                return 0
            v = v if isinstance(v, exp.Expression) else exp.Literal.number(text)
            if kind == "range" and isinstance(v, exp.Literal) and not v.is_string:
                n = float(v.this)  # a RANGE offset is a distance in ORDER BY values, not a count
                n = int(n) if n.is_integer() else n
            else:
                n = _const_int(v, "A frame offset")
            if n < 0:
                raise BindError(f"A frame offset must not be negative{location(node)}")
            return n if (side or default_side).upper() == default_side else -n

        start = offset(spec.args.get("start"), spec.args.get("start_side"), "PRECEDING")
        end = 0 if spec.args.get("end") is None else \
            offset(spec.args.get("end"), spec.args.get("end_side"), "FOLLOWING")
        return Frame(kind, start, end)

    # -- aggregates and functions
