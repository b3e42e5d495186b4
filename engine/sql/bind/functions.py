"""Binding function calls: sqlglot's function nodes to Dawn's built-in names, UDF lookup, and the
special forms (COALESCE, NULLIF, EXTRACT, TRIM, CURRENT_DATE).
"""
from __future__ import annotations

import datetime as _dt

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, did_you_mean
from engine.plan import functions as F
from engine.plan import types as T
from engine.plan.expressions import Expr, Literal
from engine.sql.bind.aggregates import _AGGS
from engine.sql.bind.util import _cast_literal, make_call
from engine.sql.bind.windows import _WINDOW_ONLY
from engine.sql.parser import location

_FUNC_KEYS = {"strposition": "strpos", "dpipe": "concat_op", "pow": "power",
              "timetostr": "strftime", "timestamptrunc": "date_trunc", "datetrunc": "date_trunc",
              "stddev": "stddev", "variance": "variance", "startswith": "starts_with",
              "endswith": "ends_with", "regexplike": "regexp_matches", "datediff": "date_diff",
              "chr": "chr", "log": "log10", "currentdate": "current_date",
              "currenttimestamp": "current_timestamp", "dayofmonth": "dayofmonth",
              "dayofweek": "dayofweek", "dayofyear": "dayofyear", "weekofyear": "week",
              "lower": "lower", "upper": "upper", "arraycontains": "contains",
              "stringtoarray": "split_part", "splitpart": "split_part"}


class FunctionBinding:
    """Function calls: built-ins, UDFs and the sqlglot nodes that stand for functions."""

    def _Coalesce(self, node) -> Expr:
        args = [self.bind(node.this)] + [self.bind(e) for e in node.expressions]
        return make_call("coalesce", args, node)

    def _Nullif(self, node) -> Expr:
        return make_call("nullif", [self.bind(node.this), self.bind(node.expression)], node)

    def _Extract(self, node) -> Expr:
        part = node.this.name if hasattr(node.this, "name") else str(node.this)
        return make_call("date_part", [Literal(part.lower(), pa.string()), self.bind(node.expression)], node)

    def _Trim(self, node) -> Expr:
        pos = (node.args.get("position") or "BOTH").upper()
        fn = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(pos, "trim")
        args = [self.bind(node.this)]
        if node.expression is not None:
            args.append(self.bind(node.expression))
        return make_call(fn, args, node)

    def _CurrentDate(self, node) -> Expr:
        return Literal(_dt.date.today(), pa.date32())

    def _CurrentTimestamp(self, node) -> Expr:
        return Literal(_dt.datetime.now(), T.TIMESTAMP)

    def _function(self, node: exp.Func) -> Expr:
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            argn = list(node.expressions)
        else:
            key = type(node).key.lower()
            name = _FUNC_KEYS.get(key, key)
            argn = []
            for k in node.arg_types:
                v = node.args.get(k)
                if v is None:
                    continue
                if isinstance(v, list):
                    argn.extend(v)
                elif isinstance(v, exp.Expression):
                    argn.append(v)
            if name == "pad":  # sqlglot parses lpad/rpad as one Pad node
                name = "lpad" if node.args.get("is_left") else "rpad"
            if name == "date_diff" and isinstance(node, exp.DateDiff) and node.args.get("unit") is not None:
                # sqlglot's DateDiff(this=end, expression=start, unit=Var) -> date_diff(part, start, end)
                unit = node.args["unit"]
                argn = [exp.Literal.string(unit.name if hasattr(unit, "name") else str(unit)),
                        node.expression, node.this]
            if name == "date_trunc":
                unit = node.args.get("unit")
                argn = [exp.Literal.string(unit.name if hasattr(unit, "name") else str(unit)), node.this]
        if name in _AGGS:
            if name == "count":
                return self._aggregate("count", exp.Count(this=argn[0] if argn else exp.Star()))
            if self.agg is None:
                raise BindError(f'Aggregate "{node.sql()}" is not allowed here{location(node)}')
            self.in_agg = True
            try:
                args = [self.bind(a) for a in argn]
            finally:
                self.in_agg = False
            options = ()
            if name in ("string_agg", "group_concat", "listagg"):
                sep = args[1] if len(args) > 1 else Literal(",", pa.string())
                if not isinstance(sep, Literal):
                    raise NotSupportedError("string_agg's separator must be a constant")
                options = (("separator", sep.value),)
                args = args[:1]
                name = "string_agg"
            flt, self.pending_filter = self.pending_filter, None
            return self._make_agg(name, args, False, flt, options, node)
        if name in _WINDOW_ONLY:
            raise BindError(f"{name}() needs an OVER clause{location(node)}")
        if name in ("current_date", "today"):
            return self._CurrentDate(node)
        if name in ("current_timestamp", "now"):
            return self._CurrentTimestamp(node)
        udf = self.b.lookup_udf(name, node) if F.lookup(name) is None else None
        if udf is not None:
            if udf.kind == "aggregate":
                return self._udf_aggregate(udf, argn, node)
            return self.b.udf_call(udf, [self.bind(a) for a in argn], node)
        if F.lookup(name) is None:
            raise BindError(f'Function "{name}" does not exist{location(node)}.'
                            + did_you_mean(name, list(F.FUNCTIONS) + list(F.ALIASES) + list(_AGGS)))
        args = [self.bind(a) for a in argn]
        if name in ("date_part", "date_trunc", "strftime", "date_diff") and args \
                and pa.types.is_string(args[-1].dtype) and isinstance(args[-1], Literal):
            args[-1] = _cast_literal(args[-1].value, T.TIMESTAMP, node, False)
        return make_call(name, args, node)
