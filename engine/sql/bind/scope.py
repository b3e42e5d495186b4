"""Name scopes: the columns visible at one query level, and the relay scope through which a
subquery reads (and records) the columns of its enclosing query.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.errors import BindError, did_you_mean
from engine.plan.expressions import ColumnRef
from engine.sql.parser import location


@dataclass
class Entry:
    qualifier: str | None
    name: str
    ref: ColumnRef
    hidden: bool = False  # USING columns of the right side: reachable only when qualified
    # a pseudo column (a sample's __inclusion_prob, like DuckDB's rowid): reachable by its name,
    # never expanded by * or COLUMNS, never a NATURAL JOIN column
    pseudo: bool = False


class Scope:
    """The columns visible at one query level; ``parent`` is the enclosing query (correlation)."""

    def __init__(self, entries: list[Entry], parent: Scope | None = None):
        self.entries = entries
        self.parent = parent
        self.outer_refs: list[ColumnRef] = []  # columns of enclosing queries read from here

    def lookup(self, name: str, qualifier: str | None) -> list[Entry]:
        n, q = name.lower(), qualifier.lower() if qualifier else None
        return [e for e in self.entries if e.name.lower() == n
                and (q is None and not e.hidden or q is not None and e.qualifier == q)]

    def resolve(self, name: str, qualifier: str | None, node: exp.Expression) -> ColumnRef:
        hits = self.lookup(name, qualifier)
        if len(hits) > 1:
            owners = ", ".join(sorted({h.qualifier or "?" for h in hits}))
            raise BindError(f'Column reference "{name}" is ambiguous{location(node)}: it exists in '
                            f"{owners}; qualify it with a table name")
        if hits:
            return hits[0].ref
        if self.parent is not None:
            try:
                ref = self.parent.resolve(name, qualifier, node)
            except BindError:
                ref = None
            if ref is not None:
                if ref not in self.outer_refs:
                    self.outer_refs.append(ref)
                return ref
        full = f"{qualifier}.{name}" if qualifier else name
        if qualifier and not any(e.qualifier == qualifier.lower() for e in self._all()):
            raise BindError(f'Table "{qualifier}" is not in the FROM clause{location(node)} '
                            f'(referenced by "{full}").'
                            + did_you_mean(qualifier, {e.qualifier for e in self._all() if e.qualifier}))
        cands = [e.name for e in self._all() if not qualifier or e.qualifier == qualifier.lower()]
        raise BindError(f'Column "{full}" not found{location(node)}.' + did_you_mean(name, cands))

    def _all(self) -> list[Entry]:
        out, s = [], self
        while s is not None:
            out.extend(s.entries)
            s = s.parent
        return out



class Relay(Scope):
    """A scope with no columns that forwards to the enclosing query and records what it reads."""

    def __init__(self, target: Scope):
        super().__init__([], target.parent)
        self.target = target

    def resolve(self, name, qualifier, node):
        ref = self.target.parent.resolve(name, qualifier, node)
        if ref not in self.target.outer_refs:
            self.target.outer_refs.append(ref)
        # keep the enclosing binder's own outer set current for aggregate checks
        return ref

    def lookup(self, name, qualifier):
        return []

    def _all(self):
        return self.target.parent._all() if self.target.parent else []
