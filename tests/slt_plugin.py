"""A sqllogictest runner as a small pytest plugin: every record of a ``.slt`` file is a test item.

Records (SQLite's sqllogictest format, with DuckDB's row-per-line results also accepted)::

    statement ok                    statement error [regex]
    <sql>                           <sql>

    query <types> [nosort|rowsort|valuesort]
    <sql>
    ----
    <expected rows: values separated by tabs, or one value per line>

``types`` has one letter per column: ``I`` integer, ``R`` real (printed with three decimals),
``T`` text (``(empty)`` for the empty string), ``B`` boolean (``true``/``false``); NULL prints as
``NULL``. ``N values hashing to <md5>`` may replace a long result, as in SQLite's suite.
``skipif <engine>`` / ``onlyif <engine>`` lines before a record select engines, ``halt`` stops the
file (for the engines its skipif/onlyif select), ``#`` starts a comment.

Dawn's plans are asserted whole by ``explain`` records (Dawn's own kind; DuckDB skips them, since
the text is Dawn's, and checks every other record)::

    explain [estimates]
    EXPLAIN [VERBOSE | ANALYZE] <query>
    ----
    <the plan text, one line per line, indentation kept>

Column ids in the text are renumbered per plan (``a#1``, ``b#2``, ...), so the text is the same on
any connection. Without ``estimates`` the cost model's figures are left out of the comparison
(each line's `` rows=… cost=…`` and each predicate's `` [cost=… sel=…]``): the record asserts the
plan's shape, what was pushed where, the join and predicate order and the columns read, and does
not change when the cost model's numbers do. With ``estimates`` the text is compared verbatim.
ANALYZE's measured times always print as ``time=?``. ``DAWN_UPDATE_FIXTURES=1 pytest tests/slt``
rewrites the expected text of the explain records that differ (review the diff before committing).

The records of a file run in order on one connection. By default the engine is Dawn; with
``--slt-engine duckdb`` the same files run on DuckDB, which is how the expected results are checked
to be DuckDB's and not copies of Dawn's output.

``run_file`` runs a whole file outside pytest and returns every record's outcome: it is how
benchmarks/sqllogictest_sqlite.py counts the queries of SQLite's own corpus that each engine
passes. That corpus writes one value per line (``values_per_line``) and names engines sqlite,
mysql, postgresql, mssql, oracle in skipif/onlyif; the caller chooses the name both engines answer
to (``label``).
"""
from __future__ import annotations

import datetime
import decimal
import hashlib
import os
import re
from dataclasses import dataclass, field

import pytest


def pytest_addoption(parser):
    parser.addoption("--slt-engine", default="dawn", choices=["dawn", "duckdb"],
                     help="engine that runs the .slt files (default: dawn)")


@dataclass
class Record:
    kind: str                 # "statement" | "query" | "explain" | "halt"
    sql: str
    line: int
    expect_error: bool = False
    error_pattern: str | None = None
    types: str = ""
    sort: str = "nosort"
    expected: list[str] = field(default_factory=list)
    hashed: tuple[int, str] | None = None
    skipif: set[str] = field(default_factory=set)
    onlyif: set[str] = field(default_factory=set)
    estimates: bool = False   # explain: compare the cost model's figures too
    result_span: tuple[int, int] | None = None  # 0-based [start, end) lines of the expected text


_HASH = re.compile(r"^(\d+) values hashing to ([0-9a-f]{32})$")
# The cost model's figures in Dawn's EXPLAIN: " rows=… cost=…" after each operator and
# " [cost=…/row sel=…]" after each predicate.
_ESTIMATES = re.compile(r" rows=[0-9,?]+ cost=[0-9,?]+| \[cost=[^\]]* sel=[^\]]*\]")
_TIME = re.compile(r"\btime=[0-9.]+ms")


