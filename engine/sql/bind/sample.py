"""TABLESAMPLE / USING SAMPLE clauses as engine.plan.nodes.SampleSpec values (the binder puts
them on a Sample node over the table's Scan; engine/physical/sample.py says what each method
does)."""
from __future__ import annotations

from sqlglot import exp

from engine.errors import BindError, NotSupportedError
from engine.sql.parser import location


def _sample_spec(ts: exp.TableSample):
    """TABLESAMPLE / USING SAMPLE as a SampleSpec, with clear errors."""
    from engine.plan.nodes import SampleSpec

    def number(e, what: str) -> float:
        if isinstance(e, exp.Neg) or not isinstance(e, exp.Literal) or e.is_string:
            raise BindError(f"TABLESAMPLE {what} must be a non-negative number, got {e.sql()}{location(ts)}")
        return float(e.this)
    method = (ts.args.get("method").name if ts.args.get("method") is not None else "").lower()
    seed = ts.args.get("seed")  # sqlglot leaves False for "(bernoulli)" without a seed
    seed = int(number(seed, "seed")) if isinstance(seed, exp.Expression) else None
    percent, size = ts.args.get("percent"), ts.args.get("size")
    if ts.args.get("rows") is not None and size is None:
        size = ts.args.get("rows")
    if method not in ("", "bernoulli", "system", "reservoir"):
        raise NotSupportedError(f"TABLESAMPLE method {method.upper()} is not supported (BERNOULLI, "
                                f"SYSTEM, RESERVOIR){location(ts)}")
    if percent is not None:
        p = number(percent, "percentage")
        if p > 100:
            raise BindError(f"TABLESAMPLE percentage must be between 0 and 100, got {p:g}{location(ts)}")
        return SampleSpec(method if method in ("bernoulli", "system") else "system", percent=p, seed=seed)
    if size is None:
        raise BindError(f"TABLESAMPLE needs a size: n% or n ROWS{location(ts)}")
    n = number(size, "size")
    # as in DuckDB, a size without % is a row count: SYSTEM (5) is five rows, and BERNOULLI,
    # which decides row by row, cannot promise a count
    if method == "bernoulli":
        raise BindError(f"TABLESAMPLE BERNOULLI ({n:g}) asks for a row count, which BERNOULLI cannot "
                        f"give: write BERNOULLI ({n:g}%) for a percentage, or RESERVOIR ({n:g} ROWS)"
                        f"{location(ts)}")
    if n != int(n):
        raise BindError(f"TABLESAMPLE row count must be a whole number, got {n:g}{location(ts)}")
    return SampleSpec("system" if method == "system" else "reservoir", rows=int(n), seed=seed)
