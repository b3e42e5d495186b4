"""Binding: sqlglot ASTs to logical plans, resolving names and types against the catalog.

The binder qualifies every column, expands ``*``, resolves select-list aliases (in GROUP BY, HAVING
and ORDER BY, as DuckDB does), infers and coerces types, binds aggregates and window functions into
their own plan nodes, and turns subqueries into ``SubqueryExpr`` values that remember which outer
columns they read (the optimizer decorrelates those into joins).
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa
from sqlglot import exp

from engine.errors import (BindError, NotSupportedError, ProgrammingError, TypeMismatchError,
                           did_you_mean)
from engine.plan import functions as F
from engine.plan import types as T
from engine.plan.expressions import (AggCall, Call, Case, Cast, ColumnRef, Expr, Frame, InList,
                                     Literal, SortKey, SubqueryExpr, WindowCall, and_all,
                                     new_column, next_id)
from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Limit, Node, Project,
                               RecursiveUnion, Scan, SetOp, Sort, Values, Window, WorkTable)
from engine.sql.parser import location

# ---------------------------------------------------------------- scopes


@dataclass
class Entry:
    qualifier: str | None
    name: str
    ref: ColumnRef
    hidden: bool = False  # USING columns of the right side: reachable only when qualified


class Scope:
    """The columns visible at one query level; ``parent`` is the enclosing query (correlation)."""

    def __init__(self, entries: list[Entry], parent: Scope | None = None):
        self.entries = entries
        self.parent = parent
        self.outer_refs: list[ColumnRef] = []  # columns of enclosing queries read from here

    def lookup(self, name: str, qualifier: str | None) -> list[Entry]:
        n, q = name.lower(), qualifier.lower() if qualifier else None
        return [e for e in self.entries if e.name.lower() == n
                and (q is None and not e.hidden or q is not None and e.qualifier == q)]

    def resolve(self, name: str, qualifier: str | None, node: exp.Expression) -> ColumnRef:
        hits = self.lookup(name, qualifier)
        if len(hits) > 1:
            owners = ", ".join(sorted({h.qualifier or "?" for h in hits}))
            raise BindError(f'Column reference "{name}" is ambiguous{location(node)}: it exists in '
                            f"{owners}; qualify it with a table name")
        if hits:
            return hits[0].ref
        if self.parent is not None:
            try:
                ref = self.parent.resolve(name, qualifier, node)
            except BindError:
                ref = None
            if ref is not None:
                if ref not in self.outer_refs:
                    self.outer_refs.append(ref)
                return ref
        full = f"{qualifier}.{name}" if qualifier else name
        if qualifier and not any(e.qualifier == qualifier.lower() for e in self._all()):
            raise BindError(f'Table "{qualifier}" is not in the FROM clause{location(node)} '
                            f'(referenced by "{full}").'
                            + did_you_mean(qualifier, {e.qualifier for e in self._all() if e.qualifier}))
        cands = [e.name for e in self._all() if not qualifier or e.qualifier == qualifier.lower()]
        raise BindError(f'Column "{full}" not found{location(node)}.' + did_you_mean(name, cands))

    def _all(self) -> list[Entry]:
        out, s = [], self
        while s is not None:
            out.extend(s.entries)
            s = s.parent
        return out


# ---------------------------------------------------------------- helpers

_AGGS = {"sum", "avg", "mean", "min", "max", "count", "count_star", "stddev", "stddev_samp",
         "stddev_pop", "variance", "var_samp", "var_pop", "bool_and", "bool_or", "string_agg",
         "group_concat", "listagg", "any_value", "first", "arbitrary", "median", "product",
         "count_if", "list", "array_agg", "every"}
_WINDOW_ONLY = {"row_number", "rank", "dense_rank", "lag", "lead", "first_value", "last_value",
                "nth_value", "ntile", "percent_rank", "cume_dist"}
_AGG_CLASS = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max", exp.Count: "count",
              exp.Stddev: "stddev", exp.StddevSamp: "stddev", exp.StddevPop: "stddev_pop",
              exp.Variance: "variance", exp.VariancePop: "var_pop",
              exp.LogicalAnd: "bool_and", exp.LogicalOr: "bool_or", exp.GroupConcat: "string_agg",
              exp.AnyValue: "any_value", exp.ArrayAgg: "list", exp.CountIf: "count_if",
              exp.Median: "median", exp.First: "first"}
_FUNC_KEYS = {"strposition": "strpos", "dpipe": "concat_op", "pow": "power",
              "timetostr": "strftime", "timestamptrunc": "date_trunc", "datetrunc": "date_trunc",
              "stddev": "stddev", "variance": "variance", "startswith": "starts_with",
              "endswith": "ends_with", "regexplike": "regexp_matches", "datediff": "date_diff",
              "chr": "chr", "log": "log10", "currentdate": "current_date",
              "currenttimestamp": "current_timestamp", "dayofmonth": "dayofmonth",
              "dayofweek": "dayofweek", "dayofyear": "dayofyear", "weekofyear": "week",
              "lower": "lower", "upper": "upper", "arraycontains": "contains",
              "stringtoarray": "split_part", "splitpart": "split_part"}
_CMP = {exp.EQ: "eq", exp.NEQ: "neq", exp.LT: "lt", exp.LTE: "lte", exp.GT: "gt", exp.GTE: "gte",
        exp.NullSafeEQ: "is_not_distinct", exp.NullSafeNEQ: "is_distinct"}
_ARITH = {exp.Add: "add", exp.Sub: "subtract", exp.Mul: "multiply", exp.Div: "divide",
          exp.IntDiv: "intdiv", exp.Mod: "mod", exp.DPipe: "concat_op"}


def _lit(v: Any, t: pa.DataType) -> Literal:
    return Literal(v, t)


def _ident(node) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    return node.name if hasattr(node, "name") else str(node)


def _is_all(node: exp.Expression) -> bool:
    return isinstance(node, exp.Var) and node.name.upper() == "ALL"


def _const_int(node: exp.Expression | None, what: str) -> int | None:
    if node is None:
        return None
    if isinstance(node, (exp.Limit, exp.Offset)):
        node = node.expression
    neg = False
    if isinstance(node, exp.Neg):
        neg, node = True, node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            v = int(node.this)
        except ValueError:
            v = None
        if v is not None:
            return -v if neg else v
    if isinstance(node, exp.Null):
        return None
    raise ProgrammingError(f"{what} must be an integer constant{location(node)}, got {node.sql()}")


def parse_interval(text: str, unit: str | None) -> tuple[int, int, int]:
    """'3 months' / ('90', 'DAY') -> (months, days, nanoseconds)."""
    parts = text.strip().split()
    pairs: list[tuple[float, str]] = []
    if unit:
        pairs.append((float(text), unit))
    else:
        if len(parts) % 2:
            raise ProgrammingError(f"Cannot parse interval '{text}'")
        for i in range(0, len(parts), 2):
            pairs.append((float(parts[i]), parts[i + 1]))
    months = days = nanos = 0
    for n, u in pairs:
        u = u.lower().rstrip("s")
        if u in ("year", "y", "yr"):
            months += int(n * 12)
        elif u in ("quarter",):
            months += int(n * 3)
        elif u in ("month", "mon"):
            months += int(n)
        elif u in ("week", "w"):
            days += int(n * 7)
        elif u in ("day", "d"):
            days += int(n)
        elif u in ("hour", "h", "hr"):
            nanos += int(n * 3600e9)
        elif u in ("minute", "min", "m"):
            nanos += int(n * 60e9)
        elif u in ("second", "sec", "s"):
            nanos += int(n * 1e9)
        elif u in ("millisecond", "m"):
            nanos += int(n * 1e6)
        else:
            raise ProgrammingError(f"Unknown interval unit '{u}'")
    return months, days, nanos


def cast_to(e: Expr, t: pa.DataType) -> Expr:
    if e.dtype == t:
        return e
    if isinstance(e, Literal) and e.value is None:
        return Literal(None, t)
    return Cast(e, t)


class _AggContext:
    """Collects aggregates of one SELECT while its expressions are bound."""

    def __init__(self) -> None:
        self.aggs: list[tuple[ColumnRef, AggCall]] = []

    def add(self, call: AggCall, name: str) -> ColumnRef:
        for ref, a in self.aggs:
            if a == call:
                return ref
        ref = new_column(name, call.dtype)
        self.aggs.append((ref, call))
        return ref


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


# ---------------------------------------------------------------- the binder


class Binder:
    def __init__(self, catalog, resolve_table: Callable[[str, exp.Expression], Any] | None = None,
                 functions=None):
        self.catalog = catalog
        self.resolve_table = resolve_table
        self.functions = functions  # catalog.functions.FunctionRegistry
        self._ctes: list[dict[str, tuple[exp.Expression, exp.Expression | None, bool]]] = []
        self._recursing: dict[tuple, tuple[int, list]] = {}  # recursive CTEs whose step is bound
        # frame column id -> (video identity, frame_id column): keys for cached model results
        self.frame_lineage: dict[int, tuple[str, ColumnRef]] = {}

    def lookup_udf(self, name: str, node: exp.Expression | None = None):
        if self.functions is None:
            return None
        from catalog.functions import FunctionImportError
        try:
            return self.functions.get(name)
        except FunctionImportError as e:
            raise ProgrammingError(f'Function "{name}" cannot be loaded{location(node)}: {e}') from None

    def udf_call(self, u, args: list[Expr], node: exp.Expression) -> Expr:
        """Type-check a scalar UDF call and build it (with its cache identity)."""
        if u.kind != "scalar":
            raise BindError(f'"{u.name}" is a {u.kind} function and cannot be called here{location(node)}')
        if u.args is not None:
            if len(args) != len(u.args):
                raise TypeMismatchError(f'Function "{u.name}" takes {len(u.args)} argument(s), got '
                                        f"{len(args)}{location(node)} (signature: {u.signature})")
            coerced = []
            for a, t in zip(args, u.args):
                if t is None or a.dtype == t:
                    coerced.append(a)
                    continue
                try:
                    T.common_type(a.dtype, t, "a UDF argument")
                    if T.is_string(a.dtype) != T.is_string(t) and not pa.types.is_null(a.dtype):
                        raise TypeMismatchError("no implicit text conversion for UDF arguments")
                except TypeMismatchError:
                    raise TypeMismatchError(
                        f'Type error in "{node.sql(dialect="duckdb")}"{location(node)}: {u.name} expects '
                        f"{T.sql_name(t)}, got {T.sql_name(a.dtype)} (signature: {u.signature})") from None
                coerced.append(cast_to(a, t))
            args = coerced
        consts = [a.value if isinstance(a, Literal) else None for a in args]
        try:
            dtype = u.result_type([a.dtype for a in args], consts)
        except (TypeError, ValueError) as e:
            raise TypeMismatchError(f'Type error in "{node.sql(dialect="duckdb")}"{location(node)}: {e}') from None
        identity: tuple = ()
        for a in args:
            if isinstance(a, ColumnRef) and a.cid in self.frame_lineage:
                ident, fid = self.frame_lineage[a.cid]
                identity = (Literal(ident, pa.string()), fid)
                break
        from engine.plan.expressions import UdfCall
        return UdfCall(u.name, tuple(args), dtype, u, identity)

    # ---- queries

    def bind_query(self, node: exp.Expression, parent: Scope | None = None) -> Node:
        """Bind a SELECT / set operation / VALUES; output column names are the user's names."""
        pushed = False
        with_ = node.args.get("with_") or node.args.get("with")
        if with_ is not None:
            frame: dict = {}
            self._ctes.append(frame)
            pushed = True
            for cte in with_.expressions:
                name = cte.alias_or_name.lower()
                recursive = bool(with_.args.get("recursive")) and any(
                    t.name.lower() == name for t in cte.this.find_all(exp.Table))
                frame[name] = (cte.this, cte.args.get("alias"), recursive)
        try:
            if isinstance(node, exp.Select):
                return self._bind_select(node, parent)
            if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
                return self._bind_setop(node, parent)
            if isinstance(node, exp.Subquery):
                return self._wrap_order_limit(self.bind_query(node.this, parent), node)
            if isinstance(node, exp.Values):
                plan, _ = self._bind_values(node, parent)
                return plan
            raise NotSupportedError(f"Unsupported query form {type(node).__name__}{location(node)}")
        finally:
            if pushed:
                self._ctes.pop()

    def _wrap_order_limit(self, plan: Node, node: exp.Expression) -> Node:
        order = node.args.get("order")
        if order is not None:
            keys = []
            for o in order.expressions:
                ref = self._output_ref(plan, o.this)
                keys.append(self._sort_key(ref, o))
            plan = Sort(plan, tuple(keys))
        return self._limit(plan, node)

    def _limit(self, plan: Node, node: exp.Expression) -> Node:
        lim = node.args.get("limit")
        off = node.args.get("offset")
        if lim is None and off is None:
            return plan
        limit = _const_int(lim, "LIMIT") if lim is not None else None
        offset = _const_int(off, "OFFSET") if off is not None else 0
        if (limit is not None and limit < 0) or (offset or 0) < 0:
            raise ProgrammingError("LIMIT and OFFSET must not be negative")
        return Limit(plan, limit, offset or 0)

    @staticmethod
    def _sort_key(e: Expr, o: exp.Ordered) -> SortKey:
        desc = bool(o.args.get("desc"))
        # the Dawn dialect parses with DuckDB's null ordering (NULLS LAST in both directions), so
        # sqlglot's flag already holds the effective placement, explicit or default; o.sql() would
        # print with the default dialect's ordering and drop an explicit ASC NULLS FIRST
        return SortKey(e, not desc, bool(o.args.get("nulls_first")))

    def _output_ref(self, plan: Node, node: exp.Expression) -> ColumnRef:
        cols = plan.columns
        if isinstance(node, exp.Literal) and not node.is_string:
            i = int(node.this)
            if not 1 <= i <= len(cols):
                raise BindError(f"ORDER BY position {i} is not in the select list (1..{len(cols)})")
            return cols[i - 1]
        if isinstance(node, exp.Column) and not node.table:
            hits = [c for c in cols if c.name.lower() == node.name.lower()]
            if hits:
                return hits[0]
        raise BindError(f'ORDER BY term "{node.sql()}" of a set operation must name an output '
                        f"column{location(node)}." + did_you_mean(node.sql(), [c.name for c in cols]))

    def _bind_setop(self, node: exp.Expression, parent: Scope | None) -> Node:
        kind = {exp.Union: "union", exp.Intersect: "intersect", exp.Except: "except"}[type(node)]
        left = self.bind_query(node.this, parent)
        right = self.bind_query(node.expression, parent)
        lc, rc = left.columns, right.columns
        if len(lc) != len(rc):
            raise BindError(f"{kind.upper()} inputs have different column counts: "
                            f"{len(lc)} and {len(rc)}{location(node)}")
        types = [T.common_type(a.dtype, b.dtype, f"{kind.upper()} column {a.name}")
                 for a, b in zip(lc, rc)]
        left = self._project_to(left, types)
        right = self._project_to(right, types)
        out = tuple(new_column(c.name, t) for c, t in zip(lc, types))
        distinct = node.args.get("distinct")
        plan: Node = SetOp(kind, not bool(distinct) if distinct is not None else False, left, right, out)
        return self._wrap_order_limit(plan, node)

    def _bind_recursive(self, body: exp.Expression, name: str, names: list[str], key: tuple,
                        node: exp.Expression) -> Node:
        """``WITH RECURSIVE name AS (anchor UNION [ALL] step)``: the anchor fixes the column
        types; inside the step, ``name`` reads the rows the previous iteration added."""
        if not isinstance(body, exp.Union) or body.args.get("order") or body.args.get("limit"):
            raise NotSupportedError(f'Recursive CTE "{name}" must be <anchor> UNION [ALL] <step> '
                                    f"(without ORDER BY or LIMIT){location(node)}")
        if any(t.name.lower() == name for t in body.this.find_all(exp.Table)):
            raise NotSupportedError(f'The anchor (first part) of recursive CTE "{name}" must not '
                                    f"refer to it{location(node)}")
        anchor = self.bind_query(body.this, None)
        cols = anchor.columns
        if len(names) > len(cols):
            raise BindError(f'Recursive CTE "{name}" names {len(names)} columns but its anchor has '
                            f"{len(cols)}{location(node)}")
        names = names + [c.name for c in cols[len(names):]]
        types = [pa.int32() if pa.types.is_null(c.dtype) else c.dtype for c in cols]
        token = next_id()
        self._recursing[key] = (token, list(zip(names, types)))
        try:
            step = self.bind_query(body.expression, None)
        finally:
            del self._recursing[key]
        if len(step.columns) != len(cols):
            raise BindError(f'Recursive CTE "{name}": the step has {len(step.columns)} columns, the '
                            f"anchor {len(cols)}{location(node)}")
        distinct = body.args.get("distinct")
        out = tuple(new_column(n, t) for n, t in zip(names, types))
        return RecursiveUnion(self._project_to(anchor, types), self._project_to(step, types), token,
                              not bool(distinct) if distinct is not None else False, out)

    @staticmethod
    def _project_to(plan: Node, types: list[pa.DataType]) -> Node:
        if all(c.dtype == t for c, t in zip(plan.columns, types)):
            return plan
        exprs = tuple((new_column(c.name, t), cast_to(c, t)) for c, t in zip(plan.columns, types))
        return Project(plan, exprs)

    def _bind_values(self, node: exp.Values, parent: Scope | None) -> tuple[Node, list[str]]:
        rows = []
        scope = Scope([], parent)
        for tup in node.expressions:
            items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            rows.append([self.bind_expr(i, scope) for i in items])
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise BindError(f"VALUES rows have different lengths{location(node)}")
        types = []
        for j in range(width):
            t = rows[0][j].dtype
            for r in rows[1:]:
                t = T.common_type(t, r[j].dtype, "VALUES")
            types.append(pa.int32() if pa.types.is_null(t) else t)
        alias = node.args.get("alias")
        names = [_ident(c) for c in alias.columns] if alias is not None and alias.columns else []
        names += [f"col{j}" for j in range(len(names), width)]
        out = tuple(new_column(n, t) for n, t in zip(names, types))
        brows = tuple(tuple(cast_to(e, t) for e, t in zip(r, types)) for r in rows)
        return Values(brows, out), names

    # ---- FROM

    def _bind_from(self, select: exp.Select, parent: Scope | None) -> tuple[Node, Scope]:
        frm = select.args.get("from_") or select.args.get("from")
        if frm is None:
            return Values(((),), ()), Scope([], parent)
        if select.args.get("sample") is not None:  # USING SAMPLE: the sample of the FROM's table
            if select.args.get("joins") or not isinstance(frm.this, exp.Table) or frm.this.args.get("sample"):
                raise NotSupportedError("USING SAMPLE applies to a single table here; sample a joined "
                                        "table with TABLESAMPLE after its name")
            frm = frm.copy()
            frm.this.set("sample", select.args["sample"].copy())
        scope = Scope([], parent)
        plan, entries = self._bind_table(frm.this, scope)
        scope.entries = entries
        for j in select.args.get("joins") or []:
            rplan, rentries = self._bind_table(j.this, scope)
            side = (j.args.get("side") or "").lower()
            kind = (j.args.get("kind") or "").lower()
            jk = {"left": "left", "right": "right", "full": "full"}.get(side, "inner")
            if kind == "cross":
                jk = "cross"
            if kind in ("semi", "anti"):
                jk = kind
            using = j.args.get("using")
            on = j.args.get("on")
            if j.args.get("method", "") and str(j.args.get("method")).upper() == "NATURAL":
                common = [e.name for e in rentries if any(l.name.lower() == e.name.lower() for l in scope.entries)]
                using = [exp.to_identifier(n) for n in common]
            cond: Expr | None = None
            merged = scope.entries + rentries
            merged_using: list[tuple[Entry, Entry]] = []
            if using:
                parts = []
                for ident in using:
                    n = _ident(ident)
                    lrefs = [e for e in scope.entries if e.name.lower() == n.lower() and not e.hidden]
                    rrefs = [e for e in rentries if e.name.lower() == n.lower()]
                    if not lrefs or not rrefs:
                        raise BindError(f'USING column "{n}" is missing from one side of the join{location(ident)}')
                    parts.append(self._compare("eq", lrefs[0].ref, rrefs[0].ref, j))
                    for r in rrefs:
                        r.hidden = True
                    merged_using.append((lrefs[0], rrefs[0]))
                cond = and_all(parts)
            elif on is not None:
                jscope = Scope(merged, parent)
                cond = self._predicate(on, jscope)
                scope.outer_refs.extend(r for r in jscope.outer_refs if r not in scope.outer_refs)
            if jk == "inner" and cond is None:
                jk = "cross"
            if jk in ("semi", "anti"):
                merged = scope.entries
            plan = Join(plan, rplan, jk, cond)
            if merged_using and jk in ("right", "full"):
                # the unqualified USING column is the right side's on a RIGHT join and
                # COALESCE(left, right) on a FULL join; qualified names still reach each side
                extra = []
                for le, re_ in merged_using:
                    e = re_.ref if jk == "right" else make_call("coalesce", [le.ref, re_.ref], j)
                    c = new_column(le.name, e.dtype)
                    extra.append((c, e))
                    le.hidden = True
                    merged.insert(merged.index(le), Entry(None, le.name, c))
                plan = Project(plan, tuple((c, c) for c in plan.columns) + tuple(extra))
            scope.entries = merged
        return plan, scope

    def _bind_table(self, node: exp.Expression, scope: Scope) -> tuple[Node, list[Entry]]:
        sample = node.args.get("sample")
        plan, entries = self._bind_from_item(node, scope)
        if sample is None:
            return plan, entries
        if not isinstance(plan, Scan):
            raise NotSupportedError(f"TABLESAMPLE applies to a table, a file or video(...), not to a "
                                    f"view, CTE or subquery{location(node)}")
        from dataclasses import replace
        from catalog.sampling import SampledSource
        return replace(plan, source=SampledSource(plan.source, _sample_spec(sample))), entries

    def _bind_from_item(self, node: exp.Expression, scope: Scope) -> tuple[Node, list[Entry]]:
        alias_node = node.args.get("alias")
        alias = alias_node.name if alias_node is not None and alias_node.name else None
        col_aliases = [_ident(c) for c in alias_node.columns] if alias_node is not None and alias_node.args.get("columns") else []
        if isinstance(node, exp.Subquery):
            plan = self.bind_query(node.this, scope.parent if scope.parent else None) \
                if not isinstance(node.this, exp.Values) else self._bind_values(node.this, scope.parent)[0]
            return self._entries_for(plan, alias or "subquery", col_aliases)
        if isinstance(node, exp.Values):
            plan, _ = self._bind_values(node, scope.parent)
            return self._entries_for(plan, alias or "values", col_aliases)
        if isinstance(node, exp.Lateral):
            raise NotSupportedError(f"LATERAL is not supported{location(node)}")
        if isinstance(node, exp.Table) and isinstance(node.this, (exp.Anonymous, exp.Func)) \
                or isinstance(node, (exp.Anonymous,)):
            fn = node.this if isinstance(node, exp.Table) else node
            return self._table_function(fn, alias, col_aliases)
        if isinstance(node, exp.Table):
            name = node.name
            qual = alias or name
            # CTEs shadow catalog tables; each reference binds the CTE anew (fresh column ids)
            for frame in reversed(self._ctes):
                if name.lower() in frame:
                    body, calias, recursive = frame[name.lower()]
                    cte_names = ([_ident(c) for c in calias.columns]
                                 if calias is not None and calias.args.get("columns") else [])
                    key = (id(frame), name.lower())
                    if key in self._recursing:  # inside its own step: the previous iteration's rows
                        token, spec = self._recursing[key]
                        work = WorkTable(token, tuple(new_column(n, t) for n, t in spec))
                        return self._entries_for(work, qual, col_aliases)
                    saved = self._ctes
                    idx = self._ctes.index(frame)
                    self._ctes = self._ctes[:idx + 1]
                    try:
                        plan = (self._bind_recursive(body, name, cte_names, key, node) if recursive
                                else self.bind_query(body, None))
                    finally:
                        self._ctes = saved
                    return self._entries_for(plan, qual, col_aliases or cte_names)
            view_sql = self.catalog.view(name) if hasattr(self.catalog, "view") else None
            if view_sql is not None:
                from engine.sql.parser import parse
                plan = self.bind_query(parse(view_sql)[0], None)
                return self._entries_for(plan, qual, col_aliases)
            source = None
            if node.args.get("db"):
                name = f"{node.args['db'].name}.{name}"
            if self.resolve_table is not None:
                source = self.resolve_table(name, node)
            if source is None:
                source = self.catalog.get(name)
            if source is None and self._looks_like_path(name):
                source = self._file_source(name, node)
            if source is None:
                raise BindError(f'Table "{name}" does not exist{location(node)}.'
                                + did_you_mean(name, self.catalog.names()))
            return self._scan(source, name if not self._looks_like_path(name) else os.path.basename(name), qual if alias or not self._looks_like_path(name) else os.path.splitext(os.path.basename(name))[0], col_aliases)
        raise NotSupportedError(f"Unsupported FROM item {type(node).__name__}{location(node)}")

    def open_video(self, path: str, node, **opts):
        from catalog.video import VideoError, VideoSource
        from engine.errors import DataError
        opener = getattr(self.catalog, "open_video", None)
        try:
            return opener(path, **opts) if opener else VideoSource(path, **opts)
        except FileNotFoundError:
            raise BindError(f"Video file '{path}' does not exist{location(node)}") from None
        except VideoError as e:
            raise DataError(f"{e}{location(node)}") from None

    @staticmethod
    def _looks_like_path(name: str) -> bool:
        low = name.lower()
        return low.endswith((".parquet", ".csv", ".tsv", ".pq")) or "/" in name

    def _file_source(self, path: str, node: exp.Expression, kind: str | None = None, **opts):
        from catalog.sources import CSVSource, ParquetSource
        low = path.lower()
        kind = kind or ("parquet" if low.endswith((".parquet", ".pq")) else "csv")
        try:
            if kind == "parquet":
                return ParquetSource(path)
            return CSVSource(path, **opts)
        except FileNotFoundError:
            raise BindError(f"File '{path}' does not exist{location(node)}") from None
        except Exception as e:  # malformed file
            from engine.errors import OperationalError
            raise OperationalError(f"Cannot read {kind} file '{path}': {e}") from None

    def _table_function(self, fn: exp.Expression, alias: str | None, col_aliases: list[str]):
        if isinstance(fn, exp.Anonymous):
            name, args = fn.name.lower(), list(fn.expressions)
        else:
            name = {"readparquet": "read_parquet", "readcsv": "read_csv"}.get(type(fn).key, type(fn).key)
            args = ([fn.this] if isinstance(fn.this, exp.Expression) else []) + list(fn.expressions)
        if isinstance(fn, exp.GenerateSeries):
            return self._series(fn, alias, col_aliases)
        if name == "video":
            if not args or not isinstance(args[0], exp.Literal) or not args[0].is_string:
                raise BindError(f"video() needs a file path string{location(fn)}")
            src = self.open_video(args[0].this, fn)
            return self._scan(src, os.path.basename(src.path), alias or src.name, col_aliases)
        u = self.lookup_udf(name, fn)
        if u is not None and u.kind == "table":
            from catalog.table_functions import TableUdfSource
            values = [self.bind_expr(a, Scope([], None)) for a in args]
            if not all(isinstance(v, Literal) for v in values):
                raise BindError(f"Arguments of table function {name}() must be constants{location(fn)}")
            src = TableUdfSource(u, [v.value for v in values])
            return self._scan(src, name, alias or name, col_aliases)
        if name in ("read_parquet", "parquet_scan", "read_csv", "read_csv_auto"):
            positional = [a for a in args if not isinstance(a, exp.EQ)]
            options = {a.this.name.lower(): a.expression for a in args if isinstance(a, exp.EQ)}
            if not positional or not isinstance(positional[0], exp.Literal) or not positional[0].is_string:
                raise BindError(f"{name}() needs a file path string{location(fn)}")
            path = positional[0].this
            kind = "parquet" if "parquet" in name else "csv"
            opts = {}
            if kind == "csv":
                for key in ("delim", "sep", "delimiter"):
                    if key in options:
                        opts["delimiter"] = options[key].this
                if "header" in options:
                    opts["header"] = options["header"].sql().upper() in ("TRUE", "1")
            src = self._file_source(path, fn, kind, **opts)
            base = os.path.splitext(os.path.basename(path))[0]
            return self._scan(src, os.path.basename(path), alias or base, col_aliases)
        raise BindError(f'Table function "{name}" does not exist{location(fn)}.'
                        + did_you_mean(name, ["read_parquet", "read_csv"]))

    def _series(self, fn: exp.GenerateSeries, alias: str | None, col_aliases: list[str]):
        """range(start, stop[, step]) and generate_series(start, stop[, step]) of integers."""
        from catalog.table_functions import SeriesSource
        name = "range" if fn.args.get("is_end_exclusive") else "generate_series"
        vals = []
        for key in ("start", "end", "step"):
            a = fn.args.get(key)
            if a is None:
                vals.append(1 if key == "step" else 0)
                continue
            v = self.bind_expr(a, Scope([], None))
            if isinstance(v, Call) and v.fn == "negate" and isinstance(v.args[0], Literal):
                v = Literal(-v.args[0].value, v.dtype)
            if not isinstance(v, Literal) or not isinstance(v.value, int) or isinstance(v.value, bool):
                raise BindError(f"Arguments of {name}() must be integer constants, got "
                                f"{a.sql(dialect='duckdb')}{location(a)}")
            vals.append(v.value)
        try:
            src = SeriesSource(name, vals[0], vals[1], vals[2], inclusive=name == "generate_series")
        except ValueError as e:
            raise BindError(f"{e}{location(fn)}") from None
        return self._scan(src, name, alias or name, col_aliases)

    def _scan(self, source, table: str, qual: str, col_aliases: list[str]):
        names = [f.name for f in source.schema]
        out = tuple(new_column(col_aliases[i] if i < len(col_aliases) else n, source.schema.field(n).type)
                    for i, n in enumerate(names))
        plan = Scan(table, source, out, tuple(names))
        if getattr(source, "kind", "") == "video":
            by = dict(zip(names, out))
            self.frame_lineage[by["frame"].cid] = (source.identity, by["frame_id"])
        entries = [Entry(qual.lower(), c.name, c) for c in out]
        return plan, entries

    @staticmethod
    def _entries_for(plan: Node, qual: str, col_aliases: list[str]):
        cols = plan.columns
        if col_aliases:
            if len(col_aliases) > len(cols):
                raise BindError(f'"{qual}" has {len(cols)} columns but {len(col_aliases)} aliases were given')
            new = tuple(new_column(col_aliases[i] if i < len(col_aliases) else c.name, c.dtype)
                        for i, c in enumerate(cols))
            plan = Project(plan, tuple(zip(new, cols)))
            cols = new
        return plan, [Entry(qual.lower(), c.name, c) for c in cols]

    # ---- SELECT

    def _bind_select(self, sel: exp.Select, parent: Scope | None) -> Node:
        plan, scope = self._bind_from(sel, parent)
        where = sel.args.get("where")
        if where is not None:
            pred = self._predicate(where.this, scope, allow_agg=False)
            plan = Filter(plan, pred)

        # select list items: (name, ast)
        items: list[tuple[str, exp.Expression | ColumnRef]] = []
        for e in sel.expressions:
            if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
                qual = e.table if isinstance(e, exp.Column) else None
                # t.* includes t's USING columns, which only a qualified name reaches
                ents = [x for x in scope.entries
                        if (x.qualifier == qual.lower() if qual else not x.hidden)]
                if qual and not ents:
                    raise BindError(f'Table "{qual}" is not in the FROM clause{location(e)}.'
                                    + did_you_mean(qual, {x.qualifier for x in scope.entries if x.qualifier}))
                except_ = e.args.get("except") if isinstance(e, exp.Star) else None
                excluded = {_ident(x).lower() for x in (except_ or [])}
                for x in ents:
                    if x.name.lower() not in excluded:
                        items.append((x.name, x.ref))
                continue
            name = e.alias_or_name if isinstance(e, (exp.Alias, exp.Column)) else self._display_name(e)
            items.append((name, e.this if isinstance(e, exp.Alias) else e))

        aliases = {n.lower(): a for n, a in items if not isinstance(a, ColumnRef)}
        group = sel.args.get("group")
        having = sel.args.get("having")
        qualify = sel.args.get("qualify")
        order = sel.args.get("order")
        if order is not None and any(_is_all(o.this) for o in order.expressions):
            # ORDER BY ALL [DESC]: every select column, left to right
            keys = []
            for o in order.expressions:
                keys += [exp.Ordered(this=exp.Literal.number(i + 1), desc=o.args.get("desc"),
                                     nulls_first=o.args.get("nulls_first"))
                         for i in range(len(items))] if _is_all(o.this) else [o]
            order = exp.Order(expressions=keys)
        group_exprs = list(group.expressions) if group is not None else []
        if group is not None and group.args.get("all"):
            # GROUP BY ALL: every select item that has no aggregate (nor window function)
            group_exprs = [exp.Literal.number(i + 1) for i, (_, a) in enumerate(items)
                           if isinstance(a, ColumnRef) or not (self._has_aggregate(a) or a.find(exp.Window))]
        aggctx = _AggContext()
        winctx = _WindowContext(sel.args.get("windows"))

        has_agg = group is not None or having is not None or any(
            self._has_aggregate(a) for _, a in items if not isinstance(a, ColumnRef))
        if order is not None and not has_agg:
            has_agg = any(self._has_aggregate(o.this) for o in order.expressions)

        groups: list[tuple[ColumnRef, Expr]] = []
        if has_agg:
            for g in group_exprs:
                if isinstance(g, exp.Literal) and not g.is_string:
                    i = int(g.this)
                    if not 1 <= i <= len(items):
                        raise BindError(f"GROUP BY position {i} is not in the select list{location(g)}")
                    src = items[i - 1][1]
                    ge = src if isinstance(src, ColumnRef) else self.bind_expr(src, scope)
                elif isinstance(g, exp.Column) and not g.table and g.name.lower() in aliases \
                        and not scope.lookup(g.name, None):
                    ge = self.bind_expr(aliases[g.name.lower()], scope)
                else:
                    ge = self.bind_expr(g, scope)
                if not any(ge == x for _, x in groups):
                    name = ge.name if isinstance(ge, ColumnRef) else ge.sql()
                    groups.append((new_column(name, ge.dtype), ge))

        local_ids = {x.ref.cid for x in scope.entries}

        def post(e: Expr, node: exp.Expression | None) -> Expr:
            """Map an expression over FROM columns onto the aggregate's output."""
            if not has_agg:
                return e
            return self._over_groups(e, groups, aggctx, node, local_ids)

        def bind_out(a, allow_window=True) -> Expr:
            if isinstance(a, ColumnRef):
                return post(a, None)
            e = self.bind_expr(a, scope, aggctx if has_agg else None, winctx if allow_window else None,
                               post=post if has_agg else None)
            return post(e, a)

        bound = [(n, bind_out(a)) for n, a in items]

        having_pred = None
        if having is not None:
            having_pred = post(self.bind_expr(having.this, scope, aggctx, None, post=post,
                                              aliases={n.lower(): e for n, e in bound}), having.this)
            self._check_bool(having_pred, having.this, "HAVING")

        # ORDER BY keys: select alias or position first, then any expression
        order_keys: list[tuple[Expr, exp.Ordered]] = []
        if order is not None:
            for o in order.expressions:
                t = o.this
                if isinstance(t, exp.Literal) and not t.is_string:
                    i = int(t.this)
                    if not 1 <= i <= len(bound):
                        raise BindError(f"ORDER BY position {i} is not in the select list "
                                        f"(1..{len(bound)}){location(t)}")
                    order_keys.append((bound[i - 1][1], o))
                    continue
                if isinstance(t, exp.Column) and not t.table:
                    hits = [e for n, e in bound if n.lower() == t.name.lower()]
                    if hits and (len(hits) == 1 or all(h == hits[0] for h in hits)):
                        order_keys.append((hits[0], o))
                        continue
                e = self.bind_expr(t, scope, aggctx if has_agg else None, winctx, post=post if has_agg else None,
                                   aliases={n.lower(): e for n, e in bound})
                order_keys.append((post(e, t), o))

        if has_agg:
            plan = Aggregate(plan, tuple(groups), tuple(aggctx.aggs))
        if having_pred is not None:
            plan = Filter(plan, having_pred)
        if winctx.funcs:
            plan = Window(plan, tuple(winctx.funcs))
        if qualify is not None:
            q = post(self.bind_expr(qualify.this, scope, aggctx if has_agg else None, winctx,
                                    post=post if has_agg else None,
                                    aliases={n.lower(): e for n, e in bound}), qualify.this)
            if winctx.funcs:
                # qualify may have added window functions; rebuild the window node
                base = plan.child if isinstance(plan, Window) else plan
                plan = Window(base, tuple(winctx.funcs))
            plan = Filter(plan, q)

        outs = tuple((new_column(n, e.dtype), e) for n, e in bound)
        distinct = sel.args.get("distinct") is not None
        if distinct and sel.args["distinct"].args.get("on"):
            raise NotSupportedError(f"DISTINCT ON is not supported{location(sel)}")

        # hidden sort columns for keys that are not output columns
        out_by_expr = {}
        for c, e in outs:
            out_by_expr.setdefault(e, c)
        extra: list[tuple[ColumnRef, Expr]] = []
        sort_keys: list[SortKey] = []
        for e, o in order_keys:
            if e in out_by_expr:
                sort_keys.append(self._sort_key(out_by_expr[e], o))
                continue
            if distinct:
                raise BindError(f'ORDER BY term "{o.this.sql()}" must appear in the select list '
                                f"of a SELECT DISTINCT{location(o.this)}")
            c = new_column("__sort", e.dtype)
            extra.append((c, e))
            sort_keys.append(self._sort_key(c, o))
        plan = Project(plan, outs + tuple(extra))
        if distinct:
            plan = Distinct(plan)
        if sort_keys:
            plan = Sort(plan, tuple(sort_keys))
        plan = self._limit(plan, sel)
        if extra:
            plan = Project(plan, tuple((c, c) for c, _ in outs))
        return plan

    @staticmethod
    def _display_name(e: exp.Expression) -> str:
        if isinstance(e, exp.Column):
            return e.name
        s = e.sql(dialect="duckdb")
        return s if len(s) <= 64 else s[:61] + "..."

    def _has_aggregate(self, node: exp.Expression) -> bool:
        for n in node.walk():
            if isinstance(n, (exp.Subquery, exp.Exists)):
                continue
            if isinstance(n, exp.Window):
                continue
            if isinstance(n, tuple(_AGG_CLASS)) and not isinstance(n.parent, exp.Window) \
                    and not self._inside_window(n):
                if not self._inside_subquery(n, node):
                    return True
            if isinstance(n, exp.Anonymous) and (n.name.lower() in _AGGS or self._udf_kind(n.name) == "aggregate") \
                    and not self._inside_window(n) \
                    and not self._inside_subquery(n, node):
                return True
        return False

    def _udf_kind(self, name: str) -> str | None:
        if self.functions is None or F.lookup(name) is not None:
            return None
        try:
            u = self.functions.get(name)
        except Exception:
            return None
        return u.kind if u is not None else None

    @staticmethod
    def _inside_window(n: exp.Expression) -> bool:
        p = n.parent
        while p is not None:
            if isinstance(p, exp.Window):
                return p.this is n or n in list(p.this.walk())
            if isinstance(p, (exp.Select, exp.Subquery)):
                return False
            p = p.parent
        return False

    @staticmethod
    def _inside_subquery(n: exp.Expression, top: exp.Expression) -> bool:
        if n is top:
            return False
        p = n.parent
        while p is not None and p is not top:
            if isinstance(p, (exp.Select, exp.Subquery)):
                return True
            p = p.parent
        return False

    def _over_groups(self, e: Expr, groups, aggctx: _AggContext, node, local_ids: set[int]) -> Expr:
        """Rewrite e to read only group keys and aggregate outputs; reject bare columns."""
        agg_out = {r.cid for r, _ in aggctx.aggs}
        gmap = {g: c for c, g in groups}

        def rewrite(x: Expr) -> Expr:
            if x in gmap:
                return gmap[x]
            if isinstance(x, ColumnRef):
                if x.cid in agg_out:
                    return x
                return x  # checked below
            kids = x.children()
            if not kids:
                return x
            new = tuple(rewrite(k) for k in kids)
            return x.with_children(new) if any(a is not b for a, b in zip(new, kids)) else x

        out = rewrite(e)
        allowed = agg_out | {c.cid for c, _ in groups}
        for x in out.walk():
            if isinstance(x, ColumnRef) and x.cid not in allowed and x.cid in local_ids:
                where = location(node) if node is not None else ""
                raise BindError(f'Column "{x.name}" must appear in the GROUP BY clause or be used in '
                                f"an aggregate function{where}")
        return out

    # ---- expressions

    def _predicate(self, node: exp.Expression, scope: Scope, allow_agg: bool = False) -> Expr:
        node = _row_in_conjuncts(node)
        e = self.bind_expr(node, scope)
        self._check_bool(e, node, "WHERE/ON")
        return e

    def _check_bool(self, e: Expr, node, clause: str) -> None:
        if not (pa.types.is_boolean(e.dtype) or pa.types.is_null(e.dtype)):
            raise TypeMismatchError(f'{clause} condition "{node.sql()}" must be BOOLEAN, not '
                                    f"{T.sql_name(e.dtype)}{location(node)}")

    def bind_expr(self, node: exp.Expression, scope: Scope, agg: _AggContext | None = None,
                  win: _WindowContext | None = None, post=None, aliases: dict | None = None) -> Expr:
        b = _ExprBinder(self, scope, agg, win, post, aliases or {})
        return b.bind(node)

    def _compare(self, op: str, a: Expr, b: Expr, node) -> Expr:
        return make_call(op, [a, b], node)


