"""The select list's column expansions: ``*`` and ``t.*`` with EXCLUDE and REPLACE, and COLUMNS(...).

DuckDB's rules: ``* EXCLUDE (a)`` drops every visible column named ``a`` (``t.a`` only t's), and a
name in the list that matches nothing is an error; ``* REPLACE (expr AS a)`` puts ``expr`` in
``a``'s place under ``a``'s name; ``COLUMNS('regex')`` (a regular expression searched in each name,
case-sensitive), ``COLUMNS(*)`` (with EXCLUDE/REPLACE) and ``COLUMNS(['a', 'b'])`` repeat the
expression around them once per matching column, named by that column unless aliased.
"""
from __future__ import annotations

import re

from sqlglot import exp

from engine.errors import BindError, NotSupportedError, did_you_mean
from engine.plan.expressions import ColumnRef
from engine.sql.bind.scope import Entry, Scope
from engine.sql.bind.util import _ident
from engine.sql.parser import location

Item = tuple[str, "exp.Expression | ColumnRef"]


def is_star(e: exp.Expression) -> bool:
    return isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))


def _star_entries(e: exp.Expression, scope: Scope) -> list[Entry]:
    qual = e.table if isinstance(e, exp.Column) else None
    # t.* includes t's USING columns, which only a qualified name reaches
    ents = [x for x in scope.entries if not x.pseudo and (x.qualifier == qual.lower() if qual else not x.hidden)]
    if qual and not ents:
        raise BindError(f'Table "{qual}" is not in the FROM clause{location(e)}.'
                        + did_you_mean(qual, {x.qualifier for x in scope.entries if x.qualifier}))
    return ents


def expand_star(e: exp.Expression, scope: Scope) -> list[tuple[Entry, exp.Expression | None]]:
    """The entries a star stands for, each with its REPLACE expression (or None)."""
    star = e.this if isinstance(e, exp.Column) else e
    ents = _star_entries(e, scope)
    for key in ("except_", "replace"):
        for x in star.args.get(key) or []:
            if key == "replace" and not isinstance(x, exp.Alias):
                raise BindError(f'REPLACE needs "<expression> AS <column>", got {x.sql()}{location(x)}')
    excluded: list[tuple[str | None, str, exp.Expression]] = []
    for x in star.args.get("except_") or []:
        table = x.table if isinstance(x, exp.Column) and x.table else None
        excluded.append((table.lower() if table else None, _ident(x.this if isinstance(x, exp.Column) else x).lower(), x))
    for t, name, node in excluded:
        if not any(en.name.lower() == name and (t is None or en.qualifier == t) for en in ents):
            raise BindError(f'Column "{node.sql()}" in EXCLUDE list not found in FROM clause{location(node)}.'
                            + did_you_mean(name, [en.name for en in ents]))
    replaced = {}
    for x in star.args.get("replace") or []:
        name = x.alias.lower()
        if not any(en.name.lower() == name for en in ents):
            raise BindError(f'Column "{x.alias}" in REPLACE list not found in FROM clause{location(x)}.'
                            + did_you_mean(name, [en.name for en in ents]))
        replaced[name] = x.this
    out = []
    for en in ents:
        if any(en.name.lower() == name and (t is None or en.qualifier == t) for t, name, _ in excluded):
            continue
        out.append((en, replaced.get(en.name.lower())))
    return out


def _columns_matches(node: exp.Columns, scope: Scope) -> list[tuple[Entry, exp.Expression | None]]:
    arg = node.this
    visible = [x for x in scope.entries if not x.hidden and not x.pseudo]
    if isinstance(arg, exp.Literal) and arg.is_string:
        try:
            rx = re.compile(arg.this)
        except re.error as err:
            raise BindError(f'COLUMNS: invalid regular expression "{arg.this}": {err}{location(node)}') from None
        hits = [(x, None) for x in visible if rx.search(x.name)]
        if not hits:
            raise BindError(f'No columns match the regular expression "{arg.this}" of COLUMNS{location(node)}')
        return hits
    if is_star(arg):
        return expand_star(arg, scope)
    if isinstance(arg, exp.Array) and all(isinstance(v, exp.Literal) and v.is_string for v in arg.expressions):
        hits = []
        for v in arg.expressions:
            found = [x for x in visible if x.name.lower() == v.this.lower()]
            if not found:
                raise BindError(f'Column "{v.this}" of COLUMNS is not in the FROM clause{location(v)}.'
                                + did_you_mean(v.this, [x.name for x in visible]))
            hits.append((found[0], None))
        return hits
    raise NotSupportedError(f"COLUMNS({arg.sql(dialect='duckdb')}) is not supported: COLUMNS takes a "
                            f"regular expression string, *, or a list of column names{location(node)}")


def _column_ast(en: Entry) -> exp.Column:
    return exp.column(exp.to_identifier(en.name, quoted=True),
                      table=exp.to_identifier(en.qualifier, quoted=True) if en.qualifier else None)


def expand_select_list(expressions: list[exp.Expression], scope: Scope, display_name) -> list[Item]:
    """The select list as (output name, AST or column) items, stars and COLUMNS expanded."""
    items: list[Item] = []
    for e in expressions:
        if is_star(e):
            for en, repl in expand_star(e, scope):
                items.append((en.name, en.ref if repl is None else repl))
            continue
        cols = list(e.find_all(exp.Columns))
        if cols:
            if len({c.sql() for c in cols}) > 1:
                raise NotSupportedError(f"Different COLUMNS(...) in one expression are not supported"
                                        f"{location(cols[1])}")
            alias = e.alias if isinstance(e, exp.Alias) else None
            body = e.this if isinstance(e, exp.Alias) else e
            for en, repl in _columns_matches(cols[0], scope):
                if body is cols[0]:
                    items.append((alias or en.name, en.ref if repl is None else repl))
                    continue
                copy = body.copy()
                for c in list(copy.find_all(exp.Columns)):
                    c.replace(repl.copy() if repl is not None else _column_ast(en))
                items.append((alias or en.name, copy))
            continue
        name = e.alias_or_name if isinstance(e, (exp.Alias, exp.Column)) else display_name(e)
        items.append((name, e.this if isinstance(e, exp.Alias) else e))
    return items
