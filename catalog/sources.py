"""Table sources: the one interface through which the engine reads data.

A source has a normalized Arrow ``schema`` (decimals as float64 except decimal128(38, 0), which is
HUGEINT; strings as ``string``; see
engine.plan.types for why), a row count when it is cheap to know, and ``scan(columns, prune)``
which yields record batches of just the requested columns. ``prune`` is a list of simple
``(column, op, value)`` conjuncts a source may use to skip data (Parquet row groups by their
min/max statistics); the engine still applies the full predicate to what comes back.
``take(positions, columns)`` is random access: the rows at 0-based positions of the scan order
(what a sample chosen up front reads, engine/physical/sample.py); every source has it, the
generic one scans and keeps the wanted rows, the others read only what holds them.
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from catalog.types import HUGEINT

BATCH_ROWS = 1 << 17
_PRUNE_OPS = {"eq", "lt", "lte", "gt", "gte"}


def _norm_type(t: pa.DataType) -> pa.DataType:
    if t == HUGEINT:  # exact 128-bit integers (DuckDB's HUGEINT); other decimals are DOUBLE
        return t
    if pa.types.is_decimal(t) or pa.types.is_float16(t):
        return pa.float64()
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_dictionary(t):
        return _norm_type(t.value_type)
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_timestamp(t) and t.unit != "us":
        return pa.timestamp("us", tz=t.tz)
    return t


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _norm_type(f.type), f.nullable) for f in schema])


def normalize_column(col, t: pa.DataType):
    """``col`` as its normalized type ``t``; nanosecond timestamps are truncated to Dawn's
    microseconds (Arrow's safe cast would refuse any value with nanoseconds)."""
    if col.type == t:
        return col
    safe = not (pa.types.is_timestamp(col.type) and pa.types.is_timestamp(t))
    return col.cast(t, safe=safe)


def normalize_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    cols = [normalize_column(c, f.type) for c, f in zip(batch.columns, schema)]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def normalize_table(table: pa.Table, schema: pa.Schema | None = None) -> pa.Table:
    schema = schema if schema is not None else normalize_schema(table.schema)
    if table.schema.equals(schema):
        return table
    cols = [normalize_column(c, f.type) for c, f in zip(table.columns, schema)]
    return pa.Table.from_arrays(cols, schema=schema)


@dataclass
class ScanStats:
    """What one scan read: shown by EXPLAIN ANALYZE."""
    bytes_read: int = 0
    rows_read: int = 0
    row_groups_total: int = 0
    row_groups_read: int = 0
    columns_read: list[str] = field(default_factory=list)


class TableSource:
    kind = "table"
    schema: pa.Schema

    def row_count(self) -> int | None:
        return None

    def scan(self, columns: list[str], prune: list[tuple[str, str, Any]] | None = None,
             stats: ScanStats | None = None) -> Iterator[pa.RecordBatch]:
        """Batches of ``columns``; ``prune`` may skip data, the engine re-checks everything.
        Sources that can avoid expensive work per row (video decoding) also accept
        ``pre_filter(batch of the cheap columns) -> row positions to keep``; those with
        ``late_materialization`` (Parquet) take the cheap columns as ``pre_columns``."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind

    # reading a row costs far more than choosing it (decoding a video frame): a sample of this
    # source picks its positions up front and takes them, rather than scanning and masking
    prefers_take = False

    def take(self, positions: np.ndarray, columns: list[str],
             stats: ScanStats | None = None) -> Iterator[pa.RecordBatch]:
        """The rows at ``positions`` (0-based in scan order, ascending), in that order, as
        batches of ``columns`` (at least one batch). This generic version scans and keeps them."""
        positions = np.asarray(positions, dtype=np.int64)
        offset, emitted = 0, False
        if len(positions):
            for b in self.scan(columns, None, stats):
                n = b.num_rows
                lo, hi = np.searchsorted(positions, [offset, offset + n])
                if hi > lo:
                    emitted = True
                    yield b.take(pa.array(positions[lo:hi] - offset))
                offset += n
                if hi == len(positions):
                    break
        if not emitted:
            yield empty_batch(pa.schema([self.schema.field(c) for c in columns]))


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def take_table(t: pa.Table, positions: np.ndarray, stats: ScanStats | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of an in-memory table at ``positions``, as batches (at least one)."""
    got = t.take(pa.array(np.asarray(positions, dtype=np.int64)))
    if stats is not None:
        stats.columns_read = list(t.column_names)
        stats.bytes_read += got.nbytes
    batches = got.to_batches(max_chunksize=BATCH_ROWS) if got.num_rows else []
    yield from batches or [empty_batch(t.schema)]


class ArrowSource(TableSource):
    """An in-memory Arrow table (or anything pyarrow can turn into one, e.g. a pandas frame)."""
    kind = "arrow"

    def __init__(self, data: Any):
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        elif not isinstance(data, pa.Table):
            if hasattr(data, "to_arrow"):          # polars, duckdb relations
                data = data.to_arrow()
            else:                                   # pandas
                data = pa.Table.from_pandas(data, preserve_index=False)
        self.raw_schema = data.schema  # the declared types (DESCRIBE shows DECIMAL(10,2), not DOUBLE)
        self.schema = normalize_schema(data.schema)
        self.table = normalize_table(data, self.schema)

    def row_count(self) -> int:
        return self.table.num_rows

    def scan(self, columns, prune=None, stats=None):
        t = self.table.select(columns)
        if stats is not None:
            stats.columns_read = list(columns)
            stats.bytes_read += t.nbytes
        if t.num_rows == 0:
            yield pa.RecordBatch.from_pylist([], schema=t.schema)
            return
        yield from t.to_batches(max_chunksize=BATCH_ROWS)

    def take(self, positions, columns, stats=None):
        return take_table(self.table.select(columns), positions, stats)


def _stat_value(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return None
    return v


def _comparable(a: Any, b: Any) -> bool:
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool):
        return True
    if isinstance(a, _dt.datetime) or isinstance(b, _dt.datetime):
        return isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime)
    return type(a) is type(b) or (isinstance(a, _dt.date) and isinstance(b, _dt.date))


