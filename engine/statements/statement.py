"""Prepared statements: ``prepare(sql) -> [Statement]``.

A ``Statement`` is one parsed statement of a script. Its result schema is known before it runs
(a query is bound and planned; EXPLAIN, SHOW and DESCRIBE have fixed or side-effect-free
schemas; DDL and DML return no result set: an empty schema), and its parameters are bound at
each execution, so one prepared statement runs many times with different values: what Flight SQL
prepared statements, notebooks and the shell need. ``execute(params)`` returns a
``pyarrow.RecordBatchReader`` that streams from the plan; reading it to the end or closing it
ends the statement's tracked run.

With parameters, the schema is computed with every parameter as an untyped NULL: column types
that depend only on a parameter's value are known at execution.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from engine.statements.result import Result

NO_RESULT = pa.schema([])


def parameter_names(stmt: exp.Expression) -> list[str]:
    """The statement's parameters: '1', '2', ... for ? and $n, the names of :name ones."""
    out: list[str] = []
    for h in stmt.find_all(exp.Placeholder, exp.Parameter):
        name = h.name if isinstance(h, exp.Placeholder) else h.this.name
        if name not in out:
            out.append(name)
    return out


class Statement:
    def __init__(self, session, sql: str, ast: exp.Expression, line: int = 1):
        from engine.session import statement_kind
        self.session = session
        self.sql = sql
        self.line = line                  # its first line in the script it came from
        self.kind = statement_kind(ast)
        self._ast = ast
        self._schema: pa.Schema | None = None
        names = parameter_names(ast)
        self.parameter_names = names
        self.parameter_count = max((int(n) for n in names), default=0) if all(
            n.isdigit() for n in names) else len(names)

    def __repr__(self) -> str:
        return f"<Statement {self.kind}: {self.sql[:60]!r}>"

    @property
    def ast(self) -> exp.Expression:
        """The parsed statement (parameters unbound)."""
        return self._ast

    @property
    def returns_rows(self) -> bool:
        return len(self.schema) > 0

    @property
    def schema(self) -> pa.Schema:
        """The result's columns and types (empty for a statement without a result set)."""
        if self._schema is None:
            self._schema = self._compute_schema()
        return self._schema

    def _placeholders(self) -> Sequence[Any] | Mapping[str, Any] | None:
        names = self.parameter_names
        if not names:
            return None
        if all(n.isdigit() for n in names):
            return [None] * self.parameter_count
        return {n: None for n in names}

    def _compute_schema(self) -> pa.Schema:
        from engine.session import QUERY_NODES
        from engine.sql import dialect as D
        from engine.sql.parser import bind_parameters
        s = self.session
        ast = bind_parameters(self._ast, self._placeholders())
        if isinstance(ast, QUERY_NODES):
            plan = s.plan_query(ast)
            op, _ = s.physical(plan)
            names = [c.name for c in plan.columns]
            return pa.schema([f.with_name(n) for f, n in zip(op.schema(), names)])
        if isinstance(ast, D.Explain):
            return pa.schema([pa.field("explain", pa.string())])
        shows = isinstance(ast, (exp.Show, exp.Describe)) or (
            isinstance(ast, exp.Command) and ast.name.upper() == "SHOW") or (
            isinstance(ast, D.DAWN_STATEMENTS) and D.dawn_statement(ast).kind == "show_functions")
        if shows:  # side-effect free: its answer's schema is the schema
            res = s.execute_ast(ast)
            return res.schema if res.schema is not None else NO_RESULT
        return NO_RESULT

    def run(self, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Result:
        """Execute as a tracked run; the Result streams (engine/statements/result.py)."""
        from engine.sql.parser import bind_parameters
        s = self.session
        ast = self._ast
        try:
            return s.tracked(self.kind, self.sql, lambda run: s.execute_ast(bind_parameters(ast, params), run))
        except BaseException as e:
            e.statement_line = self.line
            raise

    def execute(self, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pa.RecordBatchReader:
        """Run the statement with ``params``; its result as a streaming RecordBatchReader (no
        batches, an empty schema, for a statement without a result set)."""
        res = self.run(params)
        if res.stream is None:
            return pa.RecordBatchReader.from_batches(NO_RESULT, iter(()))
        return res.stream.reader()


def prepare(session, sql: str) -> list[Statement]:
    """The statements of ``sql`` (split like ``execute``), parsed now, each to run later."""
    from engine.errors import ProgrammingError
    from engine.session import split_statements
    from engine.sql.parser import parse
    parts = split_statements(sql) or ([(1, sql)] if sql.strip() else [])
    if not parts:
        raise ProgrammingError("Empty statement")
    out = []
    for line, text in parts:
        try:
            stmts = parse(text)
        except BaseException as e:
            e.statement_line = line
            raise
        if len(stmts) != 1:
            err = ProgrammingError("Expected one statement")
            err.statement_line = line
            raise err
        out.append(Statement(session, text, stmts[0], line))
    return out