def make_call(name: str, args: list[Expr], node: exp.Expression | None = None) -> Expr:
    """Type-check a built-in function call, coerce its arguments, and build the Call."""
    f = F.lookup(name)
    if f is None:
        raise BindError(f'Function "{name}" does not exist{location(node)}.'
                        + did_you_mean(name, list(F.FUNCTIONS) + list(F.ALIASES)))
    if not f.min_args <= len(args) <= f.max_args:
        want = str(f.min_args) if f.min_args == f.max_args else f"{f.min_args} to {f.max_args}"
        raise TypeMismatchError(f'Function "{name}" takes {want} argument(s), got {len(args)}'
                                f"{location(node)}")
    types = [a.dtype for a in args]
    what = node.sql(dialect="duckdb") if node is not None else name
    try:
        if f.coerce == "common" and args:
            t = types[0]
            for x in types[1:]:
                t = T.common_type(t, x, f'"{what}"')
            args = [cast_to(a, t) for a in args]
            types = [t] * len(args)
        rt = f.rtype(types)
    except TypeMismatchError as e:
        typed = [t for t in types if not pa.types.is_null(t)]
        if typed and len(typed) < len(types):
            # an untyped NULL takes its typed sibling's type (DuckDB: NULL - DATE is DATE - DATE)
            return make_call(name, [cast_to(a, typed[0]) if pa.types.is_null(a.dtype) else a
                                    for a in args], node)
        msg = str(e)
        if not msg.startswith("Cannot"):
            msg = f"{f.name} {msg}"
        raise TypeMismatchError(f'Type error in "{what}"{location(node)}: {msg}') from None
    if rt is None:
        rt = types[0] if types else pa.null()
    return Call(f.name, tuple(args), rt)


