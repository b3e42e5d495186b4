"""Selectivity of predicates from column statistics (what fraction of rows pass).

``estimate_selectivity(e, stats_of, udf)`` reads the statistics of the column an operand names
through ``stats_of(expr) -> ColumnStats | None``:

- ``col op constant`` (<, <=, >, >=): uniform interpolation between the column's min and max;
  numbers, dates and timestamps by value, strings by their leading characters. Bounds on the same
  column in one conjunction form one range (``x >= 5 AND x <= 7`` is not two independent
  halves). With ``d`` distinct values the range ``[a, b]`` holds ``((b - a) / (max - min)) *
  (d - 1) + 1`` of them (one fewer per open end), exact for evenly spaced values such as
  TPC-H's discounts and quantities.
- ``col = constant``: ``1 / d`` (0 outside [min, max]); ``<>`` the rest; ``col = col``:
  ``1 / max(d1, d2)``.
- IS [NOT] NULL: the NULL fraction. IN lists: the sum of their equalities. LIKE 'abc%': the
  range of strings starting with the prefix; a pattern without wildcards is an equality.
- AND multiplies (after merging ranges), OR is ``a + b - ab``, NOT is ``1 - s``.
- A predicate calling a UDF whose pass rate was measured (catalog statistics, or a profile)
  uses it.

Comparisons and equalities also exclude the column's NULLs. Where the statistics say nothing,
the System-R defaults of ``engine.optimizer.cost.selectivity`` apply.
"""
from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Callable
from typing import Any

from engine.plan.expressions import Call, Cast, ColumnRef, Expr, InList, Literal, UdfCall, conjuncts

_FLIP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}
_EPOCH = _dt.datetime(1970, 1, 1)


def _family(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, decimal.Decimal)):
        return "num"
    if isinstance(v, (_dt.date, _dt.datetime)):
        return "time"
    if isinstance(v, str):
        return "str"
    return None


def _num(v: Any) -> float | None:
    """A value on the line that interpolation measures (dates and timestamps in seconds)."""
    fam = _family(v)
    if fam == "num":
        return float(v)
    if fam == "time":
        if isinstance(v, _dt.datetime):
            return v.timestamp() if v.tzinfo is not None else (v - _EPOCH).total_seconds()
        return (v - _EPOCH.date()).days * 86400.0
    if fam == "str":
        out, scale = 0.0, 1.0
        for ch in v[:8]:
            scale /= 257.0
            out += min(ord(ch), 256) * scale
        return out
    return None


def _column(e: Expr) -> ColumnRef | None:
    while isinstance(e, Cast):
        e = e.arg
    return e if isinstance(e, ColumnRef) else None


def _constant(e: Expr) -> Any:
    """The value of a constant operand (``None`` for NULL and anything not constant)."""
    while isinstance(e, Cast) and isinstance(e.arg, Literal):
        e = e.arg
    return e.value if isinstance(e, Literal) else None