def _may_match(lo: Any, hi: Any, op: str, v: Any) -> bool:
    """Can a row group whose column lies in [lo, hi] hold a row where ``col op v``?"""
    if lo is None or hi is None or not _comparable(lo, v) or not _comparable(hi, v):
        return True
    if op == "eq":
        return lo <= v <= hi
    if op == "lt":
        return lo < v
    if op == "lte":
        return lo <= v
    if op == "gt":
        return hi > v
    if op == "gte":
        return hi >= v
    return True


class ParquetSource(TableSource):
    """A Parquet file: reads only requested columns and skips row groups by min/max statistics."""
    kind = "parquet"

    def __init__(self, path: str):
        import pyarrow.parquet as pq
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        self.path = path
        self.file = pq.ParquetFile(path)
        self.raw_schema = self.file.schema_arrow
        self.schema = normalize_schema(self.raw_schema)
        self.meta = self.file.metadata
        self._col_index = {self.meta.schema.column(i).path: i for i in range(self.meta.num_columns)}
        self.dictionary_columns = self._low_cardinality_strings()
        if self.dictionary_columns:
            # decoding a dictionary-encoded string column as dictionary indices and then taking
            # the strings costs a tenth of decoding every value (TPC-H's flags and modes)
            self.file = pq.ParquetFile(path, read_dictionary=self.dictionary_columns)

    def _low_cardinality_strings(self) -> list[str]:
        """String columns stored dictionary-encoded, whose data pages hold only short indices and
        whose dictionary is small next to the rows: flags, modes, brands, not comments or keys."""
        out = []
        if self.meta.num_row_groups == 0:
            return out
        for f in self.raw_schema:
            if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                    or pa.types.is_string_view(f.type)):
                continue
            idx = self._col_index.get(f.name)
            if idx is None:
                continue
            values = size = dictionary = 0
            for rg in range(self.meta.num_row_groups):
                c = self.meta.row_group(rg).column(idx)
                if not c.has_dictionary_page or c.dictionary_page_offset is None:
                    break
                values += c.num_values
                dictionary += c.data_page_offset - c.dictionary_page_offset
                size += c.total_uncompressed_size
            else:
                # pages of indices (<= 2 bytes a value) and a dictionary far smaller than the rows
                if values and (size - dictionary) / values <= 2.0 and dictionary / values <= 1.0:
                    out.append(f.name)
        return out

    def row_count(self) -> int:
        return self.meta.num_rows

    def describe(self) -> str:
        return f"parquet {self.path}"

    def _keep(self, rg: int, prune) -> bool:
        g = self.meta.row_group(rg)
        for col, op, v in prune:
            idx = self._col_index.get(col)
            if idx is None or op not in _PRUNE_OPS:
                continue
            st = g.column(idx).statistics
            if st is None or not st.has_min_max:
                continue
            if not _may_match(_stat_value(st.min), _stat_value(st.max), op, v):
                return False
        return True

    def take(self, positions, columns, stats=None):
        """Reads only the row groups that hold a wanted row (found by the footer's row counts)."""
        schema = pa.schema([self.schema.field(c) for c in columns])
        positions = np.asarray(positions, dtype=np.int64)
        if stats is not None:
            stats.row_groups_total = self.meta.num_row_groups
            stats.columns_read = list(columns)
        sizes = [self.meta.row_group(rg).num_rows for rg in range(self.meta.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        cuts = np.searchsorted(positions, starts)  # positions[cuts[g]:cuts[g + 1]] lie in group g
        emitted = False
        for rg in range(len(sizes)):
            if cuts[rg] == cuts[rg + 1]:
                continue
            local = positions[cuts[rg]:cuts[rg + 1]] - starts[rg]
            if stats is not None:
                g = self.meta.row_group(rg)
                stats.row_groups_read += 1
                stats.bytes_read += sum(g.column(self._col_index[c]).total_compressed_size
                                        for c in columns if c in self._col_index)
            t = self.file.read_row_group(rg, columns=columns, use_threads=False)
            for b in take_table(t, local):
                if b.num_rows:
                    emitted = True
                    yield normalize_batch(b, schema)
        if not emitted:
            yield empty_batch(schema)

    # scan(pre_columns=..., pre_filter=...) decodes the other columns only where rows pass
    late_materialization = True

    def _account(self, stats: ScanStats | None, g, columns) -> None:
        if stats is not None:
            stats.bytes_read += sum(g.column(self._col_index[c]).total_compressed_size
                                    for c in columns if c in self._col_index)

    def _read(self, rg: int, columns: list[str]) -> pa.Table:
        t = self.file.read_row_group(rg, columns=list(dict.fromkeys(columns)), use_threads=False)
        return t.select(columns) if len(set(columns)) < len(columns) else t

    def scan(self, columns, prune=None, stats=None, pre_filter=None, pre_columns=None):
        """With ``pre_filter`` and ``pre_columns`` (some of ``columns``), each row group decodes
        ``pre_columns`` first and hands them to ``pre_filter`` as one batch, which returns the
        rows to keep: a BOOLEAN mask (a NULL drops the row), ascending positions, or ``None``
        for all. The other columns are decoded only for row groups that keep a row, and are
        filtered before they are normalized (late materialisation)."""
        schema = pa.schema([self.schema.field(c) for c in columns])
        n = self.meta.num_row_groups
        if stats is not None:
            stats.row_groups_total = n
            stats.columns_read = list(columns)
        pre = set(pre_columns or ()) if pre_filter is not None else set()
        first = [c for c in dict.fromkeys(columns) if c in pre]
        rest = [c for c in dict.fromkeys(columns) if c not in pre]
        if not rest:
            first = []
        first_schema = pa.schema([self.schema.field(c) for c in first])
        emitted = False
        for rg in range(n):
            if prune and not self._keep(rg, prune):
                continue
            g = self.meta.row_group(rg)
            if stats is not None:
                stats.row_groups_read += 1
            if first:
                b = self._read_late(rg, first, first_schema, rest, columns, schema, pre_filter,
                                    stats)
                parts = [] if b is None else [b.slice(s, BATCH_ROWS)
                                              for s in range(0, b.num_rows, BATCH_ROWS)]
            else:
                self._account(stats, g, columns)
                parts = self._read(rg, columns).to_batches(max_chunksize=BATCH_ROWS)
            for b in parts:
                emitted = True
                yield normalize_batch(b, schema)
        if not emitted:
            yield pa.RecordBatch.from_pylist([], schema=schema)

    def _read_late(self, rg: int, first: list[str], first_schema: pa.Schema, rest: list[str],
                   columns: list[str], schema: pa.Schema, pre_filter, stats) -> pa.RecordBatch | None:
        """Row group ``rg``'s rows that ``pre_filter`` keeps, as one batch of ``columns`` (the
        decimals and dictionaries among ``rest`` not yet normalized), or None if it keeps none."""
        g = self.meta.row_group(rg)
        self._account(stats, g, first)
        head = normalize_table(self._read(rg, first), first_schema)
        if not head.num_rows:
            return None
        got = {name: _one_chunk(c) for name, c in zip(head.column_names, head.columns)}
        keep = pre_filter(pa.RecordBatch.from_arrays([got[c] for c in first], schema=first_schema))
        mask = keep is not None and pa.types.is_boolean(keep.type)
        kept = head.num_rows if keep is None else keep.true_count if mask else len(keep)
        if not kept:
            return None  # no row of this group passes: its other columns are never decoded
        self._account(stats, g, rest)
        tail = self._read(rg, rest)
        for name, c in zip(tail.column_names, tail.columns):
            # decimals and dictionaries are cast after the filter, for the kept rows only;
            # Arrow cannot filter string views, so those are cast before
            if not (pa.types.is_decimal(c.type) or pa.types.is_dictionary(c.type)):
                c = normalize_column(c, self.schema.field(name).type)
            got[name] = _one_chunk(c)
        b = pa.RecordBatch.from_arrays([got[c] for c in columns], names=[f.name for f in schema])
        if kept < head.num_rows:  # one call over all columns: Arrow reads the selection once
            b = b.filter(keep) if mask else b.take(keep)
        return b


def _one_chunk(c: pa.ChunkedArray) -> pa.Array:
    return c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()


def read_csv(path: str, delimiter: str = ",", header: bool = True) -> pa.Table:
    """A CSV file as Arrow, with DuckDB's reading of empty fields: an empty field, quoted
    (``""``) or not, is NULL in every column type, strings included, and nothing else is
    (Arrow's default also reads ``NA``, ``null``, ``NaN``, ``N/A``... as NULL, and an empty
    string field as ``''``). A column of empty fields only is VARCHAR, as DuckDB infers it."""
    import pyarrow.csv as pcsv
    read = pcsv.ReadOptions(autogenerate_column_names=not header)
    parse = pcsv.ParseOptions(delimiter=delimiter)
    convert = pcsv.ConvertOptions(null_values=[""], strings_can_be_null=True,
                                  quoted_strings_can_be_null=True)
    table = pcsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):  # a column of empty fields only is VARCHAR in DuckDB
            table = table.set_column(i, pa.field(f.name, pa.string()), pa.nulls(table.num_rows, pa.string()))
    return table


class CSVSource(TableSource):
    """A CSV file with a header row; types are inferred by Arrow's CSV reader."""
    kind = "csv"

    def __init__(self, path: str, delimiter: str = ",", header: bool = True):
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        self.path = path
        table = read_csv(path, delimiter, header)
        self.schema = normalize_schema(table.schema)
        self.table = normalize_table(table, self.schema)

    def row_count(self) -> int:
        return self.table.num_rows

    def describe(self) -> str:
        return f"csv {self.path}"

    def scan(self, columns, prune=None, stats=None):
        t = self.table.select(columns)
        if stats is not None:
            stats.columns_read = list(columns)
            stats.bytes_read += t.nbytes
        if t.num_rows == 0:
            yield pa.RecordBatch.from_pylist([], schema=t.schema)
            return
        yield from t.to_batches(max_chunksize=BATCH_ROWS)

    def take(self, positions, columns, stats=None):
        return take_table(self.table.select(columns), positions, stats)