class _ExprBinder:
    def __init__(self, binder: Binder, scope: Scope, agg, win, post, aliases):
        self.b = binder
        self.scope = scope
        self.agg = agg
        self.win = win
        self.post = post
        self.aliases = aliases
        self.in_agg = False
        self.pending_filter: Expr | None = None

    def bind(self, node: exp.Expression) -> Expr:
        m = getattr(self, "_" + type(node).__name__, None)
        if m is not None:
            return m(node)
        if type(node) in _CMP and isinstance(node.expression, (exp.Any, exp.All)):
            return self._quantified(_CMP[type(node)], node)
        if type(node) in _CMP:
            return self._binary(_CMP[type(node)], node)
        if type(node) in _ARITH:
            return self._binary(_ARITH[type(node)], node)
        if type(node) in _AGG_CLASS:
            return self._aggregate(_AGG_CLASS[type(node)], node)
        if isinstance(node, exp.Func):
            return self._function(node)
        raise NotSupportedError(f'Unsupported expression "{node.sql()}" ({type(node).__name__})'
                                f"{location(node)}")

    # -- leaves
    def _Column(self, node: exp.Column) -> Expr:
        if isinstance(node.this, exp.Star):
            raise BindError(f"* is not allowed here{location(node)}")
        qual = node.table or None
        if qual is None and self.aliases and node.name.lower() in self.aliases \
                and not self.scope.lookup(node.name, None):
            return self.aliases[node.name.lower()]
        return self.scope.resolve(node.name, qual, node)

    def _Identifier(self, node) -> Expr:
        return self.scope.resolve(node.name, None, node)

    def _Literal(self, node: exp.Literal) -> Expr:
        if node.is_string:
            return Literal(node.this, pa.string())
        text = node.this
        try:
            v = int(text)
            if -(2 ** 31) <= v < 2 ** 31:
                return Literal(v, pa.int32())
            if -(2 ** 63) <= v < 2 ** 63:
                return Literal(v, pa.int64())
            return Literal(float(v), pa.float64())
        except ValueError:
            return Literal(float(text), pa.float64())

    def _Boolean(self, node) -> Expr:
        return Literal(bool(node.this), pa.bool_())

    def _Null(self, node) -> Expr:
        return Literal(None, pa.null())

    def _Paren(self, node) -> Expr:
        return self.bind(node.this)

    def _Neg(self, node) -> Expr:
        inner = self.bind(node.this)
        if isinstance(inner, Literal) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
            v = -inner.value
            t = inner.dtype
            if isinstance(v, int) and t == pa.int32() and v == -(2 ** 31):
                t = pa.int32()
            return Literal(v, t)
        return make_call("negate", [inner], node)

    def _Not(self, node) -> Expr:
        inner = node.this
        if isinstance(inner, exp.In):
            return self._In(inner, negated=True)
        if isinstance(inner, exp.Exists):
            return self._Exists(inner, negated=True)
        if isinstance(inner, exp.Like) and not inner.args.get("negate"):
            return self._like(inner, "not_like")
        if isinstance(inner, exp.ILike) and not inner.args.get("negate"):
            return self._like(inner, "not_ilike")
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return make_call("is_not_null", [self.bind(inner.this)], node)
        e = self.bind(inner)
        return make_call("not", [e], node)

    def _And(self, node) -> Expr:
        return self._binary("and", node)

    def _Or(self, node) -> Expr:
        return self._binary("or", node)

    def _binary(self, op: str, node) -> Expr:
        a, b = self.bind(node.this), self.bind(node.expression)
        if op in ("and", "or"):
            a = cast_to(a, pa.bool_()) if pa.types.is_null(a.dtype) else a
            b = cast_to(b, pa.bool_()) if pa.types.is_null(b.dtype) else b
        if op == "concat_op":
            if pa.types.is_null(a.dtype) or pa.types.is_null(b.dtype):
                return Literal(None, pa.string())
        return make_call(op, [a, b], node)

    def _Is(self, node) -> Expr:
        a = self.bind(node.this)
        rhs = node.expression
        if isinstance(rhs, exp.Null):
            return make_call("is_null", [a], node)
        if isinstance(rhs, exp.Boolean):
            return make_call("is_true" if rhs.this else "is_false", [cast_to(a, pa.bool_())], node)
        return make_call("is_not_distinct", [a, self.bind(rhs)], node)

    def _Like(self, node) -> Expr:
        return self._like(node, "not_like" if node.args.get("negate") else "like")

    def _ILike(self, node) -> Expr:
        return self._like(node, "not_ilike" if node.args.get("negate") else "ilike")

    def _like(self, node, op, escape: exp.Expression | None = None) -> Expr:
        args = [self.bind(node.this), self.bind(node.expression)]
        if escape is not None:
            args.append(self.bind(escape))
        return make_call(op, args, node)

    def _Escape(self, node) -> Expr:
        """``x [NOT] [I]LIKE pattern ESCAPE c``"""
        like = node.this
        if isinstance(like, exp.Not):
            like, flip = like.this, True
        else:
            flip = False
        if not isinstance(like, (exp.Like, exp.ILike)):
            raise NotSupportedError(f'Unsupported expression "{node.sql()}"{location(node)}')
        neg = bool(like.args.get("negate")) != flip
        op = ("not_" if neg else "") + ("ilike" if isinstance(like, exp.ILike) else "like")
        return self._like(like, op, node.expression)

    def _Between(self, node) -> Expr:
        x = self.bind(node.this)
        lo, hi = self.bind(node.args["low"]), self.bind(node.args["high"])
        return make_call("and", [make_call("gte", [x, lo], node), make_call("lte", [x, hi], node)], node)

    def _In(self, node, negated: bool = False) -> Expr:
        if isinstance(node.this, exp.Tuple):
            return self.bind(_row_in(node, negated))
        x = self.bind(node.this)
        q = node.args.get("query")
        if q is not None:
            plan, outer = self._subquery(q.this if isinstance(q, exp.Subquery) else q)
            if len(plan.columns) != 1:
                raise BindError(f"IN subquery must return one column, got {len(plan.columns)}{location(q)}")
            t = T.common_type(x.dtype, plan.columns[0].dtype, f'"{node.sql()}"')
            if plan.columns[0].dtype != t:
                c = plan.columns[0]
                plan = Project(plan, ((new_column(c.name, t), cast_to(c, t)),))
            return SubqueryExpr("in", plan, pa.bool_(), cast_to(x, t), negated, tuple(outer))
        if node.args.get("unnest") is not None:
            raise NotSupportedError(f"IN UNNEST is not supported{location(node)}")
        vals = [self.bind(v) for v in node.expressions]
        t = x.dtype
        for v in vals:
            t = T.common_type(t, v.dtype, f'"{node.sql()}"')
        return InList(cast_to(x, t), tuple(cast_to(v, t) for v in vals), negated)

    def _quantified(self, op: str, node) -> Expr:
        """``x op ANY|ALL (subquery)``: = ANY is IN and <> ALL is NOT IN; the others compare x with
        the subquery's min or max, and its row counts give SQL's NULL and empty-set answers."""
        q = node.expression
        is_all = isinstance(q, exp.All)
        sub = q.this.this if isinstance(q.this, exp.Subquery) else q.this
        if (op == "eq" and not is_all) or (op == "neq" and is_all):
            return self._In(exp.In(this=node.this, query=exp.Subquery(this=sub)), negated=is_all)
        x = self.bind(node.this)
        plan, outer = self._subquery(sub)
        if len(plan.columns) != 1:
            raise BindError(f"A subquery after ANY/ALL must return one column{location(q)}")
        t = T.common_type(x.dtype, plan.columns[0].dtype, f'"{node.sql()}"')
        y = cast_to(plan.columns[0], t)

        def agg(fn: str, dtype: pa.DataType) -> Expr:
            c = new_column(fn, dtype)
            call = AggCall(fn, () if fn == "count_star" else (y,), dtype)
            return SubqueryExpr("scalar", Aggregate(plan, (), ((c, call),)), dtype, None, False, tuple(outer))

        x = cast_to(x, t)
        n, nvalid = agg("count_star", pa.int64()), agg("count", pa.int64())
        lo, hi = agg("min", t), agg("max", t)
        if op == "neq" or op == "eq":
            differs = make_call("or", [make_call("neq", [x, lo]), make_call("neq", [x, hi])])
            decided = differs
        elif is_all:  # some y makes "x op y" false
            decided = make_call({"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}[op],
                                [x, hi if op in ("gt", "gte") else lo])
        else:  # some y makes "x op y" true
            decided = make_call(op, [x, lo if op in ("gt", "gte") else hi])
        unknown = make_call("or", [make_call("is_null", [x]), make_call("lt", [nvalid, n])])
        empty = make_call("eq", [n, Literal(0, pa.int64())])
        yes, no, null = Literal(True, pa.bool_()), Literal(False, pa.bool_()), Literal(None, pa.bool_())
        return Case(((empty, yes if is_all else no), (decided, no if is_all else yes), (unknown, null)),
                    yes if is_all else no, pa.bool_())

    def _Exists(self, node, negated: bool = False) -> Expr:
        q = node.this
        plan, outer = self._subquery(q.this if isinstance(q, exp.Subquery) else q)
        return SubqueryExpr("exists", plan, pa.bool_(), None, negated, tuple(outer))

    def _Subquery(self, node) -> Expr:
        plan, outer = self._subquery(node.this)
        if len(plan.columns) != 1:
            raise BindError(f"A scalar subquery must return one column, got {len(plan.columns)}"
                            f"{location(node)}")
        return SubqueryExpr("scalar", plan, plan.columns[0].dtype, None, False, tuple(outer))

    def _Select(self, node) -> Expr:
        return self._Subquery(exp.Subquery(this=node))

    def _subquery(self, q: exp.Expression) -> tuple[Node, list[ColumnRef]]:
        inner = Scope([], self.scope)
        plan = self.b.bind_query_in(q, inner)
        outer = [r for r in inner.outer_refs]
        return plan, outer

    def _Case(self, node) -> Expr:
        operand = node.args.get("this")
        op = self.bind(operand) if operand is not None else None
        whens = []
        for w in node.args.get("ifs") or []:
            cond = self.bind(w.this)
            if op is not None:
                cond = make_call("eq", [op, cond], w)
            elif not (pa.types.is_boolean(cond.dtype) or pa.types.is_null(cond.dtype)):
                raise TypeMismatchError(f'CASE WHEN condition "{w.this.sql()}" must be BOOLEAN'
                                        f"{location(w)}")
            whens.append((cast_to(cond, pa.bool_()), self.bind(w.args["true"])))
        default = self.bind(node.args["default"]) if node.args.get("default") is not None else Literal(None, pa.null())
        t = default.dtype
        for _, v in whens:
            t = T.common_type(t, v.dtype, "CASE")
        if pa.types.is_null(t):
            t = pa.int32()
        return Case(tuple((c, cast_to(v, t)) for c, v in whens), cast_to(default, t), t)

    def _If(self, node) -> Expr:
        cond = self.bind(node.this)
        a = self.bind(node.args["true"])
        bnode = node.args.get("false")
        b = self.bind(bnode) if bnode is not None else Literal(None, pa.null())
        t = T.common_type(a.dtype, b.dtype, "IF")
        if pa.types.is_null(t):
            t = pa.int32()
        return Case(((cast_to(cond, pa.bool_()), cast_to(a, t)),), cast_to(b, t), t)

    def _Cast(self, node, safe: bool = False) -> Expr:
        to = node.args["to"]
        t = self._type(to)
        inner = self.bind(node.this)
        if isinstance(inner, Literal) and inner.value is not None and pa.types.is_string(inner.dtype):
            folded = _cast_literal(inner.value, t, node, safe)
            if folded is not None:
                return folded
        if pa.types.is_null(inner.dtype):
            return Literal(None, t)
        return Cast(inner, t, safe)

    def _TryCast(self, node) -> Expr:
        return self._Cast(node, safe=True)

    def _type(self, to: exp.DataType) -> pa.DataType:
        name = to.this.name if hasattr(to.this, "name") else str(to.this)
        text = to.sql(dialect="duckdb").upper()
        base = re.sub(r"\(.*\)", "", text).strip()
        if base in T.SQL_NAMES:
            return T.SQL_NAMES[base]
        return T.parse_sql_type(name)

    def _Interval(self, node) -> Expr:
        unit = node.args.get("unit")
        val = node.this
        text = val.this if isinstance(val, exp.Literal) else val.sql()
        u = unit.name if unit is not None else None
        try:
            m, d, n = parse_interval(str(text), u)
        except (ValueError, ProgrammingError):
            raise ProgrammingError(f"Invalid interval '{text}'{location(node)}") from None
        return Literal(pa.MonthDayNano([m, d, n]), T.INTERVAL)

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

    def _Window(self, node) -> Expr:
        if self.win is None:
            raise BindError(f"Window functions are not allowed here{location(node)}")
        f = node.this
        fname, args, argnodes = self._window_func(f)
        part_nodes, o, spec = self.win.resolve(node)
        partition = tuple(self._post(self.bind(p), p) for p in part_nodes)
        order = []
        for k in (o.expressions if o is not None else []):
            order.append(Binder._sort_key(self._post(self.bind(k.this), k.this), k))
        frame = self._frame(spec, node) if spec is not None else None
        if frame is not None and frame.mode == "range" and {frame.start, frame.end} - {None, 0}:
            if len(order) != 1 or not T.is_numeric(order[0].expr.dtype):
                raise NotSupportedError("A RANGE frame with an offset needs exactly one numeric "
                                        f"ORDER BY key{location(node)}")
        dtype = self._window_type(fname, args, node)
        call = WindowCall(fname, tuple(args), partition, tuple(order), frame, dtype)
        return self.win.add(call, fname)

    def _post(self, e: Expr, node) -> Expr:
        return self.post(e, node) if self.post is not None else e

    def _window_func(self, f: exp.Expression):
        cls = type(f)
        if cls in _AGG_CLASS:
            name = _AGG_CLASS[cls]
            inner = f.this
            if isinstance(inner, exp.Distinct):
                raise NotSupportedError(f"DISTINCT aggregates over windows are not supported{location(f)}")
            if name == "count" and (inner is None or isinstance(inner, exp.Star)):
                return "count_star", [], []
            args = [self._post(self.bind(inner), inner)] if inner is not None else []
            return name, args, [inner]
        name = (f.name if isinstance(f, exp.Anonymous) else f.key).lower()
        name = {"rownumber": "row_number", "denserank": "dense_rank", "firstvalue": "first_value",
                "lastvalue": "last_value", "nthvalue": "nth_value", "percentrank": "percent_rank",
                "cumedist": "cume_dist"}.get(name, name)
        if name not in _WINDOW_ONLY and name not in _AGGS:
            raise BindError(f'"{name}" is not a window function{location(f)}')
        raw = [a for a in ([f.this] if f.args.get("this") is not None else [])]
        for k in ("offset", "default", "expression"):
            if f.args.get(k) is not None:
                raw.append(f.args[k])
        raw += list(f.expressions or [])
        return name, [self._post(self.bind(a), a) for a in raw], raw

    def _window_type(self, fname, args, node) -> pa.DataType:
        if fname in ("row_number", "rank", "dense_rank", "ntile", "count", "count_star"):
            return pa.int64()
        if fname in ("percent_rank", "cume_dist", "avg", "stddev", "variance", "stddev_pop", "var_pop"):
            return pa.float64()
        if fname in ("lag", "lead", "first_value", "last_value", "nth_value", "min", "max"):
            if not args:
                raise BindError(f"{fname}() needs an argument{location(node)}")
            return args[0].dtype
        if fname == "sum":
            return pa.int64() if T.is_integer(args[0].dtype) else pa.float64()
        raise NotSupportedError(f"Window function {fname} is not supported{location(node)}")

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
                keys = [Binder._sort_key(self.bind(o.this), o) for o in order_nodes]
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


def _cast_literal(value: str, t: pa.DataType, node, safe: bool) -> Literal | None:
    """Fold CAST('text' AS type) at bind time, so typed literals (DATE '...') cost nothing."""
    try:
        if pa.types.is_date(t):
            return Literal(_dt.date.fromisoformat(value.strip()), t)
        if pa.types.is_timestamp(t):
            v = value.strip()
            d = _dt.datetime.fromisoformat(v) if len(v) > 10 else _dt.datetime.fromisoformat(v + " 00:00:00")
            return Literal(d, t)
        if pa.types.is_integer(t):
            return Literal(int(value.strip()), t)
        if pa.types.is_floating(t):
            return Literal(float(value.strip()), t)
        if pa.types.is_string(t):
            return Literal(value, t)
        if pa.types.is_boolean(t):
            v = value.strip().lower()
            if v in ("true", "t", "1", "yes", "y"):
                return Literal(True, t)
            if v in ("false", "f", "0", "no", "n"):
                return Literal(False, t)
            raise ValueError(value)
        if pa.types.is_binary(t):
            return Literal(bytes.fromhex(value), t)
        if pa.types.is_interval(t):
            m, d, n = parse_interval(value, None)
            return Literal(pa.MonthDayNano([m, d, n]), t)
    except ValueError:
        if safe:
            return Literal(None, t)
        from engine.errors import DataError
        raise DataError(f"Cannot cast '{value}' to {T.sql_name(t)}{location(node)}") from None
    return None


def _bind_query_in(self: Binder, q: exp.Expression, scope: Scope) -> Node:
    """Bind a subquery whose outer scope is ``scope.parent``; outer references land on scope."""
    # the subquery's own FROM scope gets ``scope`` as its parent so that lookups that miss
    # locally are recorded on ``scope.outer_refs``
    saved = getattr(self, "_outer_ids", set())
    plan = self.bind_query(q, _Relay(scope))
    return plan


class _Relay(Scope):
    """A scope with no columns that forwards to the enclosing query and records what it reads."""

    def __init__(self, target: Scope):
        super().__init__([], target.parent)
        self.target = target

    def resolve(self, name, qualifier, node):
        ref = self.target.parent.resolve(name, qualifier, node)
        if ref not in self.target.outer_refs:
            self.target.outer_refs.append(ref)
        # keep the enclosing binder's own outer set current for aggregate checks
        return ref

    def lookup(self, name, qualifier):
        return []

    def _all(self):
        return self.target.parent._all() if self.target.parent else []


Binder.bind_query_in = _bind_query_in


def _sample_spec(ts: exp.TableSample):
    """TABLESAMPLE / USING SAMPLE as a catalog.sampling.SampleSpec, with clear errors."""
    from catalog.sampling import SampleSpec

    def number(e, what: str) -> float:
        if isinstance(e, exp.Neg) or not isinstance(e, exp.Literal) or e.is_string:
            raise BindError(f"TABLESAMPLE {what} must be a non-negative number, got {e.sql()}{location(ts)}")
        return float(e.this)
    method = (ts.args.get("method").name if ts.args.get("method") is not None else "").lower()
    seed = ts.args.get("seed")
    seed = int(number(seed, "seed")) if seed is not None else None
    percent, size = ts.args.get("percent"), ts.args.get("size")
    if ts.args.get("rows") is not None and size is None:
        size = ts.args.get("rows")
    if method not in ("", "bernoulli", "system", "reservoir"):
        raise NotSupportedError(f"TABLESAMPLE method {method.upper()} is not supported (BERNOULLI, "
                                f"SYSTEM, RESERVOIR){location(ts)}")
    if percent is not None:
        p = number(percent, "percentage")
        if p > 100:
            raise BindError(f"TABLESAMPLE percentage must be between 0 and 100, got {p:g}{location(ts)}")
        return SampleSpec(method if method in ("bernoulli", "system") else "system", percent=p, seed=seed)
    if size is None:
        raise BindError(f"TABLESAMPLE needs a size: n% or n ROWS{location(ts)}")
    n = number(size, "size")
    if method in ("bernoulli", "system"):  # BERNOULLI (5) means five percent
        if n > 100:
            raise BindError(f"TABLESAMPLE percentage must be between 0 and 100, got {n:g}{location(ts)}")
        return SampleSpec(method, percent=n, seed=seed)
    if n != int(n):
        raise BindError(f"TABLESAMPLE row count must be a whole number, got {n:g}{location(ts)}")
    return SampleSpec("reservoir", rows=int(n), seed=seed)


# ---- row values: (a, b) [NOT] IN (...)

def _row_in_match(node: exp.In, unknown: bool) -> exp.Exists:
    """EXISTS over the IN subquery's rows that equal the row value (``unknown``: whose comparison
    is TRUE or NULL, i.e. not definitely FALSE, as NOT IN needs)."""
    left = node.this.expressions
    q = node.args["query"]
    sub = q.this if isinstance(q, exp.Subquery) else q
    width = len(left)
    if isinstance(sub, exp.Select) and not sub.is_star and len(sub.expressions) != width:
        raise BindError(f"The IN subquery returns {len(sub.expressions)} columns, the row value "
                        f"{node.this.sql()} has {width}{location(q)}")
    alias = f"__row_in_{next_id()}"
    cols = [exp.to_identifier(f"c{i}") for i in range(width)]
    conds = []
    for i, a in enumerate(left):
        col = exp.column(f"c{i}", table=alias)
        eq = exp.EQ(this=col, expression=a.copy())
        conds.append(exp.or_(eq, exp.Is(this=col.copy(), expression=exp.Null()),
                             exp.Is(this=a.copy(), expression=exp.Null())) if unknown else eq)
    derived = exp.Subquery(this=sub.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias), columns=cols))
    return exp.Exists(this=exp.select("1").from_(derived).where(exp.and_(*conds)))


