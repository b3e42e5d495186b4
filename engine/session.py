"""Statement execution: one SQL statement from text to an Arrow result.

``Session`` owns the catalog and settings of a connection. It parses, binds, optimizes, plans and
runs each statement, and handles the utility statements (EXPLAIN, SET, SHOW, DESCRIBE).
"""
from __future__ import annotations

import os

import time
import weakref
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from collections.abc import Iterator, Mapping, Sequence

from engine.errors import NotSupportedError, ProgrammingError
from engine.plan import types as T
from engine.statements.result import Result, ResultStream
from engine.statements.run import StatementRun

if TYPE_CHECKING:
    from catalog.store import Database

# A query's first batches are computed by ``execute`` (its errors raise there and a small
# answer is complete, its run recorded, when ``execute`` returns); the rest stream on fetch.
PREFETCH_ROWS = 1 << 16

# SET threads' default: the cores this process may use (its CPU affinity), else os.cpu_count()
DEFAULT_THREADS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1))


class Session:
    """A connection's state: catalog, settings, the DuckDB connection and its transaction.

    Transactions follow PEP 249: with ``autocommit`` off, the first statement opens a DuckDB
    transaction that ``commit()`` or ``rollback()`` ends. DuckDB aborts a whole transaction when
    one statement fails, so every write also lands in a replay log: after a failed statement the
    transaction is rolled back, reopened and the log replayed, leaving exactly the effects of the
    statements that succeeded.
    """

    def __init__(self, database: str | Database = ":memory:", source: str = "dbapi"):
        from catalog import Catalog
        from catalog.store import ConnectionStore, Database, DatabaseLockedError
        from engine.errors import OperationalError
        try:
            # a Database object: share it (a server's sessions over one ':memory:' database)
            self.db = database.share() if isinstance(database, Database) else Database.open(database)
        except DatabaseLockedError as e:
            raise OperationalError(
                f"Database file '{database}' is locked by another process; only one process may "
                f"open it for writing at a time. Close it there first. ({e})") from None
        except Exception as e:  # corrupt or unreadable file
            raise OperationalError(f"Cannot open database '{database}': {e}") from None
        self.store = ConnectionStore(self.db)
        self.catalog = Catalog(self.store)
        from engine.statements.plan_cache import PlanCache
        self.plan_cache = PlanCache(self.catalog)
        self._bind_runs = 0  # queries the binder ran (PIVOT's values): such plans are not kept
        from catalog.functions import FunctionRegistry
        self.functions = FunctionRegistry(self.store)
        from engine.optimizer.cost.statistics import Statistics
        self.stats = Statistics(self.store, self.functions)  # what the cost model knows
        self.last_udf_metrics: dict = {}
        self._streams: weakref.WeakSet[ResultStream] = weakref.WeakSet()  # results still streaming
        # threads: the machine's cores (compiled pipelines use them; engine/jit/execute.py)
        self.settings: dict[str, Any] = {"disabled_rules": "", "threads": DEFAULT_THREADS,
                                         "use_model_cache": True}
        self.active_ctx = None       # the running statement's ExecContext
        self.autocommit = False
        self.in_txn = False
        self._log: list = []
        # SET GLOBAL values persist in dawn_meta.settings and apply to every new connection
        for name, value in self.store.duck.execute("SELECT name, value FROM dawn_meta.settings").fetchall():
            self.settings[name] = value
        # experiment tracking: every statement becomes a run (catalog/tracking.py)
        import uuid
        self.source = source
        self.session_id = uuid.uuid4().hex[:16]
        self.last_run_id: str | None = None
        self.run_tags: dict[str, str] = {}   # added to every run's tags (the Flight client's address)
        # checked before every batch of every statement (ExecContext.interrupt); the Flight server
        # sets it to stop cancelled or timed-out statements
        self.interrupt = None
        self._update_tracking()

    # ---- transactions
    def _ensure_txn(self) -> None:
        if not self.autocommit and not self.in_txn:
            self.store.duck.execute("BEGIN TRANSACTION")
            self.in_txn = True
            self._log = []

    def begin(self) -> None:
        if self.in_txn:
            return
        self.store.duck.execute("BEGIN TRANSACTION")
        self.in_txn = True
        self._log = []

    def commit(self) -> None:
        self.settle_streams()
        if self.in_txn:
            self.store.duck.execute("COMMIT")
            self.in_txn = False
            if self._log:
                self.db.bump()
            self._log = []
        self.store.invalidate()

    def rollback(self) -> None:
        self.settle_streams()
        if self.in_txn:
            self.store.duck.execute("ROLLBACK")
            self.in_txn = False
            self._log = []
        self.store.invalidate()

    def write(self, op) -> None:
        """Run a write ``op(duckdb_connection)`` atomically (see the class docstring)."""
        from engine.errors import map_duckdb_error
        self._ensure_txn()
        try:
            op(self.store.duck)
        except Exception as e:
            if self.in_txn:
                self._recover()
            self.store.invalidate()
            err = map_duckdb_error(e)
            if err is e:
                raise
            raise err from None
        self.store.invalidate()
        if self.in_txn:
            self._log.append(op)
        else:
            self.db.bump()

    def _recover(self) -> None:
        duck = self.store.duck
        try:
            duck.execute("ROLLBACK")
        except Exception:
            pass
        duck.execute("BEGIN TRANSACTION")
        for op in self._log:
            op(duck)

    def close(self) -> None:
        for stream in list(self._streams):
            stream.close()
        if self.in_txn:
            try:
                self.rollback()
            except Exception:
                pass
        try:
            self.store.duck.close()
        except Exception:
            pass
        self.db.release()

    # ---- entry points
    def execute(self, sql: str, params=None) -> Result:
        """Run the statements in ``sql``; each one is tracked as a run. Returns the last result."""
        result = Result(None)
        for result in self.execute_each(sql, params):
            pass
        return result

    def execute_each(self, sql: str, params=None) -> Iterator[Result]:
        """Run the statements of ``sql`` one at a time, yielding each one's Result as soon as it
        has run (``execute`` returns only the last): what a command line prints. Each statement
        is its own tracked run and is parsed only when its turn comes; the first that fails
        raises with ``statement_line`` (its first line in ``sql``) and the rest do not run."""
        hit = self.plan_cache.get(sql, self.settings) if params is None else None
        if hit is not None:  # a query run before as this whole text: no tokenizing to split it
            try:
                yield self._run_hit(sql, hit)
            except BaseException as e:
                e.statement_line = split_statements(sql)[0][0]
                raise
            return
        parts = split_statements(sql)
        if not parts:
            parts = [(1, sql)]
        if len(parts) > 1 and params is not None:
            def refuse(run):
                raise ProgrammingError("Parameters can only be bound to a single statement")
            yield self.tracked("UNKNOWN", sql, refuse)
            return
        for line, text in parts:
            try:
                if len(parts) == 1:  # its kept plan, if any, was looked up above
                    yield self._execute_one(sql, params)
                    continue
                hit = self.plan_cache.get(text, self.settings)
                yield self._run_hit(text, hit) if hit is not None else self._execute_one(text, params)
            except BaseException as e:  # KeyboardInterrupt too: the caller says where it stopped
                e.statement_line = line
                raise

    def _execute_one(self, text: str, params) -> Result:
        """Parse and run one statement as a tracked run (``text`` has no kept plan)."""
        from engine.errors import Error
        from engine.sql import dialect as D
        from engine.sql.parser import bind_parameters, parse
        try:
            stmts = parse(text)
            if not stmts:
                raise ProgrammingError("Empty statement")
            if len(stmts) > 1:
                raise ProgrammingError("Expected one statement")
        except Error as e:
            def failed(run, e=e):
                raise e
            return self.tracked("UNKNOWN", text, failed)
        stmt = stmts[0]
        kind = statement_kind(stmt)
        if params is None and isinstance(stmt, QUERY_NODES):
            return self.tracked(kind, text, lambda run: self._query_kept(
                text, kind, bind_parameters(stmt, None), run))
        if not isinstance(stmt, D.Explain):
            self.plan_cache.clear()  # a statement that may change what kept plans were made from
        return self.tracked(kind, text,
                            lambda run: self.execute_ast(bind_parameters(stmt, params), run))

    def _query_kept(self, text: str, kind: str, stmt: exp.Expression, run) -> Result:
        """A query planned afresh, its plan kept for the same text if it may be."""
        self._ensure_txn()
        runs = self._bind_runs
        plan = self.plan_query(stmt)
        if self._bind_runs == runs:
            self.plan_cache.put(text, self.settings, kind, stmt, plan)
        return self.run_plan(plan, run=run)

    def _run_hit(self, text: str, hit) -> Result:
        """The same query again: its kept plan (statements/plan_cache.py), tracked as a run."""
        def go(run):
            self._ensure_txn()
            return self.run_plan(hit.plan, run=run)
        return self.tracked(hit.kind, text, go)

    # ---- tracking
    def _update_tracking(self) -> None:
        off = str(self.settings.get("tracking", "on")).strip().lower() in ("off", "false", "0", "no")
        self._tracker = None if off else self.db.tracker()

    def tracked(self, kind: str, text: str, fn) -> Result:
        """Run ``fn(run)`` (one statement, ``run`` its StatementRun) and record it as a run:
        FINISHED with its metrics, or FAILED with its error (re-raised, carrying ``run_id``).
        A result that is still streaming is recorded when its stream ends."""
        self.settle_streams()
        run = StatementRun(self, kind, text)
        self.last_run_id = run.run_id
        try:
            res = fn(run)
        except BaseException as e:
            run.submit(None, e)
            if isinstance(e, Exception) and run.recorded:
                e.run_id = run.run_id
            raise
        if run.untracked:
            self.last_run_id = None
        elif run.recorded:
            res.run_id = run.run_id
        if res.stream is not None and not res.stream.done:
            self._streams.add(res.stream)
        run.returned(res)
        return res

    def settle_streams(self) -> None:
        """Before another statement uses the connection, results still streaming end (their
        runs are recorded; ResultStream.settle): no stream reads tables that the next
        statement changes."""
        for stream in list(self._streams):
            stream.settle()
        self._streams = weakref.WeakSet()

    def execute_ast(self, stmt: exp.Expression, run: StatementRun | None = None) -> Result:
        from engine import ddl
        from engine.sql import dialect as D
        if isinstance(stmt, D.Explain):
            self._ensure_txn()
            return self._explain(stmt.this, analyze=bool(stmt.args.get("analyze")),
                                 verbose=bool(stmt.args.get("verbose")), run=run)
        if isinstance(stmt, D.DAWN_STATEMENTS):
            from engine import functions_ddl
            self._ensure_txn()
            return functions_ddl.execute(self, D.dawn_statement(stmt), run)
        if isinstance(stmt, exp.Transaction):
            self.begin()
            return Result(None)
        if isinstance(stmt, exp.Commit):
            self.commit()
            return Result(None)
        if isinstance(stmt, exp.Rollback):
            self.rollback()
            return Result(None)
        self._ensure_txn()
        if isinstance(stmt, QUERY_NODES):
            return self.run_query(stmt, run=run)
        kind = (stmt.args.get("kind") or "").upper() if isinstance(stmt, (exp.Create, exp.Drop)) else ""
        if isinstance(stmt, exp.Create) and kind == "TABLE":
            return Result(None, ddl.create_table(self, stmt))
        if isinstance(stmt, exp.Create) and kind == "VIEW":
            return Result(None, ddl.create_view(self, stmt))
        if isinstance(stmt, exp.Insert):
            return Result(None, ddl.insert(self, stmt))
        if isinstance(stmt, exp.Update):
            return Result(None, ddl.update(self, stmt))
        if isinstance(stmt, exp.Delete):
            return Result(None, ddl.delete(self, stmt))
        if isinstance(stmt, exp.Drop) and kind in ("TABLE", "VIEW"):
            return Result(None, ddl.drop(self, stmt))
        if isinstance(stmt, exp.Alter):
            return Result(None, ddl.alter(self, stmt))
        if isinstance(stmt, exp.Copy):
            return Result(None, ddl.copy(self, stmt))
        if isinstance(stmt, exp.Analyze) or (isinstance(stmt, exp.Command) and stmt.name.upper() == "ANALYZE"):
            tables = (stmt.args.get("tables") or ([stmt.this] if stmt.this is not None else [])) \
                if isinstance(stmt, exp.Analyze) else []
            target = tables[0].name if tables and isinstance(tables[0], exp.Table) else None
            return Result(None, ddl.analyze(self, target or None))
        if isinstance(stmt, exp.Set):
            return self._set(stmt)
        if isinstance(stmt, (exp.Describe,)):
            return self._describe(stmt)
        if isinstance(stmt, exp.Show) or (isinstance(stmt, exp.Command) and stmt.name.upper() == "SHOW"):
            return self._show(stmt)
        raise NotSupportedError(f"{statement_kind(stmt)} statements are not supported by Dawn")

    # ---- bulk writes
    def insert_many(self, table: str, names: list[str] | None, marks: list[str], params: list) -> int:
        """``executemany('INSERT INTO t (cols) VALUES (?, ...)', rows)`` as one columnar append
        (``marks``: the statement's parameter markers, ``?``, ``$n`` or ``:name``)."""
        from engine import ddl
        from engine.errors import DataError
        from engine.sql.parser import plain_value
        src = ddl._stored(self, table, None)
        lower = {f.name.lower(): f for f in src.raw_schema}
        if names:
            for c in names:
                if c.lower() not in lower:
                    from engine.errors import BindError, did_you_mean
                    raise BindError(f'Column "{c}" does not exist in table "{src.name}".'
                                    + did_you_mean(c, list(lower)))
            cols = [lower[c.lower()].name for c in names]
        else:
            cols = [f.name for f in src.raw_schema]
        if len(marks) != len(cols):
            raise ProgrammingError(f'INSERT into "{src.name}" names {len(cols)} columns but '
                                   f"gives {len(marks)} values")
        columns: list[list] = [[] for _ in marks]
        named = marks[0].startswith(":")
        for i, p in enumerate(params):
            if named:
                if not isinstance(p, Mapping):
                    raise ProgrammingError(f"Parameter set {i} must be a mapping for :name parameters")
                try:
                    vals = [p[m[1:]] for m in marks]
                except KeyError as e:
                    raise ProgrammingError(f"Parameter set {i} has no value for :{e.args[0]}") from None
            else:
                if isinstance(p, (str, bytes)) or not isinstance(p, Sequence):
                    raise ProgrammingError(f"Parameter set {i} must be a sequence, got {type(p).__name__}")
                want = max(int(m[1:]) for m in marks) if marks[0].startswith("$") else len(marks)
                if len(p) != want:
                    raise ProgrammingError(f"Parameter set {i} has {len(p)} values; the statement "
                                           f"has {want} parameter(s)")
                vals = [p[int(m[1:]) - 1] for m in marks] if marks[0].startswith("$") else list(p)
            for j, (col, v) in enumerate(zip(columns, vals)):
                col.append(plain_value(v, f"parameter {j + 1} of parameter set {i}"))
        arrays = []
        for c, values in zip(cols, columns):
            want = T.normalize_schema(pa.schema([lower[c.lower()]])).field(0).type
            try:
                arrays.append(pa.array(values, type=want))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                try:
                    arrays.append(pa.array(values))
                except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                    raise DataError(f'Parameters for column "{c}" of "{src.name}" have mixed or '
                                    f"unsupported types: {e}") from None
        self._ensure_txn()
        return ddl.insert_arrow(self, src, pa.Table.from_arrays(arrays, names=cols), cols)

    def append(self, table: str, data) -> int:
        from catalog.sources import ArrowSource
        from engine import ddl
        self._ensure_txn()
        src = ddl._stored(self, table, None)
        t = ArrowSource(data).table
        lower = {f.name.lower(): f.name for f in src.raw_schema}
        missing = [n for n in t.column_names if n.lower() not in lower]
        if missing:
            from engine.errors import BindError, did_you_mean
            raise BindError(f'Column "{missing[0]}" does not exist in table "{src.name}".'
                            + did_you_mean(missing[0], list(lower.values())))
        return ddl.insert_arrow(self, src, t, [lower[n.lower()] for n in t.column_names])

    # ---- queries
    def plan_query(self, stmt: exp.Expression, fired: list[str] | None = None):
        from engine.optimizer import OptimizerContext, optimize
        from engine.sql.bind import Binder
        plan = Binder(self.catalog, functions=self.functions, run=self._rows_of).bind_statement(stmt)
        disabled = {s.strip() for s in str(self.settings.get("disabled_rules", "")).split(",") if s.strip()}
        octx = OptimizerContext(disabled=disabled, stats=self.stats, run_on_sample=self.run_on_sample,
                                settings=self.settings)
        plan = optimize(plan, octx)
        if fired is not None:
            fired.extend(octx.fired)
        return plan

    def _rows_of(self, query: exp.Expression) -> list[tuple]:
        """Run a query the binder needs the answer of (PIVOT's values) and return its rows."""
        from engine.physical.operator import collect
        self._bind_runs += 1
        plan = self.plan_query(query)
        op, planner = self.physical(plan)
        table = collect(op, self.new_exec_context(planner))
        return list(zip(*[c.to_pylist() for c in table.columns])) if table.num_columns else []

    def physical(self, plan):
        from engine.physical.planner import Planner
        planner = Planner()
        return planner.plan(plan), planner

    def run_on_sample(self, subplan, n_rows: int):
        """Run ``subplan`` with each scan reading at most ``n_rows`` rows (the optimizer's hook
        for profiling); UDF measurements are stored like any statement's."""
        from engine.optimizer.cost.statistics import SampleRun
        from engine.physical.operator import collect
        from engine.plan.nodes import Limit, Scan, transform_up
        sampled = transform_up(subplan, lambda n: Limit(n, n_rows) if isinstance(n, Scan) else n)
        op, planner = self.physical(sampled)
        ctx = self.new_exec_context(planner)
        t0 = time.perf_counter()
        table = collect(op, ctx)
        seconds = time.perf_counter() - t0
        self.finish(ctx)
        return SampleRun(table, dict(ctx.udf_runtime.metrics), seconds)

    # ---- UDF statistics and result caches
    def udf_cost(self, u) -> tuple[float, float | None]:
        """(seconds per row, measured selectivity or None): the statistics' answer."""
        return self.stats.udf(u)

    SETTLED_CALLS = 50  # measured batches after which a UDF's statistics are only corrected

    def _settled(self, u, m) -> bool:
        """Whether this statement's measurements of ``u`` add nothing: its statistics already rest
        on SETTLED_CALLS batches and this statement agrees with them (cost within 2x, selectivity
        within 0.1). Skipping the write spares each cheap-UDF statement a catalog write (1.7 ms)
        and keeps the statistics' cache valid."""
        from catalog.udf_cache import read_stats
        st = read_stats(self.store).get((u.name, u.version))
        if not st or st["calls"] < self.SETTLED_CALLS or not st["rows"]:
            return False
        if m.rows:
            known, now = st["seconds"] / st["rows"], m.seconds / m.rows
            if not (0.5 * known <= now <= 2 * known):
                return False
        if m.tested and st["tested"]:
            if abs(m.passed / m.tested - st["passed"] / st["tested"]) > 0.1:
                return False
        elif m.tested:
            return False
        return True

    def new_exec_context(self, planner, analyze: bool = False):
        from catalog.udf_cache import ResultCache
        from engine.physical.operator import ExecContext
        from engine.physical.udf_runtime import UdfRuntime
        use = str(self.settings.get("use_model_cache", True)).lower() not in ("false", "off", "0", "no")
        runtime = UdfRuntime(caches=lambda u, dtype: ResultCache(self.store, u.name, u.version, dtype),
                             use_cache=use, cost=self.udf_cost)
        ctx = ExecContext(self.settings, analyze, planner=planner.plan, udf_runtime=runtime)
        ctx.store = self.store
        self.active_ctx = ctx        # what the shell's progress bar reads (interfaces/progress.py)
        ctx.interrupt = self.interrupt
        return ctx

    def finish(self, ctx) -> None:
        """After a statement: store new cached results, UDF statistics and learned metadata."""
        from catalog.udf_cache import record_stats_op
        rt = ctx.udf_runtime
        self.last_udf_metrics = dict(rt.metrics)
        ops = [c.flush_op() for c in rt._stores.values() if c is not None]
        stats = []
        for name, m in rt.metrics.items():
            u = self.functions.get(name)
            if u is not None and (m.rows or m.tested) and not self._settled(u, m):
                stats.append((name, u.version, m.batches, m.rows, m.seconds, m.tested, m.passed))
        ops.append(record_stats_op(stats))
        ops.extend(ctx.pending_writes)
        ctx.pending_writes = []
        ops.extend(self.catalog.pending_writes)
        self.catalog.pending_writes = []
        for op in ops:
            if op is not None:
                self.write(op)

    def run_query(self, stmt: exp.Expression, analyze: bool = False,
                  run: StatementRun | None = None) -> Result:
        """Plan a query and start it: the result streams from the physical plan (see
        PREFETCH_ROWS). Without a ``run`` (a query inside another statement) the caller reads it
        whole."""
        return self.run_plan(self.plan_query(stmt), analyze, run)

    def run_plan(self, plan, analyze: bool = False, run: StatementRun | None = None) -> Result:
        """Start an optimized plan (``run_query`` after planning)."""
        from engine.errors import map_engine_error
        op, planner = self.physical(plan)
        ctx = self.new_exec_context(planner, analyze)
        ctx.root = op
        names = [c.name for c in plan.columns]
        schema = op.schema()
        if names:
            schema = pa.schema([f.with_name(n) for f, n in zip(schema, names)])
        if run is not None:
            run.exec = (plan, op, ctx)
            if reads_only_tracking(plan):
                run.untracked = True

        def batches():
            for b in op.execute(ctx):
                yield pa.RecordBatch.from_arrays(b.columns, schema=schema) if names else b

        if run is not None:
            on_end = run.stream_ended
        else:
            def on_end(error):
                if error is None:
                    self.finish(ctx)
        stream = ResultStream(schema, batches(), on_end, map_engine_error)
        res = Result(stream, exec_ctx=ctx)
        stream.prefetch(PREFETCH_ROWS)
        if stream.done:
            res.rowcount = stream.rows
        return res

    def _explain(self, stmt: exp.Expression, analyze: bool, verbose: bool,
                 run: StatementRun | None = None) -> Result:
        from engine.physical.operator import collect
        from engine.plan.explain import render_physical, renumber_ids
        if not isinstance(stmt, QUERY_NODES):
            raise NotSupportedError(f"EXPLAIN of a {statement_kind(stmt)} statement is not supported; "
                                    "EXPLAIN takes a query")
        fired: list[str] = []
        plan = self.plan_query(stmt, fired)
        op, planner = self.physical(plan)
        ctx = None
        if run is not None:
            run.exec = (plan, op, None)
        if analyze:
            ctx = self.new_exec_context(planner, True)
            if run is not None:
                run.exec = (plan, op, ctx)
            t0 = time.perf_counter()
            try:
                out = collect(op, ctx)
            except Exception as e:
                from engine.errors import map_engine_error
                raise map_engine_error(e) from None
            total = time.perf_counter() - t0
            self.finish(ctx)
        text = render_physical(op, ctx, analyze)
        if analyze:
            for name, m in sorted(ctx.udf_runtime.metrics.items()):
                text += f"\nUDF {name}: {m.describe()}"
            text += f"\nTotal: rows={out.num_rows} time={total * 1000:.1f}ms"
        if verbose:
            from engine.physical.pipelines import render_pipelines
            text += "\nRules fired: " + (", ".join(fired) if fired else "(none)")
            text += "\n" + render_pipelines(op)
        # Once over the whole text, so lines added after the operators share the plan's numbering.
        text = renumber_ids(text)
        lines = text.split("\n")
        table = pa.table({"explain": pa.array(lines, pa.string())})
        return Result.of_table(table, plan_text=text)

    # ---- utility statements
    def _set(self, stmt: exp.Set) -> Result:
        for item in stmt.expressions:
            eq = item.this
            if not isinstance(eq, exp.EQ):
                raise ProgrammingError(f"Cannot parse SET {item.sql()}")
            name = eq.this.name.lower()
            val = eq.expression
            if isinstance(val, exp.Literal):
                value = val.this
            elif isinstance(val, exp.Boolean):
                value = bool(val.this)
            elif isinstance(val, exp.Neg) and isinstance(val.this, exp.Literal):
                value = "-" + val.this.this
            else:
                value = val.name or val.sql()
            if name == "disabled_rules":
                from engine.optimizer import RULE_NAMES
                from engine.errors import did_you_mean
                for r in (s.strip() for s in str(value).split(",") if s.strip()):
                    if r not in RULE_NAMES:
                        raise ProgrammingError(f'Unknown optimizer rule "{r}".' + did_you_mean(r, RULE_NAMES)
                                               + f" Rules: {', '.join(RULE_NAMES)}")
            from engine.optimizer.insert_cascades import DEFAULTS as CASCADE_SETTINGS
            if name in CASCADE_SETTINGS:  # checked now: a bad target fails the SET, not a later query
                from engine.optimizer.insert_cascades import settings_of
                value = settings_of({name: value})[name]
            if name == "jit":  # checked now: a typo fails the SET, not every later query
                from engine.jit import normalize_mode
                value = normalize_mode(value)
            if name == "experiment":
                value = str(value)
                if not value.strip():
                    raise ProgrammingError("SET experiment needs a name")
                self.db.tracker().experiment_id(value)
            elif name == "run_retention_days":
                try:
                    if float(value) <= 0:
                        raise ValueError
                except ValueError:
                    raise ProgrammingError(f"SET run_retention_days needs a positive number of days, got {value!r}") from None
            self.settings[name] = value
            if name == "tracking":
                self._update_tracking()
            if (item.args.get("kind") or "").upper() == "GLOBAL":
                def op(duck, name=name, value=str(value)):
                    duck.execute("DELETE FROM dawn_meta.settings WHERE name = ?", [name])
                    duck.execute("INSERT INTO dawn_meta.settings VALUES (?, ?)", [name, value])
                self.write(op)
        return Result(None)

    def _show(self, stmt) -> Result:
        from engine.describe import show
        return show(self, stmt)

    def _describe(self, stmt: exp.Describe) -> Result:
        from engine.describe import describe
        return describe(self, stmt)


