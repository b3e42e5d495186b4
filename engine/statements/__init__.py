"""Statements: ``prepare(sql) -> [Statement]``, their streaming results and per-statement runs.

- statement.py: Statement (schema known before it runs, parameters bound per execution) and
  prepare;
- result.py: Result and ResultStream, the one stream every reader of a result reads;
- run.py: StatementRun, one statement's execution context and tracked run.
"""
from engine.statements.result import Result, ResultStream
from engine.statements.statement import Statement, prepare

__all__ = ["Result", "ResultStream", "Statement", "prepare"]
