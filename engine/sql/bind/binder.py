"""Binding: sqlglot ASTs to logical plans, resolving names and types against the catalog.

The binder qualifies every column, expands ``*``, resolves select-list aliases (in GROUP BY, HAVING
and ORDER BY, as DuckDB does), infers and coerces types, binds aggregates and window functions into
their own plan nodes, and turns subqueries into ``SubqueryExpr`` values that remember which outer
columns they read (the optimizer decorrelates those into joins).

The binder is split by construct: FROM (from_.py), one SELECT block (select.py), expressions
(expressions.py) with function, aggregate and window calls (functions.py, aggregates.py,
windows.py), name scopes (scope.py), row values (rows.py) and samples (sample.py).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import pyarrow as pa
from sqlglot import exp

from engine.errors import (
    BindError,
    DataError,
    NotSupportedError,
    ProgrammingError,
    TypeMismatchError,
    did_you_mean,
)
from engine.plan import types as T
from engine.plan.expressions import ColumnRef, Expr, Literal, new_column, next_id
from engine.plan.nodes import Limit, Node, Project, RecursiveUnion, SetOp, Sort, Values
from engine.sql.bind.aggregates import _AggContext
from engine.sql.bind.coverage import check
from engine.sql.bind.expressions import ExprBinder
from engine.sql.bind.from_ import FromBinding
from engine.sql.bind.pivot import rewrite_pivot
from engine.sql.bind.rows import _row_in_conjuncts
from engine.sql.bind.scope import Relay, Scope
from engine.sql.bind.select import SelectBinding
from engine.sql.bind.util import _const_int, _ident, cast_to, make_call, position_of, sort_key
from engine.sql.bind.windows import _WindowContext
from engine.sql.parser import location

_CTE_KEYS = itertools.count(1)  # identities of CTEs a statement reads more than once


def _text(node: exp.Expression) -> str:
    """SQL as the user wrote it (function names in their own case)."""
    return node.sql(dialect="duckdb", normalize_functions=False)


class Binder(FromBinding, SelectBinding):
    def __init__(self, catalog, resolve_table: Callable[[str, exp.Expression], Any] | None = None,
                 functions=None, run: Callable[[exp.Expression], list[tuple]] | None = None):
        self.catalog = catalog
        self.run = run  # runs a query AST to its rows (PIVOT reads the values it makes columns of)
        self.resolve_table = resolve_table
        self.functions = functions  # catalog.functions.FunctionRegistry
        self._ctes: list[dict[str, tuple[exp.Expression, exp.Expression | None, bool]]] = []
        self._cte_keys: dict[tuple, int] = {}  # CTEs named more than once -> their identity
        self._recursing: dict[tuple, tuple[int, list]] = {}  # recursive CTEs whose step is bound
        # frame column id -> (video identity, frame_id column): keys for cached model results
        self.frame_lineage: dict[int, tuple[str, ColumnRef]] = {}
        self.frame_sources: dict[int, Any] = {}  # frame column id -> its catalog.video.VideoSource

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
        args, dtype = self.udf_arguments(u, args, node)
        identity: tuple = ()
        for a in args:
            if isinstance(a, ColumnRef) and a.cid in self.frame_lineage:
                ident, fid = self.frame_lineage[a.cid]
                identity = (Literal(ident, pa.string()), fid)
                break
        from engine.plan.expressions import UdfCall
        return UdfCall(u.name, tuple(args), dtype, u, identity)

    def udf_arguments(self, u, args: list[Expr], node: exp.Expression) -> tuple[list[Expr], pa.DataType]:
        """A UDF call's arguments checked against its signature and cast to its declared argument
        types, and its result type (scalar and aggregate UDFs alike)."""
        if u.args is None:
            names, fewest, most = u.parameters()
            if len(args) < fewest or (most is not None and len(args) > most):
                count = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most is not None \
                    else f"at least {fewest}"
                raise TypeMismatchError(f'Function "{u.name}" takes {count} argument(s), got '
                                        f"{len(args)}{location(node)} (signature: {u.signature})")
        if u.needs_video:
            args = self._video_args(u, args, node)
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
                        f'Type error in "{_text(node)}"{location(node)}: {u.name} expects '
                        f"{T.sql_name(t)}, got {T.sql_name(a.dtype)} (signature: {u.signature})") from None
                coerced.append(cast_to(a, t))
            args = coerced
        consts = [a.value if isinstance(a, Literal) else None for a in args]
        try:
            dtype = u.result_type([a.dtype for a in args], consts)
        except (TypeError, ValueError) as e:
            raise TypeMismatchError(f'Type error in "{_text(node)}"{location(node)}: {e}') from None
        return args, dtype

    def _video_args(self, u, args: list[Expr], node: exp.Expression) -> list[Expr]:
        """``f(frame)`` over consecutive frames as ``f(frame, frame_id, video)``: the frame must
        come straight from a video table, whose frame_id says which frame is its neighbour."""
        a = args[0] if args else None
        src = self.frame_sources.get(a.cid) if isinstance(a, ColumnRef) else None
        if src is None:
            what = f'"{_text(node.expressions[0])}"' if node.expressions else "nothing"
            raise NotSupportedError(
                f'{u.name}() compares each frame with the previous frame of its video, so its '
                f"argument must be the frame column of a video table (read in the same query "
                f"block, with its frame_id); {what} is not{location(node)}")
        return list(args) + [self.frame_lineage[a.cid][1], Literal(src.decode_spec, pa.string())]

    # ---- queries

    def bind_statement(self, node: exp.Expression) -> Node:
        """Bind a whole query, first refusing any construct the binder would not read."""
        from engine.sql.approx_clauses import META_KEY
        clause = node.meta.get(META_KEY) if node.meta else None
        if clause is not None:
            from engine.sql.bind.approx import bind_approx
            return bind_approx(self, node, clause)
        check(node)
        return self.bind_query(node)

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
                self._note_shared_cte(node, cte, name, frame, recursive)
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
            if isinstance(node, exp.Pivot):
                return self.bind_query(self._pivot_query(node, node.this, parent), parent)
            raise NotSupportedError(f"Unsupported query form {type(node).__name__}{location(node)}")
        finally:
            if pushed:
                done = self._ctes.pop()
                for name in done:  # the frame's id may be reused by a later WITH
                    self._cte_keys.pop((id(done), name), None)

    def _note_shared_cte(self, node: exp.Expression, cte: exp.CTE, name: str, frame: dict,
                         recursive: bool) -> None:
        """Give a CTE that the statement names more than once an identity, so each reference
        binds as a CteRef the optimizer may materialise once (engine/plan/ctes.py); NOT
        MATERIALIZED keeps it inlined."""
        if recursive or cte.args.get("materialized") is False:
            return
        refs = sum(1 for t in node.find_all(exp.Table)
                   if t.name.lower() == name and not t.args.get("db") and isinstance(t.this, exp.Identifier))
        if refs >= 2:
            self._cte_keys[(id(frame), name)] = next(_CTE_KEYS)

    def _wrap_order_limit(self, plan: Node, node: exp.Expression) -> Node:
        order = node.args.get("order")
        if order is not None:
            keys = []
            for o in order.expressions:
                ref = self._output_ref(plan, o.this)
                keys.append(sort_key(ref, o))
            plan = Sort(plan, tuple(keys))
        return self._limit(plan, node)

    def _limit(self, plan: Node, node: exp.Expression) -> Node:
        lim = node.args.get("limit")
        off = node.args.get("offset")
        if lim is None and off is None:
            return plan
        offset = _const_int(off, "OFFSET") if off is not None else 0
        opts = lim.args.get("limit_options") if isinstance(lim, exp.Limit) else None
        if opts is not None and opts.args.get("percent"):
            # LIMIT p%: that share of the input's rows (rounded down), counted before OFFSET
            value = lim.expression
            neg = isinstance(value, exp.Neg)
            value = value.this if neg else value
            if not isinstance(value, exp.Literal) or value.is_string:
                raise ProgrammingError(f"LIMIT ... % needs a constant percentage{location(lim)}")
            pct = -float(value.this) if neg else float(value.this)
            if not 0 <= pct <= 100:
                raise DataError(f"LIMIT percentage must be between 0% and 100%, got {pct:g}%{location(lim)}")
            if (offset or 0) < 0:
                raise ProgrammingError("OFFSET must not be negative")
            return Limit(plan, None, offset or 0, percent=pct)
        limit = _const_int(lim, "LIMIT") if lim is not None else None
        if (limit is not None and limit < 0) or (offset or 0) < 0:
            raise ProgrammingError("LIMIT and OFFSET must not be negative")
        return Limit(plan, limit, offset or 0)

    def _output_ref(self, plan: Node, node: exp.Expression) -> ColumnRef:
        cols = plan.columns
        i = position_of(node, "ORDER BY", len(cols))
        if i is not None:
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
        if node.args.get("by_name"):
            left, right = self._align_by_name(left, right, node)
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

    def _pivot_query(self, pivot: exp.Pivot, source: exp.Expression, parent: Scope | None) -> exp.Expression:
        """The SELECT a PIVOT / UNPIVOT over ``source`` stands for (pivot.py)."""
        _, entries = self._bind_table(source.copy(), Scope([], parent))
        return rewrite_pivot(pivot, source, [e.name for e in entries if not e.hidden and not e.pseudo], self.run)

    @staticmethod
    def _align_by_name(left: Node, right: Node, node: exp.Expression) -> tuple[Node, Node]:
        """UNION [ALL] BY NAME: columns matched by name (case-insensitive), the left's first and
        then the right's new ones; a column one side lacks is NULL there."""
        if not isinstance(node, exp.Union):
            raise NotSupportedError(f"BY NAME applies to UNION only{location(node)}")
        names: list[str] = []
        for c in left.columns + right.columns:
            if c.name.lower() not in (n.lower() for n in names):
                names.append(c.name)

        def project(plan: Node) -> Node:
            by = {c.name.lower(): c for c in plan.columns}
            exprs = []
            for n in names:
                src = by.get(n.lower())
                e = src if src is not None else Literal(None, pa.null())
                exprs.append((new_column(n, e.dtype), e))
            return Project(plan, tuple(exprs))
        return project(left), project(right)

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
        b = ExprBinder(self, scope, agg, win, post, aliases or {})
        return b.bind(node)

    def _compare(self, op: str, a: Expr, b: Expr, node) -> Expr:
        return make_call(op, [a, b], node)


    def bind_query_in(self, q: exp.Expression, scope: Scope) -> Node:
        """Bind a subquery whose outer scope is ``scope.parent``; outer references land on scope."""
        return self.bind_query(q, Relay(scope))
