"""Binding one SELECT block: the select list (with ``*``), WHERE, GROUP BY (ALL), HAVING, window
functions, QUALIFY, DISTINCT, ORDER BY (ALL) and LIMIT.
"""
from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError
from engine.plan import functions as F
from engine.optimizer.subquery_plans import refuse_outer_aggregate, rename_in
from engine.plan.expressions import (Call, ColumnRef, Expr, Literal, SortKey, SubqueryExpr, WindowCall,
                                     new_column)
from engine.plan.nodes import Distinct, Filter, Node, Project, Sort, Unnest, Window
from engine.sql.bind.aggregates import _AGG_CLASS, _AGGS, _AggContext
from engine.sql.bind.grouping import expand as expand_grouping
from engine.sql.bind.grouping import plan_grouping
from engine.sql.bind.names import duckdb_name
from engine.sql.bind.scope import Scope
from engine.sql.bind.star import expand_select_list
from engine.sql.bind.util import _is_all, position_of, sort_key
from engine.sql.bind.weak import WEAK_FUNCTIONS, summary_query
from engine.sql.bind.windows import _WindowContext
from engine.sql.parser import location


class SelectBinding:
    """One SELECT block: select list, WHERE, GROUP BY, HAVING, windows, QUALIFY, ORDER BY, LIMIT."""

    def _bind_select(self, sel: exp.Select, parent: Scope | None) -> Node:
        summary = summary_query(sel)  # SELECT LF_SUMMARY(...): one row per labeling function
        if summary is not None:
            return self._bind_select(summary, parent)
        saved_unnest = getattr(self, "_unnest_lists", None)
        self._unnest_lists = None  # unnest() belongs to this SELECT's list only (see unnest.py)
        try:
            return self._bind_select_block(sel, parent)
        finally:
            self._unnest_lists = saved_unnest

    def _bind_select_block(self, sel: exp.Select, parent: Scope | None) -> Node:
        plan, scope = self._bind_from(sel, parent)
        where = sel.args.get("where")
        if where is not None:
            pred = self._predicate(where.this, scope, allow_agg=False)
            plan = Filter(plan, pred)

        # select list items: (name, ast), with *, EXCLUDE, REPLACE and COLUMNS(...) expanded
        items = expand_select_list(sel.expressions, scope, self._display_name)

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

        def bind_group(g: exp.Expression) -> Expr:
            i = position_of(g, "GROUP BY", len(items))
            if i is not None:
                src = items[i - 1][1]
                return src if isinstance(src, ColumnRef) else self.bind_expr(src, scope)
            if isinstance(g, exp.Column) and not g.table and g.name.lower() in aliases \
                    and not scope.lookup(g.name, None):
                return self.bind_expr(aliases[g.name.lower()], scope)
            return self.bind_expr(g, scope)

        groups: list[tuple[ColumnRef, Expr]] = []
        grouping_sets = None
        if has_agg:
            keys, grouping_sets = expand_grouping(group_exprs, bind_group)
            for ge in keys:
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

        self._unnest_lists = []
        try:
            bound = [(n, bind_out(a)) for n, a in items]
        finally:
            unnests, self._unnest_lists = self._unnest_lists, None

        having_pred = None
        if having is not None:
            having_pred = post(self.bind_expr(having.this, scope, aggctx, None, post=post,
                                              aliases={n.lower(): e for n, e in bound}), having.this)
            self._check_bool(having_pred, having.this, "HAVING")

        def resolve_key(t: exp.Expression, what: str) -> Expr:
            """An ORDER BY / DISTINCT ON key: a select position or alias first, then any expression."""
            i = position_of(t, what, len(bound))
            if i is not None:
                return bound[i - 1][1]
            if isinstance(t, exp.Column) and not t.table:
                hits = [e for n, e in bound if n.lower() == t.name.lower()]
                if hits and (len(hits) == 1 or all(h == hits[0] for h in hits)):
                    return hits[0]
            e = self.bind_expr(t, scope, aggctx if has_agg else None, winctx, post=post if has_agg else None,
                               aliases={n.lower(): e for n, e in bound})
            return post(e, t)

        order_keys: list[tuple[Expr, exp.Ordered]] = []
        if order is not None:
            for o in order.expressions:
                order_keys.append((resolve_key(o.this, "ORDER BY"), o))
        distinct_node = sel.args.get("distinct")
        on = distinct_node.args.get("on") if distinct_node is not None else None
        on_keys: list[Expr] = []
        if on is not None:
            for t in (on.expressions if isinstance(on, exp.Tuple) else [on]):
                on_keys.append(resolve_key(t, "DISTINCT ON"))

        if has_agg:
            plan = plan_grouping(plan, groups, grouping_sets, aggctx.aggs, aggctx.groupings)
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

        if unnests:
            plan = Unnest(plan, tuple(unnests))
        if on_keys:
            # DISTINCT ON (keys): the first row of each key group in ORDER BY order, as DuckDB
            rn = new_column("__row_number", pa.int64())
            call = WindowCall("row_number", (), tuple(on_keys),
                              tuple(sort_key(e, o) for e, o in order_keys), None, pa.int64())
            plan = Window(plan, ((rn, call),))
            plan = Filter(plan, Call("eq", (rn, Literal(1, pa.int64())), pa.bool_()))
        outs = tuple((new_column(n, e.dtype), e) for n, e in bound)
        distinct = distinct_node is not None and not on_keys

        # hidden sort columns for keys that are not output columns
        out_by_expr = {}
        for c, e in outs:
            out_by_expr.setdefault(e, c)
        extra: list[tuple[ColumnRef, Expr]] = []
        sort_keys: list[SortKey] = []
        for e, o in order_keys:
            if e in out_by_expr:
                sort_keys.append(sort_key(out_by_expr[e], o))
                continue
            if distinct:
                raise BindError(f'ORDER BY term "{o.this.sql()}" must appear in the select list '
                                f"of a SELECT DISTINCT{location(o.this)}")
            c = new_column("__sort", e.dtype)
            extra.append((c, e))
            sort_keys.append(sort_key(c, o))
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
        """An unaliased select item's column name: DuckDB's (names.py)."""
        return duckdb_name(e)

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
        if name.lower() in WEAK_FUNCTIONS:
            return "aggregate"
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

        # a subquery reads a grouped column of this query as the group key's output
        key_cols = {g.cid: c for g, c in gmap.items() if isinstance(g, ColumnRef)}

        def rewrite(x: Expr) -> Expr:
            if x in gmap:
                return gmap[x]
            if isinstance(x, SubqueryExpr):
                arg = rewrite(x.arg) if x.arg is not None else None
                if arg is not x.arg:
                    x = SubqueryExpr(x.kind, x.plan, x.dtype, arg, x.negated, x.outer)
                return rename_in(x, key_cols)
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
            if isinstance(x, SubqueryExpr):
                bad = [o for o in x.outer if o.cid not in allowed and o.cid in local_ids]
                if bad:
                    refuse_outer_aggregate(x.plan, {o.cid for o in x.outer})
                    x = bad[0]
            if isinstance(x, ColumnRef) and x.cid not in allowed and x.cid in local_ids:
                where = location(node) if node is not None else ""
                raise BindError(f'Column "{x.name}" must appear in the GROUP BY clause or be used in '
                                f"an aggregate function{where}")
        return out

    # ---- expressions
