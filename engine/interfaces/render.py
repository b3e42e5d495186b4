"""Result rendering: the one renderer every interface uses (the ``dawn`` command, ``dawn demo``,
``dawn runs``; later the shell and notebook display).

A table renders as DuckDB renders it in its command line's default "duckbox" mode (DuckDB 2.0's
box renderer, ``src/common/box_renderer.cpp``, checked against ``Relation.show()``): a
box-drawing grid with the column names over their types; each value as DuckDB's own text of it
(``CAST(v AS VARCHAR)``: doubles at full, shortest round-trip precision such as 0.1 and
0.3333333333333333); numbers right-aligned, everything else left-aligned; NULL as ``NULL``;
control characters escaped (``\\n``, ``\\t``, ...) so each row stays one line. Past ``max_rows``
only the first and last rows are shown, with ``·`` rows between; past ``max_width`` the widest
columns are levelled down first, then middle columns are dropped for a ``…`` column. Under the
grid, the row count when rows are hidden, the result is empty or has ten rows or more, and the
column count when columns are hidden.

One difference: a value too long for its column is cut with ``…``, where DuckDB 2.0 wraps it
onto further lines while it has rows to spare (DuckDB 1.x cut it too).

Nothing here needs a terminal: callers pass the width (``output_width()`` reads the terminal's,
or 120 without one).
"""
from __future__ import annotations

import shutil
import threading
import unicodedata
from dataclasses import dataclass

import pyarrow as pa

MAX_ROWS = 40          # DuckDB's .maxrows default
MAX_COL_WIDTH = 20     # how narrow a long column may be made before columns are dropped
DEFAULT_WIDTH = 120    # the width without a terminal (DuckDB's box renderer uses the same)
MIN_WIDTH = 80         # DuckDB renders no narrower

_H, _V = "─", "│"
_DOTS, _DOT = "…", "·"
LEFT, MIDDLE, RIGHT = "left", "middle", "right"


def output_width() -> int:
    """The width to render for: the terminal's ($COLUMNS first), else DEFAULT_WIDTH."""
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


# ---- types
_INT_NAMES = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}


def type_name(t: pa.DataType) -> str:
    """The type line of a column as DuckDB writes it (int32, varchar, double, int64[], ...)."""
    from engine.plan.types import HUGEINT, sql_name
    if t == HUGEINT:
        return "int128"
    if pa.types.is_signed_integer(t):
        return _INT_NAMES[t.bit_width]
    if pa.types.is_unsigned_integer(t):
        return "u" + _INT_NAMES[t.bit_width]
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "varchar"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if isinstance(t, pa.BaseExtensionType):
        return sql_name(t).lower()
    if pa.types.is_dictionary(t):
        return type_name(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return type_name(t.value_type) + "[]"
    if pa.types.is_struct(t):
        return "struct(" + ", ".join(f"{f.name} {type_name(f.type)}" for f in t) + ")"
    return sql_name(t).lower()


def is_number(t: pa.DataType) -> bool:
    """Whether values of ``t`` are right-aligned (DuckDB: integers, decimals, floats)."""
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


# ---- values as text
_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 27: "\\e"}


def escape(s: str) -> str:
    """Control characters written out (a newline as ``\\n``) so a value stays on its row."""
    if s.isprintable():
        return s
    return "".join(_ESCAPES.get(ord(c), f"\\{ord(c)}") if ord(c) < 32 else c for c in s)


_duck = None
_duck_lock = threading.Lock()


def _duck_texts(columns: list) -> list[list[str | None]]:
    """DuckDB's text of each value (what its box renderer shows): one query over the columns."""
    global _duck
    import duckdb
    t = pa.table({f"c{i}": c for i, c in enumerate(columns)})
    with _duck_lock:
        if _duck is None:
            _duck = duckdb.connect()
        rows = _duck.from_arrow(t).project(
            ", ".join(f"CAST(c{i} AS VARCHAR)" for i in range(len(columns)))).fetchall()
    return [list(c) for c in zip(*rows)] if rows else [[] for _ in columns]


