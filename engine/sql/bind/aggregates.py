"""Binding aggregate calls: the names Dawn knows as aggregates, their result types, and the
collection of one SELECT's aggregates (``AggContext``).
"""
from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, TypeMismatchError
from engine.plan import types as T
from engine.plan.expressions import AggCall, ColumnRef, Expr, new_column
from engine.sql.bind.util import cast_to, sort_key
from engine.sql.parser import location

_AGGS = {"sum", "avg", "mean", "min", "max", "count", "count_star", "stddev", "stddev_samp",
         "stddev_pop", "variance", "var_samp", "var_pop", "bool_and", "bool_or", "string_agg",
         "group_concat", "listagg", "any_value", "first", "arbitrary", "median", "product",
         "count_if", "list", "array_agg", "every"}
_AGG_CLASS = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max", exp.Count: "count",
              exp.Stddev: "stddev", exp.StddevSamp: "stddev", exp.StddevPop: "stddev_pop",
              exp.Variance: "variance", exp.VariancePop: "var_pop",
              exp.LogicalAnd: "bool_and", exp.LogicalOr: "bool_or", exp.GroupConcat: "string_agg",
              exp.AnyValue: "any_value", exp.ArrayAgg: "list", exp.CountIf: "count_if",
              exp.Median: "median", exp.First: "first"}


class _AggContext:
    """Collects aggregates of one SELECT while its expressions are bound."""

    def __init__(self) -> None:
        self.aggs: list[tuple[ColumnRef, AggCall]] = []
        # GROUPING(...) calls: (output column, bound arguments, node); see grouping.py
        self.groupings: list[tuple[ColumnRef, tuple, exp.Expression]] = []

    def add_grouping(self, args: tuple, node: exp.Expression) -> ColumnRef:
        for ref, a, _ in self.groupings:
            if a == args:
                return ref
        ref = new_column("grouping", pa.int64())
        self.groupings.append((ref, args, node))
        return ref

    def add(self, call: AggCall, name: str) -> ColumnRef:
        for ref, a in self.aggs:
            if a == call:
                return ref
        ref = new_column(name, call.dtype)
        self.aggs.append((ref, call))
        return ref



def agg_type(name: str, types: list[pa.DataType], node=None) -> pa.DataType:
    what = node.sql(dialect="duckdb") if node is not None else name
    if name in ("count", "count_star", "count_if"):
        return pa.int64()
    if not types:
        raise TypeMismatchError(f'Aggregate "{what}" needs an argument{location(node)}')
    t = types[0]
    if name in ("sum", "product"):
        if pa.types.is_boolean(t):
            return pa.int64()
        if not T.is_numeric(t):
            raise TypeMismatchError(f'Type error in "{what}"{location(node)}: sum expects a numeric '
                                    f"argument, got {T.sql_name(t)}")
        return pa.int64() if T.is_integer(t) or pa.types.is_null(t) else pa.float64()
    if name in ("avg", "mean", "stddev", "variance", "stddev_pop", "var_pop", "median"):
        if not T.is_numeric(t):
            raise TypeMismatchError(f'Type error in "{what}"{location(node)}: {name} expects a '
                                    f"numeric argument, got {T.sql_name(t)}")
        return pa.float64()
    if name in ("bool_and", "bool_or", "every"):
        if not (pa.types.is_boolean(t) or pa.types.is_null(t)):
            raise TypeMismatchError(f'Type error in "{what}"{location(node)}: {name} expects a '
                                    f"BOOLEAN argument, got {T.sql_name(t)}")
        return pa.bool_()
    if name == "string_agg":
        return pa.string()
    if name in ("list", "array_agg"):
        return pa.list_(t)
    return t  # min, max, any_value, first



