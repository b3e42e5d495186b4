"""Plan nodes for common table expressions that a statement reads more than once.

The binder binds each reference to a CTE anew (fresh column ids, so a CTE can be joined with
itself) and, when the statement names the CTE more than once, wraps each reference in a
``CteRef`` carrying the CTE's identity. Rewrites treat a CteRef as a boundary (no filter or
column pruning crosses it), so every reference keeps the same body. The cost phase then either
materialises the CTE (``materialize_ctes``: one ``MaterializedCte`` at the top of the statement
computes the body once, each reference becomes a ``CteScan`` of its rows) or inlines the
references (drops the CteRefs), as the cost model says.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from engine.plan.expressions import ColumnRef
from engine.plan.nodes import Node, UnaryNode


@dataclass(frozen=True, eq=False)
class CteRef(UnaryNode):
    """One reference to CTE ``key`` (named ``name``): its rows are ``child``'s."""
    child: Node
    key: int
    name: str

    @property
    def columns(self):
        return self.child.columns


    def describe(self) -> str:
        return f"CteRef: {self.name}"


@dataclass(frozen=True, eq=False)
class CteScan(Node):
    """The materialised rows of CTE ``key``, columns by position as ``out``; ``body`` is the plan
    that computes them (held by the MaterializedCte; kept here for estimates, not a child)."""
    key: int
    name: str
    out: tuple[ColumnRef, ...]
    body: Node

    @property
    def columns(self):
        return self.out

    def describe(self) -> str:
        return f"CteScan: {self.name} columns=[{', '.join(c.sql() for c in self.out)}]"


@dataclass(frozen=True, eq=False)
class MaterializedCte(Node):
    """Compute ``body`` once (CTE ``key``), then return ``child``'s rows, whose CteScans (also
    inside subqueries) read the stored result."""
    body: Node
    child: Node
    key: int
    name: str

    @property
    def columns(self):
        return self.child.columns

    @property
    def children(self):
        return (self.body, self.child)

    def with_children(self, children):
        return replace(self, body=children[0], child=children[1])

    def describe(self) -> str:
        return f"MaterializedCte: {self.name}"