QUERY_NODES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery, exp.Pivot)


def statement_kind(stmt: exp.Expression) -> str:
    """SELECT, INSERT, CREATE TABLE, ...: the ``statement_kind`` of a run."""
    from engine.sql import dialect as D
    if isinstance(stmt, QUERY_NODES):
        return "SELECT"
    if isinstance(stmt, D.Explain):
        return "EXPLAIN ANALYZE" if stmt.args.get("analyze") else "EXPLAIN"
    if isinstance(stmt, D.DAWN_STATEMENTS):
        return D.dawn_statement(stmt).kind.replace("_", " ").upper()
    if isinstance(stmt, (exp.Create, exp.Drop)):
        kind = (stmt.args.get("kind") or "").upper()
        return f"{type(stmt).__name__.upper()} {kind}".strip()
    if isinstance(stmt, exp.Command):
        return stmt.name.upper()
    names = {exp.Transaction: "BEGIN", exp.Set: "SET", exp.Describe: "DESCRIBE", exp.Show: "SHOW"}
    if type(stmt) in names:
        return names[type(stmt)]
    if isinstance(stmt, (exp.Insert, exp.Update, exp.Delete, exp.Alter, exp.Copy, exp.Analyze,
                         exp.Commit, exp.Rollback, exp.Pragma)):
        return type(stmt).__name__.upper()
    # anything else is named by the word it starts with, as the user wrote it
    words = stmt.sql(dialect="duckdb").split()
    return words[0].upper() if words else type(stmt).__name__.upper()


def reads_only_tracking(plan) -> bool:
    """Whether a query reads the dawn.* run-log tables and nothing else (such queries are not
    tracked, so browsing the history does not grow it)."""
    kinds = [getattr(n.source, "kind", None) for n in plan.walk() if hasattr(n, "source")]
    return bool(kinds) and all(k == "tracking" for k in kinds)


def split_statements(sql: str) -> list[tuple[int, str]]:
    """The ';'-separated statements of ``sql`` as (first line, text), found with the Dawn
    tokenizer so semicolons in strings and comments do not split; statements with no tokens
    (empty, or only comments) are left out. Text that does not tokenize is one statement, so
    running it reports the error."""
    from sqlglot.tokens import TokenType
    from engine.sql.dialect import Dawn
    try:
        tokens = Dawn().tokenize(sql)
    except Exception:
        return [(1, sql)] if sql.strip() else []
    out: list[tuple[int, str]] = []
    first = None
    for tok in tokens + [None]:
        if tok is None or tok.token_type == TokenType.SEMICOLON:
            if first is not None:
                end = tok.start if tok is not None else len(sql)
                out.append((sql.count("\n", 0, first.start) + 1, sql[first.start:end].rstrip()))
            first = None
        elif first is None:
            first = tok
    return out