class AggregateBinding:
    """Aggregate calls inside expressions (mixed into the expression binder)."""

    def _aggregate(self, name: str, node) -> Expr:
        if self.agg is None:
            raise BindError(f'Aggregate "{node.sql()}" is not allowed here{location(node)}')
        if self.in_agg:
            raise BindError(f"Aggregate calls cannot be nested{location(node)}")
        flt, self.pending_filter = self.pending_filter, None
        inner = node.this
        distinct = False
        order_nodes = []
        if isinstance(inner, exp.Order):  # string_agg(x, ',' ORDER BY y), list(x ORDER BY y)
            order_nodes, inner = list(inner.expressions), inner.this
            if isinstance(inner, exp.Distinct):
                raise NotSupportedError(f"DISTINCT aggregates with ORDER BY are not supported{location(node)}")
        if isinstance(inner, exp.Distinct):
            distinct = True
            inner_list = inner.expressions
        else:
            inner_list = [inner] if inner is not None else []
        options: tuple = ()
        if name == "string_agg" and node.args.get("separator") is not None:
            sep = node.args["separator"]
            options = (("separator", sep.this if isinstance(sep, exp.Literal) else ","),)
        elif name == "string_agg":
            options = (("separator", ","),)
        extra = [e for e in (node.expressions or [])] if isinstance(node, exp.Anonymous) else []
        self.in_agg = True
        try:
            if name == "count" and (not inner_list or isinstance(inner_list[0], exp.Star)):
                name, args = "count_star", []
            else:
                args = [self.bind(a) for a in inner_list]
        finally:
            self.in_agg = False
        if extra and name == "string_agg":
            sep = extra[0]
            options = (("separator", sep.this if isinstance(sep, exp.Literal) else ","),)
        if order_nodes:
            self.in_agg = True
            try:
                keys = [sort_key(self.bind(o.this), o) for o in order_nodes]
            finally:
                self.in_agg = False
            if name in ("string_agg", "list", "array_agg"):
                # the order keys ride along as extra arguments (so column pruning keeps them);
                # "order" says their directions
                return self._make_agg(name, args, distinct, flt, options, node, tuple(keys))
            # DuckDB ignores ORDER BY in aggregates whose result does not depend on order
        return self._make_agg(name, args, distinct, flt, options, node)

    def _udf_aggregate(self, u, argn, node) -> Expr:
        if self.agg is None:
            raise BindError(f'Aggregate "{node.sql()}" is not allowed here{location(node)}')
        self.in_agg = True
        try:
            args = [self.bind(a) for a in argn]
        finally:
            self.in_agg = False
        if len(args) != 1:
            raise NotSupportedError(f'Aggregate UDF "{u.name}" must take exactly one argument '
                                    f"(got {len(args)}){location(node)}")
        flt, self.pending_filter = self.pending_filter, None
        dtype = u.result_type([a.dtype for a in args], [None] * len(args))
        call = AggCall(f"udf:{u.name}", tuple(args), dtype, False, flt, (("udf", u),))
        return self.agg.add(call, u.name)

    def _make_agg(self, name, args, distinct, flt, options, node, order=()) -> Expr:
        dtype = agg_type(name, [a.dtype for a in args], node)
        if name in ("avg", "mean", "stddev", "variance", "stddev_pop", "var_pop", "median") and args:
            args = [cast_to(args[0], pa.float64()) if not pa.types.is_floating(args[0].dtype) else args[0]]
        if order:
            args = list(args) + [k.expr for k in order]
            options = options + (("order", tuple((k.ascending, k.nulls_first) for k in order)),)
        call = AggCall(name, tuple(args), dtype, distinct, flt, options)
        return self.agg.add(call, name)

    def _Filter(self, node) -> Expr:
        f = node.this
        if self.agg is None:
            raise BindError(f"FILTER is only allowed on aggregates{location(node)}")
        self.in_agg = True
        try:
            cond = self.bind(node.expression.this)
        finally:
            self.in_agg = False
        self.pending_filter = cast_to(cond, pa.bool_())
        try:
            return self.bind(f)
        finally:
            self.pending_filter = None
