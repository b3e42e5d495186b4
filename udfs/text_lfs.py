"""Labeling functions over text, built from a description (9/11): keyword, regular-expression,
lexicon and length LFs, each a vectorized ``udf.labeling_function`` (one pyarrow.compute kernel
per batch, no per-row Python). A model-based LF needs no factory: it is a SQL expression over a
model, ``CASE WHEN clf(text_features(t)).probability > 0.9 THEN clf(text_features(t)).label END``.

    spam_link = regex_lf("lf_link", r"https?://|www\\.", "spam", labels=["ham", "spam"])
    con.register_function(spam_link)
    con.execute("SELECT lf_link(content) FROM comments")
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from udfs.core import UDF, udf


def _vote(hit: pa.Array, label, labels) -> pa.Array:
    t = pa.string() if isinstance(label, str) else pa.int64()
    return pc.if_else(pc.fill_null(hit, False), pa.scalar(label, t), pa.scalar(None, t))


def _checked_label(label, labels) -> None:
    if label not in labels:
        raise TypeError(f"the label {label!r} is not one of the labels {list(labels)}")


def regex_lf(name: str, pattern: str, label, labels, *, ignore_case: bool = True) -> UDF:
    """Votes ``label`` where ``pattern`` (RE2 syntax, searched anywhere) matches, else abstains."""
    _checked_label(label, labels)
    re.compile(pattern)  # a bad pattern fails here, not at query time

    def fn(text):
        return _vote(pc.match_substring_regex(text, pattern, ignore_case=ignore_case), label, labels)
    fn.__doc__ = f"votes {label!r} where /{pattern}/ matches"
    return udf.labeling_function(labels, name=name, args=["VARCHAR"])(fn)


def keyword_lf(name: str, keywords: list[str], label, labels) -> UDF:
    """Votes ``label`` where any of ``keywords`` appears as a whole word (case-insensitive)."""
    words = "|".join(re.escape(k.lower()) for k in keywords)
    return regex_lf(name, rf"\b(?:{words})\b", label, labels)


def lexicon_lf(name: str, lexicon: list[str], label, labels, *, min_hits: int = 1) -> UDF:
    """Votes ``label`` where at least ``min_hits`` words of the text are in ``lexicon``."""
    _checked_label(label, labels)
    value_set = pa.array(sorted({w.lower() for w in lexicon}))

    def fn(text):
        words = pc.split_pattern_regex(pc.utf8_lower(text), r"[^a-z0-9']+")
        flat = pc.list_flatten(words)
        rows = pc.list_parent_indices(words)
        hits = pc.is_in(flat, value_set=value_set).cast(pa.int64())
        counts = pa.table({"r": rows, "h": hits}).group_by("r").aggregate([("h", "sum")])
        per_row = pa.nulls(len(text), pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).copy()
        per_row[counts.column("r").to_numpy()] = counts.column("h_sum").to_numpy()
        return _vote(pa.array(per_row >= min_hits), label, labels)
    fn.__doc__ = f"votes {label!r} where {min_hits}+ words are in a {len(value_set)}-word lexicon"
    return udf.labeling_function(labels, name=name, args=["VARCHAR"])(fn)


def length_lf(name: str, max_words: int, label, labels) -> UDF:
    """Votes ``label`` where the text has fewer than ``max_words`` words."""
    _checked_label(label, labels)

    def fn(text):
        n = pc.list_value_length(pc.split_pattern_regex(pc.utf8_trim_whitespace(text), r"\s+"))
        return _vote(pc.less(n, max_words), label, labels)
    fn.__doc__ = f"votes {label!r} where the text has fewer than {max_words} words"
    return udf.labeling_function(labels, name=name, args=["VARCHAR"])(fn)
