"""Built-in scalar functions and operators: their type rules and their vectorized kernels.

One table, ``FUNCTIONS``, maps a name to a ``Function``: an arity range, a rule that computes the
result type from argument types (raising TypeMismatchError when they do not fit), and a kernel over
Arrow arrays/scalars built on pyarrow.compute and numpy. Semantics follow DuckDB; where Dawn differs
(DECIMAL is DOUBLE), engine.plan.types says so. ``registry.py`` holds the table; each other module
registers one family of functions.
"""
from engine.plan.functions import (  # noqa: F401 (they register)
    arithmetic,
    datefmt,
    dates,
    formatting,
    hashing,
    lists,
    logic,
    numeric,
    regexps,
    strings,
    structs,
)
from engine.plan.functions.dates import date_part
from engine.plan.functions.registry import (
                                            ALIASES,
                                            FUNCTIONS,
                                            Function,
                                            is_scalar,
                                            lookup,
                                            register,
                                            scalar_py,
)

__all__ = ["ALIASES", "FUNCTIONS", "Function", "date_part", "is_scalar", "lookup", "register",
           "scalar_py"]
