"""Binding FROM clauses: catalog tables, views, CTEs, files, video, table functions and joins.
"""
from __future__ import annotations

import os

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, did_you_mean
from engine.plan.expressions import Call, Expr, Literal, and_all, conjuncts, new_column
from engine.plan.nodes import INCLUSION_PROB, Join, Node, Project, Sample, Scan, Values, WorkTable
from engine.sql.bind.sample import _sample_spec
from engine.sql.bind.scope import Entry, Scope
from engine.sql.bind.unnest import bind_from_unnest
from engine.sql.bind.util import _ident, make_call
from engine.sql.parser import location


def _parenthesised_item(node: exp.Expression) -> bool:
    """Is ``node`` parentheses around a FROM item or join tree (not around a query)?"""
    if not isinstance(node, exp.Subquery):
        return False
    inner = node.this
    if isinstance(inner, exp.Table):
        return True
    return isinstance(inner, exp.Subquery) and (inner.args.get("alias") is not None or bool(inner.args.get("joins"))
                                                 or _parenthesised_item(inner))


def _unnest_qualifier(node: exp.Unnest) -> str:
    alias = node.args.get("alias")
    return (alias.name if alias is not None and alias.name else "unnest").lower()


class FromBinding:
    """The FROM clause: tables, views, CTEs, files, table functions, joins and samples."""

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
        return self._bind_join_tree(frm.this, select.args.get("joins") or [], parent)

    def _bind_join_tree(self, first: exp.Expression, joins: list[exp.Join],
                        parent: Scope | None) -> tuple[Node, Scope]:
        """``first`` joined with each of ``joins`` in turn, left to right."""
        scope = Scope([], parent)
        if isinstance(first, exp.Unnest):
            plan, ref, _ = bind_from_unnest(self, first, scope, None)
            entries = [Entry(_unnest_qualifier(first), ref.name, ref)]
        else:
            plan, entries = self._bind_table(first, scope)
        scope.entries = entries
        for j in joins:
            item = j.this.this if isinstance(j.this, exp.Lateral) and isinstance(j.this.this, exp.Unnest) else j.this
            if isinstance(item, exp.Unnest):
                if j.args.get("on") is not None or j.args.get("using") or j.args.get("side") \
                        or (j.args.get("kind") or "").upper() not in ("", "CROSS", "INNER"):
                    raise NotSupportedError(f"unnest() in FROM joins only as a cross join (a comma){location(j)}")
                uplan, ref, lateral = bind_from_unnest(self, item, scope, plan)
                plan = uplan if lateral else Join(plan, uplan, "cross", None)
                scope.entries = scope.entries + [Entry(_unnest_qualifier(item), ref.name, ref)]
                continue
            if isinstance(j.this, exp.Lateral) and isinstance(j.this.this, exp.Subquery):
                plan = self._bind_lateral(plan, scope, j, parent)
                continue
            rplan, rentries = self._bind_table(j.this, scope)
            side = (j.args.get("side") or "").lower()
            kind = (j.args.get("kind") or "").lower()
            method = str(j.args.get("method") or "").upper()
            if kind not in ("", "inner", "outer", "cross", "semi", "anti"):
                raise NotSupportedError(f"{kind.upper()} JOIN is not supported{location(j)}")
            if method not in ("", "NATURAL", "POSITIONAL", "ASOF"):
                raise NotSupportedError(f"{method} JOIN is not supported{location(j)}")
            jk = {"left": "left", "right": "right", "full": "full"}.get(side, "inner")
            if kind == "cross":
                jk = "cross"
            if kind in ("semi", "anti"):
                jk = kind
            using = j.args.get("using")
            on = j.args.get("on")
            if method == "POSITIONAL":
                if side or kind or using or on is not None:
                    raise NotSupportedError(f"POSITIONAL JOIN takes no join kind or condition{location(j)}")
                plan = Join(plan, rplan, "positional", None)
                scope.entries = scope.entries + rentries
                continue
            if method == "NATURAL":
                common = [e.name for e in rentries if not e.pseudo and
                          any(l.name.lower() == e.name.lower() and not l.pseudo for l in scope.entries)]
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
                    for refs in (lrefs, rrefs):
                        if len(refs) > 1:
                            raise BindError(f'USING column "{n}" is ambiguous: it is in '
                                            + " and ".join(sorted({e.qualifier or "?" for e in refs}))
                                            + f"{location(ident)}")
                    parts.append(self._compare("eq", lrefs[0].ref, rrefs[0].ref, j))
                    for r in rrefs:
                        r.hidden = True
                    merged_using.append((lrefs[0], rrefs[0]))
                cond = and_all(parts)
            elif on is not None:
                jscope = Scope(merged, parent)
                cond = self._predicate(on, jscope)
                scope.outer_refs.extend(r for r in jscope.outer_refs if r not in scope.outer_refs)
            if method == "ASOF":
                plan, jk = self._asof(plan, rplan, jk, using, cond, j)
            if jk == "inner" and cond is None:
                jk = "cross"
            if jk in ("semi", "anti"):
                merged = scope.entries
            if method != "ASOF":
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

    def _asof(self, plan: Node, rplan: Node, jk: str, using, cond: Expr | None, j: exp.Join):
        """ASOF [LEFT] JOIN: equalities and one inequality (the last USING column is l >= r)."""
        from engine.physical.asof_join import split_asof
        if jk not in ("inner", "left"):
            raise NotSupportedError(f"ASOF {jk.upper()} JOIN is not supported; use ASOF JOIN or ASOF LEFT "
                                    f"JOIN{location(j)}")
        if cond is None:
            raise BindError(f"ASOF JOIN needs an ON or USING condition{location(j)}")
        if using:
            parts = conjuncts(cond)
            last = parts[-1]
            parts[-1] = Call("gte", last.args, last.dtype)
            cond = and_all(parts)
        try:
            split_asof(cond, {c.cid for c in plan.columns}, {c.cid for c in rplan.columns})
        except BindError as e:
            raise BindError(f"{e}{location(j)}") from None
        kind = "asof_left" if jk == "left" else "asof"
        return Join(plan, rplan, kind, cond), kind

    def _bind_lateral(self, plan: Node, scope: Scope, j: exp.Join, parent: Scope | None) -> Node:
        """``left [LEFT] JOIN LATERAL (subquery) alias [ON cond]``: the subquery may read the left
        side's columns, so it is a dependent join: computed once per distinct left value and
        joined back on it (the optimizer's general decorrelation, dependent_join.py)."""
        from engine.optimizer.dependent_join import Unsupported, subquery_rows
        from engine.optimizer.subquery_plans import same_values
        lat = j.this
        side = (j.args.get("side") or "").lower()
        kind = (j.args.get("kind") or "").lower()
        if side not in ("", "left") or kind not in ("", "inner", "cross", "outer") or j.args.get("using"):
            raise NotSupportedError(f"{(side or kind).upper()} JOIN LATERAL is not supported; use a comma, "
                                    f"[INNER|CROSS] JOIN or LEFT JOIN{location(j)}")
        sub = lat.this
        alias_node = lat.args.get("alias") or sub.args.get("alias")
        inner = Scope([], scope)
        rplan = self.bind_query_in(sub.this, inner)
        local = {e.ref.cid for e in scope.entries}
        dcols = [r for r in inner.outer_refs if r.cid in local]
        scope.outer_refs.extend(r for r in inner.outer_refs if r.cid not in local and r not in scope.outer_refs)
        cols = rplan.columns
        try:
            rows, m = subquery_rows(plan, rplan, dcols)
        except Unsupported as e:
            raise NotSupportedError(f"This LATERAL subquery cannot be decorrelated ({e}){location(j)}") from None
        qual = alias_node.name if alias_node is not None and alias_node.name else "lateral"
        col_aliases = [_ident(c) for c in alias_node.columns] if alias_node is not None and alias_node.args.get("columns") else []
        if col_aliases:
            if len(col_aliases) > len(cols):
                raise BindError(f'"{qual}" has {len(cols)} columns but {len(col_aliases)} aliases were given')
            renamed = tuple(new_column(col_aliases[i] if i < len(col_aliases) else c.name, c.dtype)
                            for i, c in enumerate(cols))
            rows = Project(rows, tuple(zip(renamed, cols)) + tuple((x, x) for x in m))
            cols = renamed
        entries = [Entry(qual.lower(), c.name, c) for c in cols]
        conds = same_values(list(dcols), list(m))
        on = j.args.get("on")
        if on is not None:
            jscope = Scope(scope.entries + entries, parent)
            conds.append(self._predicate(on, jscope))
            scope.outer_refs.extend(r for r in jscope.outer_refs if r not in scope.outer_refs)
        joined = Join(plan, rows, "left" if side == "left" else ("inner" if conds else "cross"), and_all(conds))
        scope.entries = scope.entries + entries
        return Project(joined, tuple((c, c) for c in plan.columns) + tuple((c, c) for c in cols))

    def _bind_table(self, node: exp.Expression, scope: Scope) -> tuple[Node, list[Entry]]:
        sample = node.args.get("sample")
        plan, entries = self._bind_from_item(node, scope)
        if sample is None:
            return plan, entries
        if not isinstance(plan, Scan):
            raise NotSupportedError(f"TABLESAMPLE applies to a table, a file or video(...), not to a "
                                    f"view, CTE or subquery{location(node)}")
        # the sample's inclusion probability: a pseudo column of this FROM item, read only by name
        prob = new_column(INCLUSION_PROB, pa.float64())
        qual = entries[0].qualifier if entries else None
        return Sample(plan, _sample_spec(sample), prob), entries + [Entry(qual, INCLUSION_PROB, prob, pseudo=True)]

    def _bind_from_item(self, node: exp.Expression, scope: Scope) -> tuple[Node, list[Entry]]:
        pivots = node.args.get("pivots")
        if pivots:  # t PIVOT (...) / t UNPIVOT (...): the SELECT it stands for, as a derived table
            if len(pivots) > 1:
                raise NotSupportedError(f"Several PIVOT/UNPIVOT clauses on one table are not supported{location(node)}")
            source = node.copy()
            source.set("pivots", None)
            pivot = pivots[0]
            palias = pivot.args.get("alias")
            query = self._pivot_query(pivot, source, scope.parent)
            plan = self.bind_query(query, scope.parent)
            qual = palias.name if palias is not None and palias.name else \
                (node.alias_or_name if isinstance(node, exp.Table) else "pivot")
            cols = [_ident(c) for c in palias.columns] if palias is not None and palias.args.get("columns") else []
            return self._entries_for(plan, qual, cols)
        alias_node = node.args.get("alias")
        alias = alias_node.name if alias_node is not None and alias_node.name else None
        col_aliases = [_ident(c) for c in alias_node.columns] if alias_node is not None and alias_node.args.get("columns") else []
        if node.args.get("joins"):
            # X JOIN ... inside parentheses: sqlglot hangs the joins on the first item
            inner = node.copy()
            joins = inner.args.pop("joins")
            plan, jscope = self._bind_join_tree(inner, joins, scope.parent)
            scope.outer_refs.extend(r for r in jscope.outer_refs if r not in scope.outer_refs)
            return plan, jscope.entries
        if _parenthesised_item(node):
            # FROM (a JOIN b ON ...) [AS alias] or FROM ((SELECT ...) AS s): a FROM item or join
            # tree in parentheses, its tables reachable by their own names unless aliased here
            plan, entries = self._bind_table(node.this, scope)
            if alias is None and not col_aliases:
                return plan, entries
            visible = [e for e in entries if not e.hidden and not e.pseudo]
            plan = Project(plan, tuple((e.ref, e.ref) for e in visible))
            return self._entries_for(plan, alias or "subquery", col_aliases)
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
                    shared = self._cte_keys.get(key)
                    if shared is not None:
                        from engine.plan.ctes import CteRef
                        plan = CteRef(plan, shared, name)
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
            self.frame_sources[by["frame"].cid] = source
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
