"""Lists and structs as DuckDB writes them as text: ``[1, 2, NULL]``, ``{'a': 1, 'b': x}``.

Elements are written as their own text; a scalar element's text is quoted ('...', with ' and \\
escaped) when it is empty, starts or ends with white space, equals NULL in any case or contains
one of , [ ] { } ' " : \\ -- the rule of DuckDB's nested-value printer. Rows are joined with Arrow's
list kernels, never one by one.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.plan.functions.registry import Value, is_scalar

_NEEDS_QUOTES = r"""^$|^\s|\s$|^(?i:null)$|[,\[\]{}'":\\]"""


def _element_text(child: pa.Array) -> pa.Array:
    from engine.plan.functions.textcast import to_text
    t = child.type
    s = to_text(child)
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t)):
        quote = pc.fill_null(pc.match_substring_regex(s, _NEEDS_QUOTES), False)
        escaped = pc.replace_substring(pc.replace_substring(s, "\\", "\\\\"), "'", "\\'")
        s = pc.if_else(quote, pc.binary_join_element_wise("'", escaped, "'", ""), s)
    return pc.fill_null(s, "NULL")


def nested_to_text(v: Value) -> Value:
    arr = pa.array([v.as_py()], v.type) if is_scalar(v) else v
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_struct(t):
        parts = []
        for i, f in enumerate(t):
            name = "'" + f.name.replace("\\", "\\\\").replace("'", "\\'") + "': "
            parts.append(pc.binary_join_element_wise(name, _element_text(pc.struct_field(arr, [i])), ""))
        body = pc.binary_join_element_wise(*parts, ", ") if parts else pa.repeat(pa.scalar(""), len(arr))
        out = pc.binary_join_element_wise("{", body, "}", "")
    else:
        texts = _element_text(arr.values)
        lists = pa.ListArray.from_arrays(arr.offsets, texts,
                                         mask=pc.is_null(arr) if arr.null_count else None)
        out = pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
    if arr.null_count:
        out = pc.if_else(pc.is_valid(arr), out, pa.scalar(None, pa.string()))
    return out[0] if is_scalar(v) else out