def parse_slt(text: str, values_per_line: bool = False) -> list[Record]:
    """The records of an .slt file, each with the line it starts on. ``values_per_line``: the
    results are one value per line (SQLite's corpus), not one row per line."""
    lines = text.split("\n")
    records: list[Record] = []
    i, skipif, onlyif = 0, set(), set()
    while i < len(lines):
        raw = lines[i].rstrip("\r")
        line = raw.strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        words = line.split()
        head = words[0]
        if head == "halt":
            records.append(Record(kind="halt", sql="", line=i + 1, skipif=skipif, onlyif=onlyif))
            skipif, onlyif = set(), set()
            i += 1
            continue
        if head in ("skipif", "onlyif"):
            (skipif if head == "skipif" else onlyif).add(words[1])
            i += 1
            continue
        if head in ("hash-threshold", "mode", "loop", "endloop", "require"):
            i += 1
            continue
        if head not in ("statement", "query", "explain"):
            raise ValueError(f"line {i + 1}: expected 'statement', 'query' or 'explain', got {line!r}")
        start = i + 1
        rec = Record(kind=head, sql="", line=start, skipif=skipif, onlyif=onlyif)
        skipif, onlyif = set(), set()
        if head == "statement":
            if len(words) < 2 or words[1] not in ("ok", "error"):
                raise ValueError(f"line {start}: 'statement ok' or 'statement error' expected")
            rec.expect_error = words[1] == "error"
            rec.error_pattern = line.split(None, 2)[2] if rec.expect_error and len(words) > 2 else None
        elif head == "explain":
            if words[1:] not in ([], ["estimates"]):
                raise ValueError(f"line {start}: 'explain' takes only the word 'estimates'")
            rec.estimates = words[1:] == ["estimates"]
        else:
            if len(words) < 2:
                raise ValueError(f"line {start}: 'query' needs its column types")
            if words[1] == "error":
                rec.expect_error = True
                rec.error_pattern = line.split(None, 2)[2] if len(words) > 2 else None
            else:
                rec.types = words[1]
                rec.sort = words[2] if len(words) > 2 else "nosort"
                if rec.sort not in ("nosort", "rowsort", "valuesort"):
                    raise ValueError(f"line {start}: unknown sort mode {rec.sort!r}")
        i += 1
        sql: list[str] = []
        while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
            sql.append(lines[i].rstrip("\r"))
            i += 1
        rec.sql = "\n".join(sql)
        rec.result_span = (i, i)  # where expected text goes when a record has none yet
        if not rec.sql.strip():
            raise ValueError(f"line {start}: record has no SQL")
        if rec.kind == "explain" and not rec.sql.lstrip().upper().startswith("EXPLAIN"):
            raise ValueError(f"line {start}: an explain record's SQL is an EXPLAIN statement")
        if i < len(lines) and lines[i].strip() == "----":
            if rec.kind == "statement" or rec.expect_error:
                raise ValueError(f"line {start}: only a query has results after ----")
            i += 1
            first = i
            out: list[str] = []
            while i < len(lines) and lines[i].strip():
                out.append(lines[i].rstrip("\r"))
                i += 1
            rec.result_span = (first, i)
            if rec.kind == "explain":
                rec.expected = [row.rstrip() for row in out]
                records.append(rec)
                continue
            m = _HASH.match(out[0].strip()) if len(out) == 1 else None
            if m:
                rec.hashed = (int(m.group(1)), m.group(2))
            else:
                for row in out:
                    if values_per_line:
                        rec.expected.append(row.strip())
                    else:
                        rec.expected.extend(row.split("\t") if "\t" in row else [row.strip()] if
                                            len(rec.types) == 1 else row.split())
        records.append(rec)
    return records


def format_value(v, t: str) -> str:
    """A result value as sqllogictest prints it for column type letter ``t``."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return ("1" if v else "0") if t == "I" else ("true" if v else "false")
    if t == "R":
        return f"{float(v):.3f}"
    if t == "I":
        if isinstance(v, (int, decimal.Decimal, float)):
            return str(int(v))
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (datetime.date, datetime.datetime, datetime.time)):
        return v.isoformat(sep=" ") if isinstance(v, datetime.datetime) else v.isoformat()
    s = str(v)
    return "(empty)" if s == "" else s


class _Dawn:
    name = "dawn"

    def __init__(self):
        import engine
        self.con = engine.connect()

    def run(self, sql: str):
        cur = self.con.cursor()
        cur.execute(sql)
        return cur.fetchall() if cur.description else None

    def close(self):
        self.con.close()


class _DuckDB:
    name = "duckdb"

    def __init__(self):
        import duckdb
        self.con = duckdb.connect()

    def run(self, sql: str):
        rel = self.con.execute(sql)
        try:
            return rel.fetchall() if rel.description else None
        except Exception:
            return None

    def close(self):
        self.con.close()


class SltFailure(Exception):
    pass


def selected(rec: Record, label: str) -> bool:
    """Whether the record runs on the engine named ``label`` (its skipif/onlyif)."""
    return label not in rec.skipif and (not rec.onlyif or label in rec.onlyif)


def explain_text(db, rec: Record) -> list[str]:
    """The lines of Dawn's plan for an explain record, as the record compares them."""
    try:
        rows = db.run(rec.sql) or []
    except Exception as e:  # noqa: BLE001 - an engine error fails the record
        raise SltFailure(f"{type(e).__name__}: {e}") from None
    text = "\n".join(str(r[0]) for r in rows)
    text = _TIME.sub("time=?", text)
    if not rec.estimates:
        text = _ESTIMATES.sub("", text)
    return [line.rstrip() for line in text.split("\n")]