def _python_text(v) -> str | None:
    """The fallback for a value DuckDB cannot read: close to DuckDB's text of it."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)      # shortest round-trip, as DuckDB writes a DOUBLE
    if isinstance(v, (bytes, bytearray)):
        return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in v)
    return str(v)


def column_texts(table: pa.Table) -> list[list[str | None]]:
    """Each column's values as text (None for NULL), column by column."""
    out: list = [None] * table.num_columns
    via_duck = []
    for i, col in enumerate(table.columns):
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            out[i] = col.to_pylist()
        elif isinstance(t, pa.FixedShapeTensorType):
            # a frame is a few hundred thousand numbers: show its shape, not its contents
            label = f"tensor {'x'.join(map(str, t.shape))} {t.value_type}"
            out[i] = [None if v is None else label for v in col.is_valid().to_pylist()]
        elif isinstance(t, pa.BaseExtensionType):
            out[i] = [_python_text(v) for v in col.to_pylist()]
        else:
            via_duck.append(i)
    if via_duck:
        try:
            texts = _duck_texts([table.column(i) for i in via_duck])
        except Exception:   # a type DuckDB cannot read: each column on its own, else in Python
            texts = []
            for i in via_duck:
                try:
                    texts.append(_duck_texts([table.column(i)])[0])
                except Exception:
                    texts.append([_python_text(v) for v in table.column(i).to_pylist()])
        for i, tx in zip(via_duck, texts):
            out[i] = tx
    return out


# ---- widths
def display_width(s: str) -> int:
    """Terminal columns ``s`` takes: wide East Asian characters count two, combining marks none."""
    if s.isascii():
        return len(s)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in s)


def _truncate(s: str, width: int) -> tuple[str, int]:
    """``s`` cut to ``width`` columns, its last one a "…"; and its new width."""
    if s.isascii():
        keep = max(width - 1, 0)
        return s[:keep] + _DOTS, keep + 1
    out, used = [], 0
    for c in s:
        w = display_width(c)
        if used + w + 1 > width:
            break
        out.append(c)
        used += w
    return "".join(out) + _DOTS, used + 1


@dataclass
class _Cell:
    text: str
    align: str
    width: int = -1

    def __post_init__(self) -> None:
        if self.width < 0:
            self.width = display_width(self.text)


_SEP, _DIVIDER = "separator", "divider"


class _Footer:
    """The row and column counts under the grid (DuckDB's BoxRendererFooter)."""

    def __init__(self, row_count: int, shown: int, ncols: int, readable: bool):
        self.row_count, self.ncols = row_count, ncols
        self.rows = f"{row_count} rows"
        self.columns = f"{ncols} column" + ("s" if ncols > 1 else "")
        self.readable = ""
        if readable:
            r = readable_number(str(row_count))
            self.readable = f"{r} rows" if r else ""
        self.hidden_rows = shown < row_count
        self.shown = f"{shown} shown" if self.hidden_rows else ""
        self.hidden_columns = False
        self.must_show = self.hidden_rows or row_count == 0
        self.length = max(len(self.rows), len(self.shown) + 2, len(self.readable) + 2) + 4


