"""Decisions and estimates the optimizer's cost phase leaves on plan nodes for the physical planner.

Plan nodes are immutable and compared by identity, so an annotation is attached to one node object
and lost when a rewrite builds a new node; the cost phase therefore annotates last, after every
rewrite. The physical planner reads annotations instead of asking the optimizer (the physical layer
never imports it).

Keys in use: ``rows`` and ``cost`` (estimated output rows and rows touched, subtree included),
``conjuncts`` (on Filter and Scan: ``{conjunct: (seconds per row, selectivity)}``, shown by EXPLAIN),
``jit`` (on Aggregate: ``(compile its pipeline?, why, refused)``, engine/optimizer/cost/compile_choice.py).
"""
from __future__ import annotations

from typing import Any


def annotate(node: Any, **values: Any) -> None:
    notes = node.__dict__.get("_annotations")
    if notes is None:
        notes = {}
        object.__setattr__(node, "_annotations", notes)  # frozen dataclass: not a field, a note
    notes.update(values)


def annotation(node: Any, key: str, default: Any = None) -> Any:
    notes = node.__dict__.get("_annotations")
    return default if notes is None else notes.get(key, default)