def run_record(db, rec: Record) -> None:
    """Run one record; raises SltFailure when the engine's answer differs."""
    if rec.kind == "explain":
        got = explain_text(db, rec)
        if got != rec.expected:
            import difflib
            diff = "\n".join(difflib.unified_diff(rec.expected, got, "expected", "got", lineterm=""))
            raise SltFailure(f"wrong plan\n{diff}")
        return
    try:
        rows = db.run(rec.sql)
    except Exception as e:  # noqa: BLE001 - any engine error is an outcome to compare
        if rec.expect_error:
            if rec.error_pattern and not re.search(rec.error_pattern, str(e), re.I | re.S):
                raise SltFailure(f"error {e!r} does not match /{rec.error_pattern}/") from None
            return
        raise SltFailure(f"{type(e).__name__}: {e}") from None
    if rec.expect_error:
        raise SltFailure("expected an error, the statement succeeded")
    if rec.kind == "statement":
        return
    rows = rows or []
    if rows and len(rows[0]) != len(rec.types):
        raise SltFailure(f"query returned {len(rows[0])} columns, the record declares {len(rec.types)}")
    try:
        values = [[format_value(v, rec.types[j]) for j, v in enumerate(r)] for r in rows]
    except (TypeError, ValueError) as e:  # a text value in a column declared R
        raise SltFailure(f"result does not print as {rec.types}: {e}") from None
    if rec.sort == "rowsort":
        values.sort()
    flat = [v for r in values for v in r]
    if rec.sort == "valuesort":
        flat.sort()
    if rec.hashed is not None:
        n, digest = rec.hashed
        got = hashlib.md5("".join(v + "\n" for v in flat).encode()).hexdigest()
        if len(flat) != n or got != digest:
            raise SltFailure(f"expected {n} values hashing to {digest}, got {len(flat)} hashing to {got}")
        return
    if flat != rec.expected:
        width = max(len(rec.types), 1)
        exp = "\n".join("\t".join(rec.expected[k:k + width]) for k in range(0, len(rec.expected), width))
        got = "\n".join("\t".join(r) for r in values)
        raise SltFailure(f"wrong result\n--- expected\n{exp}\n--- got\n{got}")


@dataclass
class RecordOutcome:
    record: Record
    status: str           # pass | fail | skip (not for this engine)
    message: str = ""


def run_file(path, engine: str = "dawn", label: str | None = None,
             values_per_line: bool = False) -> list[RecordOutcome]:
    """Every record of an .slt file, in order on one fresh connection of ``engine`` ("dawn" or
    "duckdb"), answering skipif/onlyif as ``label`` (default: the engine's own name)."""
    from pathlib import Path
    records = parse_slt(Path(path).read_text(), values_per_line)
    db = (_DuckDB if engine == "duckdb" else _Dawn)()
    label = label or db.name
    out: list[RecordOutcome] = []
    try:
        for rec in records:
            if not selected(rec, label) or (rec.kind == "explain" and db.name != "dawn"):
                out.append(RecordOutcome(rec, "skip"))
                continue
            if rec.kind == "halt":
                break
            try:
                run_record(db, rec)
                out.append(RecordOutcome(rec, "pass"))
            except SltFailure as e:
                out.append(RecordOutcome(rec, "fail", str(e)))
    finally:
        db.close()
    return out


class SltFile(pytest.File):
    def collect(self):
        text = self.path.read_text()
        try:
            records = parse_slt(text)
        except ValueError as e:
            raise pytest.UsageError(f"{self.path}: {e}") from None
        label = self.config.getoption("--slt-engine")
        for rec in records:
            if rec.kind == "halt":
                if selected(rec, label):
                    return
                continue
            yield SltItem.from_parent(self, name=f"line{rec.line}", record=rec)

    def connection(self):
        db = getattr(self, "_db", None)
        if db is None:
            db = self._db = (_DuckDB if self.config.getoption("--slt-engine") == "duckdb" else _Dawn)()
        return db

    def teardown(self):
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None
        updates = getattr(self, "_updates", None)
        if updates:
            self._rewrite(updates)
            self._updates = None

    def _rewrite(self, updates: list[tuple[Record, list[str]]]) -> None:
        """Write the plans Dawn printed as the expected text of the explain records that differed
        (DAWN_UPDATE_FIXTURES=1); the later records first, so earlier line numbers stay valid."""
        lines = self.path.read_text().split("\n")
        for rec, got in sorted(updates, key=lambda u: -u[0].line):
            a, b = rec.result_span
            lines[a:b] = got if a > 0 and lines[a - 1].strip() == "----" else ["----", *got]
        self.path.write_text("\n".join(lines))


class SltItem(pytest.Item):
    def __init__(self, *, record: Record, **kw):
        super().__init__(**kw)
        self.record = record

    def runtest(self):
        rec = self.record
        db = self.parent.connection()
        if not selected(rec, db.name):
            pytest.skip(f"not for {db.name}")
        if rec.kind == "explain" and db.name != "dawn":
            pytest.skip("an explain record's text is Dawn's plan")
        if rec.kind == "explain" and os.environ.get("DAWN_UPDATE_FIXTURES") == "1":
            got = explain_text(db, rec)
            if got != rec.expected:
                self.parent.__dict__.setdefault("_updates", []).append((rec, got))
            return
        run_record(db, rec)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SltFailure):
            return f"{self.path}:{self.record.line}\n{self.record.sql}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.record.line - 1, f"{self.path.name}:{self.record.line}"


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".slt":
        return SltFile.from_parent(parent, path=file_path)
    return None