def readable_number(numeric: str) -> str:
    """'6001215' -> '6.00 million' (DuckDB's large-number rendering), '' below a million."""
    if len(numeric) <= 5:
        return ""
    neg = numeric.startswith("-")
    digits = numeric[1:] if neg else numeric
    digits = digits.split(".", 1)[0]
    if not digits.isdigit() or len(digits) > 19:
        return ""
    number = int(digits)
    base, unit = 0, ""
    for b, name in ((10**6, "million"), (10**9, "billion"), (10**12, "trillion"),
                    (10**15, "quadrillion"), (10**18, "quintillion")):
        if number + b // 200 >= b:
            base, unit = b, name
    if not unit:
        return ""
    dec = str((number + base // 200) // (base // 100))
    return f"{'-' if neg else ''}{dec[:-2]}.{dec[-2:]} {unit}"


# ---- the grid
def _shown_rows(row_count: int, max_rows: int) -> tuple[int, int]:
    """How many rows of a result the grid shows from its top and from its bottom."""
    to_render = row_count if row_count <= max_rows + 3 else min(row_count, max_rows)
    top = to_render if to_render == row_count else (to_render + 1) // 2
    return top, to_render - top


def render_table(table: pa.Table, max_rows: int = MAX_ROWS, max_width: int | None = None,
                 max_col_width: int = MAX_COL_WIDTH, readable_numbers: bool = False,
                 total_rows: int | None = None) -> str:
    """``table`` as DuckDB's duckbox grid (see the module docstring). ``max_width`` defaults to
    ``output_width()``; ``readable_numbers`` adds DuckDB's terminal-only "(6.00 million)" line
    under a one-row numeric result and beside large row counts. With ``total_rows``, ``table``
    holds only the rows shown (the top ones, then the bottom ones) of a result that long."""
    ncols = table.num_columns
    if ncols == 0:
        return ""
    max_width = max(MIN_WIDTH, max_width or output_width())
    types = [f.type for f in table.schema]
    row_count = table.num_rows if total_rows is None else total_rows
    top, bottom = _shown_rows(row_count, max_rows)
    footer = _Footer(row_count, top + bottom, ncols, readable_numbers)

    if total_rows is not None:
        shown = table
    else:
        shown = table.slice(0, top) if not bottom else pa.concat_tables(
            [table.slice(0, top), table.slice(row_count - bottom, bottom)])
    texts = column_texts(shown)
    aligns = [RIGHT if is_number(t) else LEFT for t in types]

    def cell(c: int, v: str | None) -> _Cell:
        if v is None:
            return _Cell("NULL", aligns[c])
        return _Cell(v if is_number(types[c]) else escape(v), aligns[c])

    value_rows = [[cell(c, texts[c][r]) for c in range(ncols)] for r in range(top + bottom)]
    if readable_numbers and row_count == 1 and all(is_number(t) for t in types):
        extra = [readable_number(c.text) for c in value_rows[0]]
        if all(extra):
            value_rows.append([_Cell(f"({x})", MIDDLE) for x in extra])
            for c in value_rows[0]:
                c.align = MIDDLE
    rows: list = [[_Cell(escape(n), MIDDLE) for n in table.column_names],
                  [_Cell(type_name(t), MIDDLE) for t in types]]
    if value_rows:
        rows.append(_SEP)
        rows.extend(value_rows[:len(value_rows) - bottom])
        if bottom:
            rows.append(_DIVIDER)
            rows.extend(value_rows[len(value_rows) - bottom:])

    widths = [max(r[c].width for r in rows if isinstance(r, list)) for c in range(ncols)]
    widths, rows = _fit(widths, rows, footer, max_width, max_col_width)
    return _draw(widths, rows, footer)


def _fit(widths: list[int], rows: list, footer: _Footer, max_width: int, max_col_width: int):
    """Column widths within ``max_width``: stretch the first column for the footer; shorten the
    widest columns, levelling them down (never below ``max_col_width``); if that is not enough,
    drop middle columns for a "…" column (DuckDB's order)."""
    ncols = len(widths)
    total = 1 + sum(w + 3 for w in widths)
    min_width = footer.length if footer.must_show else 0
    if total < min_width:
        widths[0] += min_width - total
        total = min_width
    pruned: set[int] = set()
    if total > max_width:
        original = list(widths)
        budget = max_width - 1 - 3 * ncols
        if sum(min(w, max_col_width) for w in widths) <= budget:
            widths = _level(widths, budget)
        else:
            widths = [min(w, max_col_width) for w in widths]
            total = 1 + sum(w + 3 for w in widths) + 3 + 1     # with the "…" column
            offset = 0
            while total > max_width:     # zig-zag out from the middle column
                c = ncols // 2 + offset
                if not 0 <= c < ncols or len(pruned) >= ncols - 1:
                    break
                if c not in pruned:
                    total -= widths[c] + 3
                    pruned.add(c)
                offset = -offset - 1 if offset >= 0 else -offset
            space = max_width - total
            for c in range(ncols):
                if space <= 0:
                    break
                if c in pruned or widths[c] >= original[c]:
                    continue
                grow = min(space, original[c] - widths[c])
                widths[c] += grow
                space -= grow
    if pruned:
        footer.hidden_columns = True
        footer.columns += f" ({ncols - len(pruned)} shown)"
        keep: list[int | None] = []
        for c in range(ncols):
            if c not in pruned:
                keep.append(c)
            elif None not in keep:
                keep.append(None)
        widths = [1 if c is None else widths[c] for c in keep]
        rows = [r if not isinstance(r, list) else
                [_Cell(_DOTS, MIDDLE, 1) if c is None else r[c] for c in keep] for r in rows]
    return widths, rows


def _level(widths: list[int], budget: int) -> list[int]:
    """Widths summing to ``budget``: columns narrower than their fair share keep their width, the
    others share the rest equally, the narrower ones first taking what does not divide evenly."""
    order = sorted(range(len(widths)), key=lambda c: widths[c])
    out = list(widths)
    for i, c in enumerate(order):
        if widths[c] <= budget // (len(order) - i):
            budget -= widths[c]
            continue
        rest = order[i:]
        level, extra = divmod(budget, len(rest))
        for j, c2 in enumerate(rest):
            out[c2] = level + (1 if j < extra else 0)
        break
    return out


def _divider(widths: list[int], prev: list[_Cell], nxt: list[_Cell]) -> list[list[_Cell]]:
    """The three "·" rows between the first and the last rows, each dot in the middle of the
    shorter of its neighbours."""
    row = []
    for c, w in enumerate(widths):
        align = prev[c].align
        text = _DOT
        if w == 1 and prev[c].text == _DOTS:      # the column standing for the dropped ones
            text = _DOTS
        elif align != MIDDLE:
            top, bot = min(w, prev[c].width), min(w, nxt[c].width)
            n = top if bot == 0 else bot if top == 0 else min(top, bot)
            if n > 1:
                pad = n - 1
                if align == LEFT:
                    lp = pad // 2
                    text = " " * lp + _DOT + " " * (pad - lp)
                else:
                    rp = pad // 2
                    text = " " * (pad - rp) + _DOT + " " * rp
            elif n == 0:
                align = MIDDLE
        row.append(_Cell(text, align))
    return [row, row, row]


def _value(cell: _Cell, width: int) -> str:
    text, w = cell.text, cell.width
    if w > width:
        text, w = _truncate(text, width)
    pad = width - w + 2
    left = 1 if cell.align == LEFT else pad // 2 if cell.align == MIDDLE else pad - 1
    return _V + " " * left + text + " " * (pad - left)


def _line(widths: list[int], fill: str, cross: str, left: str, right: str) -> str:
    return left + cross.join(fill * (w + 2) for w in widths) + right


def _draw(widths: list[int], rows: list, footer: _Footer) -> str:
    out = [_line(widths, _H, "┬", "┌", "┐")]
    for i, r in enumerate(rows):
        if r is _SEP:
            out.append(_line(widths, _H, "┼", "├", "┤"))
        elif r is _DIVIDER:
            for d in _divider(widths, rows[i - 1], rows[i + 1]):
                out.append("".join(_value(x, w) for x, w in zip(d, widths)) + _V)
        else:
            out.append("".join(_value(x, w) for x, w in zip(r, widths)) + _V)
    out.append(_line(widths, _H, "┴", "└", "┘"))
    out.extend(_footer_lines(widths, footer))
    return "\n".join(out)


def _footer_lines(widths: list[int], f: _Footer) -> list[str]:
    """The counts under the grid, centred on it (with hidden columns: rows left, columns right)."""
    total = 1 + sum(w + 3 for w in widths)
    both = total >= len(f.rows) + len(f.columns) + 6 and (
        (f.hidden_columns and f.row_count > 0) or (f.row_count >= 10 and f.ncols > 1))
    rows_only = total >= f.length and (f.row_count == 0 or f.row_count >= 10)
    if not both and not rows_only:
        return []
    pad = total - len(f.rows) - 4 - (len(f.columns) if both else 0)
    readable, shown = f.readable, f.shown
    extra = ""
    size = len(readable) + len(shown) + (3 if not readable else 5)
    if f.hidden_rows and pad >= size:
        extra = " (" + (readable + ", " if readable else "") + shown + ")"
        pad -= size
        readable = shown = ""
    if both:
        out = ["  " + f.rows + extra + " " * pad + f.columns]
    else:
        out = ["  " + " " * (pad // 2) + f.rows + extra + " " * (pad - pad // 2)]
    if readable and shown and len(readable) + len(shown) + 4 <= total:
        out.append(f"  {readable}{' ' * (total - len(readable) - len(shown) - 4)}{shown}")
        readable = shown = ""
    for s in (readable, shown):
        if s:
            out.append(" " + _value(_Cell(f"({s})", LEFT if both else MIDDLE), total - 4)[1:])
    return out


def render_result(result, max_rows: int = MAX_ROWS, max_width: int | None = None,
                  readable_numbers: bool = False) -> str:
    """A statement's Result (engine/session.py) as text: EXPLAIN's plan as plain text, a result
    set as a grid, nothing for a statement without one (DDL and DML print nothing, as in DuckDB)."""
    if getattr(result, "plan_text", None) is not None:
        return result.plan_text
    stream = getattr(result, "stream", None)
    if stream is None:
        return ""
    shown, total = head_and_tail(stream, max_rows)
    return render_table(shown, max_rows=max_rows, max_width=max_width,
                        readable_numbers=readable_numbers, total_rows=total)


def head_and_tail(batches, max_rows: int = MAX_ROWS) -> tuple[pa.Table, int]:
    """Read a result stream once, keeping only the rows the grid shows (its first ones and a
    rolling window of its last ones): a long result prints in bounded memory. Returns those
    rows and the result's row count."""
    schema = batches.schema
    head: list[pa.RecordBatch] = []
    tail: list[pa.RecordBatch] = []
    n_head = n_tail = total = 0
    keep_head = max_rows + 3          # enough to show a short result whole
    keep_tail = _shown_rows(1 << 62, max_rows)[1]
    for b in batches:
        total += b.num_rows
        if n_head < keep_head:
            take = b.slice(0, keep_head - n_head)
            head.append(take)
            n_head += take.num_rows
            b = b.slice(take.num_rows)
        if b.num_rows and keep_tail:
            tail.append(b.slice(max(0, b.num_rows - keep_tail)))
            n_tail += tail[-1].num_rows
            while tail and n_tail - tail[0].num_rows >= keep_tail:
                n_tail -= tail.pop(0).num_rows
    if len(schema) == 0:
        return pa.table({"__n": pa.nulls(0)}).select([]), total
    top, bottom = _shown_rows(total, max_rows)
    rows = pa.Table.from_batches(head, schema=schema) if head else schema.empty_table()
    if not bottom:
        return rows.slice(0, top), total
    # the bottom rows: from the rolling tail, or (a result just past the head) from the head
    end = pa.concat_tables([rows] + ([pa.Table.from_batches(tail, schema=schema)] if tail else []))
    return pa.concat_tables([rows.slice(0, top), end.slice(end.num_rows - bottom, bottom)]), total


def render_rich(table: pa.Table, total_rows: int, max_rows: int = MAX_ROWS, console=None) -> None:
    """``table`` (the rows ``head_and_tail`` kept) printed as a rich table on a terminal: the
    shell's box mode. The same cell texts as the duckbox grid (``column_texts``), the names over
    their types, numbers right-aligned, NULL dimmed, a ``·`` row where rows are hidden, and the
    row count under the table when rows are hidden, the result is empty or long."""
    from rich import box
    from rich.table import Table
    from rich.text import Text
    top, bottom = _shown_rows(total_rows, max_rows)
    shown = table.num_rows
    t = Table(box=box.ROUNDED, header_style="bold", show_lines=False)
    for f in table.schema:
        t.add_column(f"{f.name}\n[dim]{type_name(f.type)}[/dim]",
                     justify="right" if is_number(f.type) else "left", overflow="ellipsis",
                     max_width=max(MAX_COL_WIDTH, 60))
    texts = column_texts(table) if table.num_columns else []

    def row(i: int) -> list:
        return [Text("NULL", style="dim") if col[i] is None else Text(escape(col[i])) for col in texts]
    for i in range(min(top, shown)):
        t.add_row(*row(i))
    if bottom:
        t.add_row(*[Text(_DOT, style="dim") for _ in texts])
        for i in range(top, shown):
            t.add_row(*row(i))
    console.print(t)
    if shown < total_rows or total_rows == 0 or total_rows >= 10:   # one line, however narrow
        console.print(f"{total_rows} rows" + (f" ({shown} shown)" if shown < total_rows else ""),
                      style="dim italic", soft_wrap=True, highlight=False)