class _Estimator:
    def __init__(self, stats_of: Callable, udf: Callable | None):
        self.stats_of = stats_of
        self.udf = udf

    # ---- helpers
    def _stats(self, e: Expr):
        col = _column(e)
        return None if col is None else self.stats_of(col)

    def _bound(self, p: Expr):
        """``(column id, stats, op, value)`` for ``col op constant`` with usable min/max."""
        if not (isinstance(p, Call) and p.fn in _FLIP and len(p.args) == 2):
            return None
        a, b = p.args
        op = p.fn
        if _column(a) is None:
            a, b, op = b, a, _FLIP[op]
        col, v = _column(a), _constant(b)
        if col is None or v is None:
            return None
        st = self.stats_of(col)
        if st is None or _family(st.min) is None or _family(st.min) != _family(v) \
                or _family(st.max) != _family(v):
            return None
        return col.cid, st, op, v

    @staticmethod
    def _range(st, lo: Any, lo_incl: bool, hi: Any, hi_incl: bool) -> float:
        mn, mx = _num(st.min), _num(st.max)
        a = _num(lo) if lo is not None else None
        b = _num(hi) if hi is not None else None
        keep = 1.0 - st.null_fraction
        if a is None or a < mn:
            a, lo_incl = mn, True
        if b is None or b > mx:
            b, hi_incl = mx, True
        if a > b or (a == b and not (lo_incl and hi_incl)):
            return 0.0
        if mx == mn:
            return keep
        frac = (b - a) / (mx - mn)
        d = st.distinct
        if d is not None and d >= 1:
            ends = (1 if lo_incl else 0) + (1 if hi_incl else 0) - 1
            frac = (frac * (d - 1) + ends) / d
        return keep * min(1.0, max(frac, 0.0))

    # ---- predicates
    def conjunction(self, parts: list[Expr]) -> float:
        ranges: dict[int, list] = {}
        sel = 1.0
        for p in parts:
            b = self._bound(p)
            if b is None:
                sel *= self.single(p)
                continue
            cid, st, op, v = b
            r = ranges.setdefault(cid, [st, None, True, None, True])
            try:
                if op in ("gt", "gte"):
                    if r[1] is None or v > r[1] or (v == r[1] and op == "gt"):
                        r[1], r[2] = v, op == "gte"
                elif r[3] is None or v < r[3] or (v == r[3] and op == "lt"):
                    r[3], r[4] = v, op == "lte"
            except TypeError:  # e.g. a date against a timestamp: judge the bound on its own
                sel *= self.single(p)
        for st, lo, lo_incl, hi, hi_incl in ranges.values():
            sel *= self._range(st, lo, lo_incl, hi, hi_incl)
        return sel

    def single(self, e: Expr) -> float:
        from engine.optimizer.cost import selectivity as default
        if isinstance(e, Literal):
            return default(e)
        if self.udf is not None:
            measured = [self.udf(x.udf)[1] for x in e.walk() if isinstance(x, UdfCall)]
            measured = [m for m in measured if m is not None]
            if measured:
                return min(measured)
        if isinstance(e, Call):
            f = e.fn
            if f == "and":
                return self.conjunction(conjuncts(e))
            if f == "or":
                a, b = self.estimate(e.args[0]), self.estimate(e.args[1])
                return min(1.0, a + b - a * b)
            if f == "not":
                return 1.0 - self.estimate(e.args[0])
            if f in _FLIP:
                b = self._bound(e)
                if b is not None:
                    _, st, op, v = b
                    if op in ("gt", "gte"):
                        return self._range(st, v, op == "gte", None, True)
                    return self._range(st, None, True, v, op == "lte")
            if f in ("eq", "neq"):
                s = self._equality(e)
                if s is not None:
                    return s if f == "eq" else max(0.0, 1.0 - s - self._nulls(e.args))
            if f in ("is_null", "is_not_null"):
                st = self._stats(e.args[0])
                if st is not None and st.null_count is not None and st.row_count:
                    return st.null_fraction if f == "is_null" else 1.0 - st.null_fraction
            if f in ("like", "not_like") and len(e.args) == 2:
                s = self._like(e.args[0], _constant(e.args[1]))
                if s is not None:
                    st = self._stats(e.args[0])
                    keep = 1.0 - (st.null_fraction if st is not None else 0.0)
                    return s if f == "like" else max(0.0, keep - s)
        if isinstance(e, InList):
            s = self._in_list(e)
            if s is not None:
                return s
        return default(e)

    def _nulls(self, args) -> float:
        return max((st.null_fraction for st in (self._stats(a) for a in args) if st is not None),
                   default=0.0)

    def _equality(self, e: Call) -> float | None:
        a, b = e.args
        if _column(a) is None:
            a, b = b, a
        sa = self._stats(a)
        if sa is None or not sa.distinct:
            return None
        if _column(b) is not None:
            sb = self._stats(b)
            if sb is None or not sb.distinct:
                return None
            return (1.0 - max(sa.null_fraction, sb.null_fraction)) / max(sa.distinct, sb.distinct)
        return self._eq_value(sa, _constant(b)) if isinstance(b, (Literal, Cast)) else \
            (1.0 - sa.null_fraction) / sa.distinct

    @staticmethod
    def _eq_value(st, v: Any) -> float:
        if v is None:
            return 0.0
        fam = _family(v)
        if fam is not None and _family(st.min) == fam and _family(st.max) == fam:
            try:
                if v < st.min or v > st.max:
                    return 0.0
            except TypeError:
                pass
        return (1.0 - st.null_fraction) / st.distinct

    def _in_list(self, e: InList) -> float | None:
        st = self._stats(e.arg)
        if st is None or not st.distinct:
            return None
        values = [_constant(v) for v in e.values]
        if not all(isinstance(v, Literal) or (isinstance(v, Cast) and isinstance(v.arg, Literal))
                   for v in e.values):
            return None
        seen = set()
        total = 0.0
        for v in values:
            try:
                if v in seen:
                    continue
                seen.add(v)
            except TypeError:
                pass
            total += self._eq_value(st, v)
        total = min(total, 1.0 - st.null_fraction)
        return max(0.0, 1.0 - st.null_fraction - total) if e.negated else total

    def _like(self, arg: Expr, pattern: Any) -> float | None:
        if not isinstance(pattern, str):
            return None
        st = self._stats(arg)
        if st is None:
            return None
        cut = min([i for i in (pattern.find("%"), pattern.find("_")) if i >= 0], default=-1)
        if cut < 0:  # no wildcard: an equality
            return self._eq_value(st, pattern) if st.distinct else None
        prefix = pattern[:cut]
        if not prefix or _family(st.min) != "str" or _family(st.max) != "str":
            return None
        s = self._range(st, prefix, True, prefix + "\U0010ffff", False)
        if st.distinct:  # at least one value's worth when the prefix lies inside the range
            s = max(s, self._eq_value(st, prefix) if st.min <= prefix <= st.max else 0.0)
        return s

    def estimate(self, e: Expr | None) -> float:
        if e is None:
            return 1.0
        parts = conjuncts(e)
        return self.conjunction(parts) if len(parts) > 1 else self.single(e)


def estimate_selectivity(e: Expr | None, stats_of: Callable, udf: Callable | None = None) -> float:
    """The fraction of rows passing ``e``; ``stats_of(column) -> ColumnStats | None``."""
    return min(1.0, max(0.0, _Estimator(stats_of, udf).estimate(e)))