def _row_in(node: exp.In, negated: bool) -> exp.Expression:
    """A row-value IN. Against a subquery, as SQL defines it: TRUE if some row equals, NULL if
    none does but some comparison is NULL, else FALSE. Against a list of row values, as DuckDB
    does it: TRUE if one equals field by field with NULLs equal, else FALSE."""
    left = node.this.expressions
    q = node.args.get("query")
    if q is None:
        alts = []
        for v in node.expressions:
            items = v.expressions if isinstance(v, exp.Tuple) else [v]
            if len(items) != len(left):
                raise BindError(f"Row value {v.sql()} has {len(items)} fields, {node.this.sql()} has "
                                f"{len(left)}{location(v)}")
            # DuckDB compares a row value with a list of them as structs: a NULL field equals a
            # NULL field, so the answer is never NULL (its subquery form is three-valued, below)
            alts.append(exp.and_(*[exp.NullSafeEQ(this=a.copy(), expression=b.copy())
                                   for a, b in zip(left, items)]))
        test = exp.Paren(this=exp.or_(*alts)) if alts else exp.false()
    else:
        exact = _row_in_match(node, unknown=False)
        maybe = _row_in_match(node, unknown=True)
        test = exp.Case(ifs=[exp.If(this=exact, true=exp.true()),
                             exp.If(this=maybe, true=exp.Null())], default=exp.false())
    return exp.Not(this=exp.Paren(this=test)) if negated else test


def _row_in_conjuncts(node: exp.Expression) -> exp.Expression:
    """In WHERE/ON conjuncts, NULL and FALSE both drop the row: ``(a, b) IN (subquery)`` is then
    EXISTS of an equal row (a semi join) and NOT IN is NOT EXISTS of a not-unequal one (an anti
    join), instead of the three-valued CASE that other positions need."""
    def one(p: exp.Expression) -> exp.Expression:
        neg = isinstance(p, exp.Not)
        inner = p.this if neg else p
        if isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.In) and isinstance(inner.this, exp.Tuple) and inner.args.get("query"):
            e = _row_in_match(inner, unknown=neg)
            return exp.Not(this=e) if neg else e
        return p
    if not any(isinstance(x, exp.In) and isinstance(x.this, exp.Tuple) for x in node.find_all(exp.In)):
        return node
    parts = list(node.flatten()) if isinstance(node, exp.And) else [node]
    return exp.and_(*[one(p) for p in parts]) if len(parts) > 1 else one(parts[0])
