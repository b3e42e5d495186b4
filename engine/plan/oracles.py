"""Which calls are expensive models (oracles), and which conjuncts compare one to a constant.

Shared by the cascade rule (engine/optimizer/insert_cascades.py) and approximate queries
(engine/physical/approx.py), which both look up a video's specialized model by the predicate.
"""
from __future__ import annotations

import re

from engine.plan.expressions import Call, ColumnRef, Literal, UdfCall

COMPARISONS = ("gt", "gte", "lt", "lte", "eq", "neq")


def is_oracle(u) -> bool:
    return u is not None and bool(getattr(u, "oracle", False)) and u.deterministic


def candidate(p, frame_keys: set[str]) -> UdfCall | None:
    """The oracle call of conjunct ``p`` if ``p`` is ``oracle(frame) <op> constant``,
    ``constant <op> oracle(frame)`` or a boolean ``oracle(frame)``, with ``frame`` a video's
    frame column; else None."""
    def oracle_of(x) -> UdfCall | None:
        if isinstance(x, UdfCall) and is_oracle(x.udf) and x.args and isinstance(x.args[0], ColumnRef) \
                and x.args[0].key in frame_keys and all(isinstance(a, (ColumnRef, Literal)) for a in x.args):
            return x
        return None
    if isinstance(p, Call) and p.fn in COMPARISONS and len(p.args) == 2:
        a, b = p.args
        if isinstance(b, Literal) and b.value is not None:
            return oracle_of(a)
        if isinstance(a, Literal) and a.value is not None:
            return oracle_of(b)
        return None
    got = oracle_of(p)
    return got if got is not None and str(got.dtype) == "bool" else None


def plain_predicate(p) -> str:
    """The predicate as the user wrote it, without column ids (part of the model's key)."""
    return re.sub(r"#\d+", "", p.sql())


