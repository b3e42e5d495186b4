"""Which registry names a user can call: the built-in functions by their SQL names, without the
operators the binder reaches under internal names (``and``, ``eq``, ``concat_op``...).

Error messages draw their "Did you mean" suggestions from here, so that a typo is never answered
with an operator's internal name (``random`` must not suggest ``and``).
"""
from __future__ import annotations

from engine.plan.functions.registry import ALIASES, FUNCTIONS

# registry entries that stand for operators or binder-internal forms, not callable by name
OPERATORS = frozenset({
    "add", "subtract", "multiply", "divide", "intdiv", "negate", "mod_fn", "concat_op",
    "eq", "neq", "lt", "lte", "gt", "gte", "is_distinct", "is_not_distinct", "and", "or", "not",
    "is_null", "is_not_null", "is_true", "is_false", "like", "ilike", "not_like", "not_ilike",
    "single_row_value", "list_index", "struct_field", "cast_text",
})


def user_function_names() -> list[str]:
    """Every scalar function name (and alias) a user may write."""
    names = [n for n in FUNCTIONS if n not in OPERATORS]
    names += [a for a, target in ALIASES.items() if a not in OPERATORS]
    return sorted(set(names))


# functions whose value changes from row to row or call to call (or that change state): never
# folded to constants, and their kernels take the batch's row count (``rows=``)
VOLATILE = frozenset({"random", "setseed"})
