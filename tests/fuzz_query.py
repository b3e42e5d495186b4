"""The fuzzers' query generator, part 2: FROM clauses, subqueries, window functions and whole
queries (SELECT, set operations, CTEs), and the cases of the two reference-free oracles.

The feature switches are documented in tests/fuzz_gen.py (part 1: expressions). ``Gen.query()``
is a query for the differential oracle; ``Gen.tlp_case()`` and ``Gen.norec_case()`` build the
statements of ternary logic partitioning and NoREC (tests/fuzz_oracles.py checks them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fuzz_gen import _INT_CONST, Ctx, ExprGen, Query


@dataclass
class TlpCase:
    """Ternary logic partitioning: ``whole`` and ``parts`` return the same multiset."""
    mode: str   # where | distinct | aggregate | group_by | having
    whole: str
    parts: str
    pred: str


@dataclass
class NorecCase:
    """NoREC: ``filtered`` (count(*) ... WHERE p) equals ``unfiltered`` (sum(CASE WHEN p ...))."""
    filtered: str
    unfiltered: str
    pred: str


_COLUMN = re.compile(r"a\d+\.\w+")
# aggregates that TLP can re-aggregate over the partitions: (call template, combining function)
_TLP_AGGS = [("count(*)", "sum"), ("count({e})", "sum"), ("sum({e})", "sum"), ("min({e})", "min"),
             ("max({e})", "max")]


class Gen(ExprGen):
    # -- FROM
    def table_ref(self, depth: int) -> tuple[str, list[tuple[str, str]], int]:
        """A FROM item: (sql, columns as (qualified sql, kind), row bound)."""
        a = self.alias("a")
        if depth > 0 and self.chance(0.15):
            q = self.select(depth - 1, top=self.chance(0.3))
            cols = [(f"{a}.c{j}", k) for j, k in enumerate(q.kinds)]
            return f"({q.sql}) AS {a}", cols, 200 * 200
        if self.fn_on("unnest", "fn_list") and self.chance(0.02):
            vals = ", ".join(self.literal("i") for _ in range(self.rng.randint(1, 4)))
            return f"(SELECT unnest([{vals}]) AS c0) AS {a}", [(f"{a}.c0", "i")], 5
        t = self.pick(self.tables)
        return f"{t.name} AS {a}", [(f"{a}.{n}", k) for n, k, _ in t.cols], t.rows

    def paren_group(self, depth: int) -> tuple[str, list[tuple[str, str]], int]:
        """``(a CROSS JOIN b)`` or ``(a JOIN b ON ...)`` as one FROM item."""
        lsql, lcols, lrows = self.table_ref(0)
        rsql, rcols, rrows = self.table_ref(0)
        if lrows * rrows <= 40_000 and self.chance(0.5):
            return f"({lsql} CROSS JOIN {rsql})", lcols + rcols, lrows * max(rrows, 1)
        cond, _ = self.join_cond(lcols, rcols, True)
        kind = self.pick(["JOIN", "LEFT JOIN", "FULL JOIN"])
        return f"({lsql} {kind} {rsql} ON {cond})", lcols + rcols, max(lrows, rrows) * 8

    def from_clause(self, depth: int) -> tuple[str, list[tuple[str, str]], bool]:
        if self.on("paren_join") and self.chance(0.05):
            sql, cols, rows = self.paren_group(depth)
        else:
            sql, cols, rows = self.table_ref(depth)
        using = False
        n_joins = self.pick([0, 0, 0, 1, 1, 1, 2])
        nonequi_used = False
        for j in range(n_joins):
            first = j == 0
            if self.on("paren_join") and self.chance(0.05):
                rsql, rcols, rrows = self.paren_group(depth)
            else:
                rsql, rcols, rrows = self.table_ref(depth)
            kind = self.pick(["JOIN", "INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN",
                              "LEFT OUTER JOIN", "FULL OUTER JOIN", "CROSS JOIN"])
            big = rows * rrows > 40_000 or nonequi_used
            if kind == "CROSS JOIN" and big:
                kind = "JOIN"
            if kind == "CROSS JOIN":
                sql = f"{sql} CROSS JOIN {rsql}"
                nonequi_used = True
                rows *= max(rrows, 1)
            elif first and self.chance(0.15) and self.using_cols(cols, rcols):
                names = self.using_cols(cols, rcols)
                picked = self.rng.sample(names, self.rng.randint(1, min(2, len(names))))
                sql = f"{sql} {kind} {rsql} USING ({', '.join(picked)})"
                rows = max(rows, rrows) * 8
                using = True
            else:
                cond, equi = self.join_cond(cols, rcols, big)
                nonequi_used |= not equi
                sql = f"{sql} {kind} {rsql} ON {cond}"
                rows = rows * max(rrows, 1) if not equi else max(rows, rrows) * 8
            cols = cols + rcols
            if self.on("paren_join") and j == 0 and n_joins > 1 and self.chance(0.1):
                sql = f"({sql})"
        return sql, cols, using

    @staticmethod
    def using_cols(lcols, rcols) -> list[str]:
        """Column names both sides share with one kind (USING needs comparable keys); USING of a
        name that occurs twice on the left (after a parenthesised join) is ambiguous."""
        lnames = [c.split(".")[1] for c, _ in lcols]
        rnames = [c.split(".")[1] for c, _ in rcols]
        lk = {c.split(".")[1]: k for c, k in lcols}
        return [c.split(".")[1] for c, k in rcols
                if lk.get(c.split(".")[1]) == k and k in ("i", "s", "d")
                and lnames.count(c.split(".")[1]) == 1 and rnames.count(c.split(".")[1]) == 1]

    def join_cond(self, lcols, rcols, need_equi: bool) -> tuple[str, bool]:
        pairs = [(l, r) for l, lk in lcols for r, rk in rcols if lk == rk and lk in ("i", "s", "d")]
        both = Ctx(lcols + rcols)
        if pairs and (need_equi or self.chance(0.75)):
            l, r = self.pick(pairs)
            cond = f"{l} = {r}"
            if self.chance(0.3):
                l2, r2 = self.pick(pairs)
                cond += f" AND {l2} = {r2}"
            if self.chance(0.3):
                cond += f" AND {self.pred(both, 1)}"
            elif self.on("correlated") and self.chance(0.15):
                cond += f" AND {self.subquery_pred(both)}"
            return cond, True
        if need_equi:
            return "FALSE" if self.chance(0.1) else f"{self.pred(Ctx(rcols), 0)}", True
        r = self.rng.random()
        if r < 0.5:
            k = self.pick(["i", "f", "s", "d"])
            lc, rc = [c for c, kk in lcols if kk == k], [c for c, kk in rcols if kk == k]
            if lc and rc:
                return f"{self.pick(lc)} {self.pick(['<', '<=', '>', '<>'])} {self.pick(rc)}", False
        if r < 0.75 and pairs:
            (l, r1), (l2, r2) = self.pick(pairs), self.pick(pairs)
            return f"({l} = {r1} OR {l2} = {r2})", False
        return self.pred(both, 1), False

    # -- subqueries
    def correlation(self, icols, ctx: Ctx) -> list[str]:
        conds = []
        if self.chance(0.6):  # correlate on a shared kind
            pairs = [(ic, oc) for ic, ik in icols for oc, ok in ctx.cols if ik == ok and ik in ("i", "s")]
            if pairs:
                ic, oc = self.pick(pairs)
                conds.append(f"{ic} {self.pick(['=', '=', '=', '<', '<>'])} {oc}")
        if self.chance(0.6):
            conds.append(self.pred(Ctx(icols, outer=ctx if self.on("correlated") else None), 1))
        return conds

    def subquery_pred(self, ctx: Ctx) -> str:
        t = self.pick(self.tables)
        a = self.alias("q")
        icols = [(f"{a}.{n}", k) for n, k, _ in t.cols]
        conds = self.correlation(icols, ctx)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        r = self.rng.random()
        if r < 0.4:
            k = self.pick(["i", "s", "f", "d"])
            e = self.expr(k, Ctx(icols), 1)
            body = f"SELECT {e} FROM {t.name} AS {a}{where}"
            if self.on("correlated") and self.chance(0.3):
                body = self.subquery_variant(body, e, k, ctx)
            return f"({self.expr(k, ctx, 1)} {self.pick(['IN', 'NOT IN'])} ({body}))"
        if r < 0.7:
            body = f"SELECT {self.pick(['1', '*'])} FROM {t.name} AS {a}{where}"
            if self.on("correlated") and self.chance(0.3):
                body += self.pick([" LIMIT 1", " LIMIT 0", " OFFSET 1"])
            return f"({self.pick(['', 'NOT '])}EXISTS ({body}))"
        k = self.pick(["i", "f", "s"])
        agg = self.agg_call(k, Ctx(icols))
        return f"({self.expr(k, ctx, 1)} {self.pick(['=', '<', '>=', '<>'])} (SELECT {agg} FROM {t.name} AS {a}{where}))"

    def subquery_variant(self, body: str, e: str, k: str, ctx: Ctx) -> str:
        """A subquery's body with a UNION of a second correlated branch, or ORDER BY ... LIMIT
        (ordered by the selected value, so the rows kept are determined)."""
        if self.chance(0.5) or "." not in e:  # (DuckDB refuses ORDER BY a constant)
            t = self.pick(self.tables)
            a = self.alias("q")
            icols = [(f"{a}.{n}", kk) for n, kk, _ in t.cols]
            conds = self.correlation(icols, ctx)
            where = f" WHERE {' AND '.join(conds)}" if conds else ""
            op = self.pick(["UNION", "UNION ALL", "EXCEPT", "INTERSECT"])
            return f"{body} {op} SELECT {self.expr(k, Ctx(icols), 1)} FROM {t.name} AS {a}{where}"
        return f"{body} ORDER BY {e}{self.pick(['', ' DESC', ' NULLS FIRST'])} LIMIT {self.rng.randint(0, 3)}"

    def scalar_subquery(self, ctx: Ctx) -> tuple[str, str]:
        t = self.pick(self.tables)
        a = self.alias("q")
        icols = [(f"{a}.{n}", k) for n, k, _ in t.cols]
        conds = []
        pairs = [(ic, oc) for ic, ik in icols for oc, ok in ctx.cols if ik == ok and ik in ("i", "s")]
        if pairs and self.chance(0.7):
            ic, oc = self.pick(pairs)
            conds.append(f"{ic} = {oc}")
        if self.chance(0.4):
            conds.append(self.pred(Ctx(icols, outer=ctx if self.on("correlated") else None), 1))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        k = self.pick(["i", "i", "f", "s"])
        if self.on("correlated") and self.chance(0.25):
            # the first value in a total order of one column: determined whatever the ties
            e = self.expr(k, Ctx(icols), 0)
            order = f"{e}{self.pick(['', ' DESC', ' NULLS FIRST', ' DESC NULLS LAST'])}"
            return f"(SELECT {e} FROM {t.name} AS {a}{where} ORDER BY {order} LIMIT 1)", k
        return f"(SELECT {self.agg_call(k, Ctx(icols))} FROM {t.name} AS {a}{where})", k

    # -- window functions
    def window(self, ctx: Ctx, row_dependent: bool = True) -> tuple[str, str]:
        """A window call; ``row_dependent=False`` avoids row_number, lag/lead and ROWS frames,
        whose values for tied identical rows are arbitrary: one per select list is unambiguous
        (identical rows stay interchangeable), two pair their arbitrary choices differently."""
        cols = [c for c, _ in ctx.cols]
        part = ""
        if self.chance(0.7):
            keys = [c for c, k in ctx.cols if k in ("i", "s", "b", "d")]
            if keys:
                part = "PARTITION BY " + ", ".join(self.rng.sample(keys, min(len(keys), self.rng.randint(1, 2))))
        okind = self.pick(["i", "s", "f", "d"])
        okey = self.expr(okind, ctx, 1)
        direction = f"{self.pick(['', ' ASC', ' DESC'])}{self.pick(['', '', ' NULLS FIRST', ' NULLS LAST'])}"
        peer_order = f"ORDER BY {okey}{direction}"
        total_order = peer_order + "".join(f", {c}" for c in cols) + ctx.tiebreak
        r = self.rng.random()
        if not row_dependent:
            r = 0.15 + 0.2 * r if r < 0.5 else r
        if r < 0.15:
            return f"row_number() OVER ({part} {total_order})", "i"
        if r < 0.35:
            return f"{self.pick(['rank', 'dense_rank'])}() OVER ({part} {peer_order})", "i"
        if r < 0.5:
            k = self.pick(["i", "s", "f", "d"])
            fn = self.pick(["lag", "lead"])
            args = self.expr(k, ctx, 1)
            if self.chance(0.5):
                args += f", {self.rng.randint(1, 2)}"
                if self.chance(0.5):
                    args += f", {self.literal(k)}"
            return f"{fn}({args}) OVER ({part} {total_order})", k
        k = self.pick(["i", "f", "m"])
        fn, kind = self.pick([("sum", k if k != "i" else "i"), ("avg", "f"), ("count", "i"),
                              ("min", k), ("max", k), ("count(*)", "i")])
        call = "count(*)" if fn == "count(*)" else f"{fn}({self.expr(k, ctx, 1)})"
        s = self.rng.random()
        if not row_dependent:
            s *= 0.75
        if s < 0.35:
            over = part
        elif s < 0.75:
            over = f"{part} {peer_order}"
        else:
            frame = self.pick(["ROWS BETWEEN 1 PRECEDING AND CURRENT ROW",
                               "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                               "ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING",
                               "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"])
            over = f"{part} {total_order} {frame}"
        return f"{call} OVER ({over})", kind

    # -- SELECT
    def star_select(self, cols) -> tuple[str, list[str]] | None:
        """``*`` with EXCLUDE / REPLACE, or ``alias.* EXCLUDE``: (select list, output kinds)."""
        aliases: dict[str, list[tuple[str, str]]] = {}
        for c, k in cols:
            aliases.setdefault(c.split(".")[0], []).append((c.split(".")[1], k))
        names = [c.split(".")[1] for c, _ in cols]
        r = self.rng.random()
        if r < 0.4 and len(set(names)) == len(names) and len(names) > 1:
            drop = set(self.rng.sample(names, self.rng.randint(1, len(names) - 1)))
            return (f"* EXCLUDE ({', '.join(sorted(drop))})",
                    [k for c, k in cols if c.split(".")[1] not in drop])
        if r < 0.7 and len(set(names)) == len(names):
            c, k = self.pick(cols)
            e = self.expr(k, Ctx(cols), 1)
            return f"* REPLACE ({e} AS {c.split('.')[1]})", [kk for _, kk in cols]
        a = self.pick(sorted(aliases))
        acols = aliases[a]
        if len(acols) < 2:
            return None
        drop = set(self.rng.sample([n for n, _ in acols], self.rng.randint(1, len(acols) - 1)))
        kinds = [k for n, k in acols if n not in drop]
        extra = ""
        if self.chance(0.5):
            c, k = self.pick(cols)
            extra, kinds = f", {c}", kinds + [k]
        return f"{a}.* EXCLUDE ({', '.join(sorted(drop))}){extra}", kinds

    def select(self, depth: int = 1, kinds: list[str] | None = None, top: bool = True,
               star: bool = False) -> Query:
        from_sql, cols, using = self.from_clause(depth)
        ctx = Ctx(cols)
        where = f" WHERE {self.pred(ctx)}" if self.chance(0.6) else ""
        form = self.pick(["plain", "plain", "agg", "agg", "window"])
        if kinds is not None and form == "window":
            form = "plain"
        distinct = ""
        group = having = qualify = ""
        items: list[tuple[str, str]] = []
        order_ctx = ctx
        star_list = None
        if form != "agg" and star and not using and self.on("exclude_replace") and self.chance(0.08):
            star_list = self.star_select(cols)
        if form == "agg":
            gctx, items, group, having = self.aggregate(ctx, kinds)
            order_ctx = gctx
            if kinds is None and self.chance(0.15):  # window functions over the groups
                items.append(self.window(gctx))
        elif star and not using and self.chance(0.05):  # outermost only: * keeps table column names
            sql = f"SELECT * FROM {from_sql}{where}"
            out_kinds = [k for _, k in cols]
            if not top:
                return Query(sql, out_kinds)
            return self.order_limit(sql, out_kinds, allow_expr=True, ctx=ctx, by_position=True)
        elif star_list is not None:
            sql = f"SELECT {star_list[0]} FROM {from_sql}{where}"
            return self.order_limit(sql, star_list[1], allow_expr=True, ctx=ctx, by_position=True)
        else:
            want = kinds or [self.pick(self.out_kinds) for _ in range(self.rng.randint(1, 4))]
            for k in want:
                if form == "plain" and top and self.chance(0.08):
                    items.append(self.scalar_subquery_of(ctx, k))
                else:
                    items.append((self.expr(k, ctx), k))
            if form == "window":
                for j in range(self.rng.randint(1, 2)):
                    items.append(self.window(ctx, row_dependent=j == 0))
                if self.on("qualify") and top and self.chance(0.3):
                    call, wk = self.window(ctx, row_dependent=False)
                    cond = f"{call} {self.pick(['<=', '>', '='])} {self.rng.randint(1, 3)}" \
                        if wk == "i" else f"{call} IS NOT NULL"
                    qualify = f" QUALIFY {cond}"
            elif self.on("distinct_on") and top and kinds is None and self.chance(0.1):
                keys = [self.expr(self.pick(["i", "s", "b", "d"]), ctx, 1) for _ in range(self.rng.randint(1, 2))]
                keys = [e for e in keys if not _INT_CONST.fullmatch(e)] or [cols[0][0]]
                select_list = ", ".join(f"{e} AS c{j}" for j, (e, _) in enumerate(items))
                order = ", ".join(keys + [str(j + 1) for j in range(len(items))])
                sql = (f"SELECT DISTINCT ON ({', '.join(keys)}) {select_list} FROM {from_sql}{where} "
                       f"ORDER BY {order}")
                return Query(sql, [k for _, k in items])
            if self.chance(0.15):
                distinct = "DISTINCT "
        select_list = ", ".join(f"{e} AS c{j}" for j, (e, _) in enumerate(items))
        sql = f"SELECT {distinct}{select_list} FROM {from_sql}{where}{group}{having}{qualify}"
        out_kinds = [k for _, k in items]
        if not top:
            return Query(sql, out_kinds)
        return self.order_limit(sql, out_kinds, allow_expr=not distinct, ctx=order_ctx)

    def scalar_subquery_of(self, ctx: Ctx, k: str) -> tuple[str, str]:
        sub, sk = self.scalar_subquery(ctx)
        if sk == k:
            return sub, k
        return self.expr(k, ctx), k

    def group_keys_of(self, ctx: Ctx, n: int) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for _ in range(n):
            k = self.pick(["i", "i", "s", "s", "b", "d", "f", "m"])
            e = self.expr(k, ctx, self.pick([0, 0, 1]))
            if _INT_CONST.fullmatch(e):  # DuckDB reads GROUP BY <integer> as a position
                e = self.pick(ctx.of(k)) if ctx.of(k) else f"{e} + 0"
            if e not in [x for x, _ in keys]:
                keys.append((e, k))
        return keys

    def aggregate(self, ctx: Ctx, kinds):
        keys: list[tuple[str, str]] = []
        if kinds is None or self.chance(0.5):
            keys = self.group_keys_of(ctx, self.pick([0, 1, 1, 2, 2, 3]) if kinds is None
                                      else self.rng.randint(1, 2))
        gctx = Ctx(keys, inner=ctx)
        # keys a correlated subquery may name (DuckDB matches a grouped column, not an expression)
        plain_keys = [kk for kk in keys if _COLUMN.fullmatch(kk[0])]
        items: list[tuple[str, str]] = []
        # grouping sets of column expressions (DuckDB binds constants in them oddly)
        sets = self.on("grouping_sets") and keys and all("." in e for e, _ in keys) and self.chance(0.2)
        if sets:
            gctx.tiebreak = f", grouping({', '.join(e for e, _ in keys)})"
        # mode/any_value only of a key, one value per group (a tie picks any row, and DuckDB's
        # pick depends on its threads); under grouping sets a key is not one in every set
        saved, self.group_keys = getattr(self, "group_keys", None), (ctx, [] if sets else keys)
        if kinds is None:
            key_items = [kk for kk in keys if self.chance(0.8)]
            items.extend(key_items)
            for _ in range(self.rng.randint(1, 3)):
                k = self.pick(["i", "i", "f", "m", "s", "d", "b"] + self.out_kinds[8:])
                items.append((self.expr(k, gctx, 1), k))
            if sets and self.chance(0.5):
                items.append((f"grouping({', '.join(e for e, _ in self.rng.sample(keys, 1))})", "i"))
            if self.on("correlated") and plain_keys and self.chance(0.1):
                items.append(self.scalar_subquery_of(Ctx(plain_keys), self.pick(["i", "f", "s"])))
            self.rng.shuffle(items)
        else:
            for k in kinds:
                items.append((self.expr(k, gctx, 1), k))
        group = ""
        if keys:
            style = self.rng.random()
            if sets:
                exprs = [e for e, _ in keys]
                shape = self.pick(["rollup", "cube", "sets"])
                if shape == "sets":
                    subsets = [self.rng.sample(exprs, self.rng.randint(0, len(exprs))) for _ in range(self.rng.randint(1, 3))]
                    group = " GROUP BY GROUPING SETS (" + ", ".join(f"({', '.join(s)})" for s in subsets) + ")"
                else:
                    group = f" GROUP BY {shape.upper()} ({', '.join(exprs)})"
            elif style < 0.2 and all(kk in items for kk in keys):
                group = " GROUP BY " + ", ".join(str(items.index(kk) + 1) for kk in keys)
            else:
                group = " GROUP BY " + ", ".join(e for e, _ in keys)
        having = ""
        if self.chance(0.3):
            if self.on("correlated") and plain_keys and self.chance(0.2):
                having = f" HAVING {self.subquery_pred(Ctx(plain_keys))}"
            else:
                having = f" HAVING {self.pred(gctx, 1)}"
        self.group_keys = saved
        return gctx, items, group, having

    def order_limit(self, sql: str, kinds: list[str], allow_expr: bool, ctx: Ctx,
                    by_position: bool = False) -> Query:
        r = self.rng.random()
        n = len(kinds)

        def term(pos: int) -> tuple[str, bool, bool]:
            desc = self.chance(0.4)
            nulls = self.pick(["", "", " NULLS FIRST", " NULLS LAST"])
            nulls_first = nulls == " NULLS FIRST"
            ref = str(pos + 1) if by_position or self.chance(0.6) else f"c{pos}"
            return f"{ref}{' DESC' if desc else ''}{nulls}", desc, nulls_first

        if r < 0.35:  # total order over every output column, maybe LIMIT/OFFSET
            positions = list(range(n))
            self.rng.shuffle(positions)
            terms = [term(p) for p in positions]
            sql += " ORDER BY " + ", ".join(t for t, _, _ in terms)
            if self.chance(0.6):
                sql += f" LIMIT {self.rng.randint(0, 12)}"
                if self.chance(0.4):
                    sql += f" OFFSET {self.rng.randint(0, 5)}"
            return Query(sql, kinds, ordered=True)
        if r < 0.5:  # partial order: rows compared as a multiset, Dawn's order checked
            positions = self.rng.sample(range(n), self.rng.randint(1, n))
            terms = [term(p) for p in positions]
            sql += " ORDER BY " + ", ".join(t for t, _, _ in terms)
            spec = [(p, d, nf) for p, (_, d, nf) in zip(positions, terms)]
            return Query(sql, kinds, order_spec=spec)
        if r < 0.55 and allow_expr:  # ORDER BY an expression that is not an output column
            e = self.expr(self.pick(['i', 's']), ctx, 1)
            # a column or an aggregate, not a constant (DuckDB rejects those) or a position
            if ("." in e or "(" in e) and not _INT_CONST.fullmatch(e) and not e.startswith(("CAST(", "NULL")):
                sql += f" ORDER BY {e}"
        return Query(sql, kinds)

    def set_op(self) -> Query:
        kinds = [self.pick(["i", "i", "s", "s", "f", "d", "b", "m"]) for _ in range(self.rng.randint(1, 3))]
        left = self.select(1, kinds, top=False)
        right = self.select(1, kinds, top=False)
        op = self.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "UNION", "UNION ALL",
                        "INTERSECT ALL", "EXCEPT ALL"])
        if self.chance(0.3):
            third = self.select(1, kinds, top=False)
            op2 = self.pick(["UNION", "UNION ALL", "EXCEPT", "INTERSECT"])
            sql = f"({left.sql}) {op} ({right.sql}) {op2} ({third.sql})"
        else:
            sql = f"({left.sql}) {op} ({right.sql})"
        return self.order_limit(sql, kinds, allow_expr=False, ctx=Ctx([]))

    def cte(self) -> Query:
        inner = self.select(1, top=False)
        name = self.alias("w")
        cols = [(f"{name}.c{j}", k) for j, k in enumerate(inner.kinds)]
        ctx = Ctx(cols)
        items = [(self.expr(k, ctx), k) for k in
                 [self.pick(inner.kinds) for _ in range(self.rng.randint(1, 3))]]
        where = f" WHERE {self.pred(ctx, 1)}" if self.chance(0.5) else ""
        body = f"SELECT {', '.join(f'{e} AS c{j}' for j, (e, _) in enumerate(items))} FROM {name}{where}"
        if self.chance(0.3):
            body += f" UNION ALL SELECT {', '.join(f'{e}' for e, _ in items)} FROM {name}"
        sql = f"WITH {name} AS ({inner.sql}) {body}"
        return self.order_limit(sql, [k for _, k in items], allow_expr=False, ctx=ctx)

    def query(self) -> Query:
        r = self.rng.random()
        if r < 0.15:
            return self.set_op()
        if r < 0.22:
            return self.cte()
        return self.select(depth=1, star=True)

    # -- the reference-free oracles
    def tlp_case(self) -> TlpCase:
        """Q and the UNION ALL of Q WHERE p, Q WHERE NOT p, Q WHERE p IS NULL (SQLancer's ternary
        logic partitioning), for a plain select list, DISTINCT, aggregates, GROUP BY and HAVING."""
        from_sql, cols, _ = self.from_clause(1)
        ctx = Ctx(cols)
        p = self.pred(ctx)
        base = f" WHERE ({self.pred(ctx, 1)})" if self.chance(0.3) else ""
        conj = " AND " if base else " WHERE "
        parts_where = [f"{conj}({p})", f"{conj}(NOT ({p}))", f"{conj}(({p}) IS NULL)"]
        mode = self.pick(["where", "where", "distinct", "aggregate", "group_by", "having"])
        if mode in ("where", "distinct"):
            items = [self.expr(self.pick(self.out_kinds), ctx) for _ in range(self.rng.randint(1, 3))]
            d = "DISTINCT " if mode == "distinct" else ""
            head = f"SELECT {d}{', '.join(f'{e} AS c{j}' for j, e in enumerate(items))} FROM {from_sql}{base}"
            glue = " UNION " if d else " UNION ALL "
            return TlpCase(mode, head, glue.join(f"{head}{w}" for w in parts_where), p)
        keys = self.group_keys_of(ctx, self.rng.randint(1, 2)) if mode != "aggregate" else []
        aggs = []
        for _ in range(self.rng.randint(1, 3)):
            call, comb = self.pick(self.tlp_aggs())
            k = self.pick(["i", "f", "m", "s", "d"] + (["I"] if self.on("bigint_sum") else []))
            if call.endswith("_or({e})") or call.endswith("_and({e})"):
                k = "b" if call.startswith("bool") else "i"
            if call.startswith("sum") and k not in ("i", "f", "m", "I"):
                k = "i"
            aggs.append((call.format(e=self.expr(k, ctx, 1)), comb))
        key_sql = [f"{e} AS g{j}" for j, (e, _) in enumerate(keys)]
        agg_sql = [f"{c} AS a{j}" for j, (c, _) in enumerate(aggs)]
        group = f" GROUP BY {', '.join(e for e, _ in keys)}" if keys else ""
        inner = f"SELECT {', '.join(key_sql + agg_sql)} FROM {from_sql}{base}"
        if mode == "having":
            gctx = Ctx(keys, inner=ctx)
            hp = self.pred(gctx, 1)
            whole = f"{inner}{group}"
            parts = " UNION ALL ".join(f"{whole} HAVING {h}" for h in
                                       (f"({hp})", f"(NOT ({hp}))", f"(({hp}) IS NULL)"))
            return TlpCase(mode, whole, parts, hp)
        whole = f"{inner}{group}"
        union = " UNION ALL ".join(f"{inner}{w}{group}" for w in parts_where)
        outer_keys = [f"g{j}" for j in range(len(keys))]
        outer_aggs = [f"{comb}(a{j})" for j, (_, comb) in enumerate(aggs)]
        regroup = f" GROUP BY {', '.join(outer_keys)}" if keys else ""
        parts = f"SELECT {', '.join(outer_keys + outer_aggs)} FROM ({union}) AS tlp{regroup}"
        return TlpCase(mode, whole, parts, p)

    def tlp_aggs(self) -> list[tuple[str, str]]:
        out = list(_TLP_AGGS)
        out += [("bool_and({e})", "bool_and"), ("bool_or({e})", "bool_or")]
        if self.fn_on("bit_and", "agg_bits"):
            out.append(("bit_and({e})", "bit_and"))
        if self.fn_on("bit_or", "agg_bits"):
            out.append(("bit_or({e})", "bit_or"))
        if self.fn_on("count_if", "agg_count_if"):
            out.append(("count_if({e} IS NOT NULL)", "sum"))
        return out

    def norec_case(self) -> NorecCase:
        """count(*) ... WHERE p against sum(CASE WHEN p THEN 1 ELSE 0 END) over the same rows: the
        second form evaluates p as a value, where no optimizer rule rewrites a filter."""
        from_sql, cols, _ = self.from_clause(1)
        p = self.pred(Ctx(cols))
        return NorecCase(f"SELECT count(*) FROM {from_sql} WHERE {p}",
                         f"SELECT sum(CASE WHEN {p} THEN 1 ELSE 0 END) FROM {from_sql}", p)
