"""unnest(list): in a select list (after aggregation and windows, before the output columns) and
in FROM, alone or after the tables whose columns it reads (``FROM t, unnest(t.l) AS u(x)``)."""
from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError
from engine.plan.expressions import ColumnRef, Expr, Literal, new_column
from engine.plan.nodes import Node, Unnest, Values
from engine.sql.parser import location


def element_type(arg: Expr, node: exp.Expression) -> pa.DataType:
    t = arg.dtype
    if pa.types.is_null(t):
        return pa.null()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return t.value_type
    from engine.plan.types import sql_name
    raise BindError(f"unnest() needs a list, got {sql_name(t)}{location(node)}")


def unnest_column(lists: list[tuple[ColumnRef, Expr]], arg: Expr, node: exp.Expression) -> ColumnRef:
    """The element column for unnest(arg), registered in ``lists`` (once per distinct list)."""
    for ref, e in lists:
        if e == arg:
            return ref
    t = element_type(arg, node)
    if pa.types.is_null(t):
        arg = Literal(None, pa.list_(pa.int32()))
        t = pa.int32()
    ref = new_column("unnest", t)
    lists.append((ref, arg))
    return ref


def bind_from_unnest(binder, node: exp.Unnest, scope, left: Node | None):
    """FROM unnest(list): over the preceding FROM items when it reads their columns, else over one
    empty row. Returns (plan, entries of the new column)."""
    if len(node.expressions) != 1:
        raise NotSupportedError(f"unnest() in FROM takes one list{location(node)}")
    if node.args.get("offset") or node.args.get("explode_array"):
        raise NotSupportedError(f"unnest() WITH ORDINALITY / OFFSET is not supported{location(node)}")
    arg = binder.bind_expr(node.expressions[0], scope)
    alias = node.args.get("alias")
    name = "unnest"
    if alias is not None:
        cols = alias.args.get("columns") or []
        if len(cols) > 1:
            raise BindError(f"unnest() produces one column, {len(cols)} names were given{location(node)}")
        name = cols[0].name if cols else (alias.name or name)
    t = element_type(arg, node)
    if pa.types.is_null(t):
        arg, t = Literal(None, pa.list_(pa.int32())), pa.int32()
    ref = new_column(name, t)
    local = {e.ref.cid for e in scope.entries}
    if left is not None and arg.columns() & local:
        return Unnest(left, ((ref, arg),)), ref, True
    if arg.columns() & local:
        raise BindError(f"unnest() reads a column of a table joined after it{location(node)}")
    return Unnest(Values(((),), ()), ((ref, arg),)), ref, False
