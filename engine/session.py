"""Statement execution: one SQL statement from text to an Arrow result.

``Session`` owns the catalog and settings of a connection. It parses, binds, optimizes, plans and
runs each statement, and handles the utility statements (EXPLAIN, SET, SHOW, DESCRIBE).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlglot import exp

from engine.errors import NotSupportedError, ProgrammingError
from engine.plan.types import sql_name

_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALYZE)?(\s+VERBOSE)?\s+(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass
class Result:
    table: pa.Table | None          # None for statements without a result set
    rowcount: int = -1
    plan_text: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class Session:
    def __init__(self, catalog=None):
        from catalog import Catalog
        self.catalog = catalog or Catalog()
        self.settings: dict[str, Any] = {"disabled_rules": "", "threads": 1}

    # ---- entry points
    def execute(self, sql: str, params=None) -> Result:
        from engine.sql.parser import bind_parameters, parse
        m = _EXPLAIN.match(sql)
        if m:
            return self._explain(m.group(3), params, analyze=bool(m.group(1)), verbose=bool(m.group(2)))
        stmts = parse(sql)
        if not stmts:
            raise ProgrammingError("Empty statement")
        result = Result(None)
        for i, stmt in enumerate(stmts):
            stmt = bind_parameters(stmt, params if i == len(stmts) - 1 or len(stmts) == 1 else None) \
                if params is not None else bind_parameters(stmt, None)
            result = self.execute_ast(stmt)
        return result

    def execute_ast(self, stmt: exp.Expression) -> Result:
        if isinstance(stmt, (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery)):
            return self.run_query(stmt)
        if isinstance(stmt, exp.Create) and (stmt.args.get("kind") or "").upper() == "TABLE":
            from engine.ddl import create_table
            return Result(None, create_table(self, stmt))
        if isinstance(stmt, exp.Insert):
            from engine.ddl import insert
            return Result(None, insert(self, stmt))
        if isinstance(stmt, exp.Drop) and (stmt.args.get("kind") or "").upper() == "TABLE":
            from engine.ddl import drop_table
            return Result(None, drop_table(self, stmt))
        if isinstance(stmt, exp.Set):
            return self._set(stmt)
        if isinstance(stmt, (exp.Describe,)):
            return self._describe(stmt)
        if isinstance(stmt, exp.Show) or (isinstance(stmt, exp.Command) and stmt.name.upper() == "SHOW"):
            return self._show(stmt)
        raise NotSupportedError(f"Unsupported statement: {stmt.sql()[:80]}")

    # ---- queries
    def plan_query(self, stmt: exp.Expression, fired: list[str] | None = None):
        from engine.optimizer import OptimizerContext, optimize
        from engine.sql.binder import Binder
        plan = Binder(self.catalog).bind_query(stmt)
        disabled = {s.strip() for s in str(self.settings.get("disabled_rules", "")).split(",") if s.strip()}
        octx = OptimizerContext(disabled=disabled)
        plan = optimize(plan, octx)
        if fired is not None:
            fired.extend(octx.fired)
        return plan

    def physical(self, plan):
        from engine.physical.planner import Planner
        planner = Planner()
        return planner.plan(plan), planner

    def run_query(self, stmt: exp.Expression, analyze: bool = False) -> Result:
        from engine.physical.operator import ExecContext, collect
        plan = self.plan_query(stmt)
        op, planner = self.physical(plan)
        ctx = ExecContext(self.settings, analyze, planner=planner.plan)
        table = collect(op, ctx)
        names = [c.name for c in plan.columns]
        table = pa.Table.from_arrays(table.columns, names=names) if names else table
        return Result(table, table.num_rows)

    def _explain(self, sql: str, params, analyze: bool, verbose: bool) -> Result:
        from engine.physical.operator import ExecContext, collect
        from engine.plan.explain import render_physical
        from engine.sql.parser import bind_parameters, parse
        stmts = parse(sql)
        if len(stmts) != 1:
            raise ProgrammingError("EXPLAIN takes exactly one statement")
        stmt = bind_parameters(stmts[0], params)
        fired: list[str] = []
        plan = self.plan_query(stmt, fired)
        op, planner = self.physical(plan)
        lines = []
        ctx = None
        if analyze:
            ctx = ExecContext(self.settings, True, planner=planner.plan)
            t0 = time.perf_counter()
            out = collect(op, ctx)
            total = time.perf_counter() - t0
        text = render_physical(op, ctx, analyze)
        if analyze:
            text += f"\nTotal: rows={out.num_rows} time={total * 1000:.1f}ms"
        if verbose:
            text += "\nRules fired: " + (", ".join(fired) if fired else "(none)")
        lines = text.split("\n")
        table = pa.table({"explain": pa.array(lines, pa.string())})
        return Result(table, len(lines), plan_text=text)

    # ---- utility statements
    def _set(self, stmt: exp.Set) -> Result:
        for item in stmt.expressions:
            eq = item.this
            if not isinstance(eq, exp.EQ):
                raise ProgrammingError(f"Cannot parse SET {item.sql()}")
            name = eq.this.name.lower()
            val = eq.expression
            value = val.this if isinstance(val, exp.Literal) else val.name
            if name == "disabled_rules":
                from engine.optimizer import RULE_NAMES
                from engine.errors import did_you_mean
                for r in (s.strip() for s in str(value).split(",") if s.strip()):
                    if r not in RULE_NAMES:
                        raise ProgrammingError(f'Unknown optimizer rule "{r}".' + did_you_mean(r, RULE_NAMES)
                                               + f" Rules: {', '.join(RULE_NAMES)}")
            self.settings[name] = value
        return Result(None)

    def _show(self, stmt) -> Result:
        names = self.catalog.names()
        return Result(pa.table({"name": pa.array(names, pa.string())}), len(names))

    def _describe(self, stmt: exp.Describe) -> Result:
        target = stmt.this
        if isinstance(target, exp.Table):
            src = self.catalog.get(target.name)
            if src is None:
                from engine.errors import BindError, did_you_mean
                raise BindError(f'Table "{target.name}" does not exist.' + did_you_mean(target.name, self.catalog.names()))
            schema = src.schema
            return Result(pa.table({
                "column_name": [f.name for f in schema],
                "column_type": [sql_name(f.type) for f in schema],
                "null": ["YES" if f.nullable else "NO" for f in schema]}), len(schema))
        plan = self.plan_query(target)
        return Result(pa.table({
            "column_name": [c.name for c in plan.columns],
            "column_type": [sql_name(c.dtype) for c in plan.columns]}), len(plan.columns))
