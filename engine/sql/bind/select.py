"""Binding one SELECT block: the select list (with ``*``), WHERE, GROUP BY (ALL), HAVING, window
functions, QUALIFY, DISTINCT, ORDER BY (ALL) and LIMIT.
"""
from __future__ import annotations

from sqlglot import exp

from engine.errors import BindError, NotSupportedError, did_you_mean
from engine.plan import functions as F
from engine.optimizer.subquery_plans import refuse_outer_aggregate, rename_in
from engine.plan.expressions import ColumnRef, Expr, SortKey, SubqueryExpr, new_column
from engine.plan.nodes import Aggregate, Distinct, Filter, Node, Project, Sort, Window
from engine.sql.bind.aggregates import _AGG_CLASS, _AGGS, _AggContext
from engine.sql.bind.scope import Scope
from engine.sql.bind.util import _ident, _is_all, sort_key
from engine.sql.bind.windows import _WindowContext
from engine.sql.parser import location


class SelectBinding:
    """One SELECT block: select list, WHERE, GROUP BY, HAVING, windows, QUALIFY, ORDER BY, LIMIT."""

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
