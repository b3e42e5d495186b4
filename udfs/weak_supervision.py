"""LABEL_MODEL, MAJORITY_VOTE and LF_SUMMARY (9/11) as accumulators (``udfs.accumulator``).

Each takes the votes of m labeling functions (LFs), one Arrow array per LF, NULL for abstain,
labels as strings or integers. The accumulators gather ``VoteStats`` (the histogram of vote
patterns, ``udfs.label_model``) per group in one pass; their states merge. LABEL_MODEL and
MAJORITY_VOTE return one value per row, ``{label, probability, probabilities}``: the window
calls ``evaluate_rows`` on the partition's rows after ``update`` (``OVER ()`` /
``OVER (PARTITION BY ...)``). LF_SUMMARY returns, per group, one struct per LF (Snorkel's
LFAnalysis: polarity, coverage, overlaps, conflicts, and with gold labels correct, incorrect
and empirical accuracy), plus the label model's estimated accuracy.

The label set is the LFs' declared labels when they have them (``udf.labeling_function``), the
``labels`` option, or else the sorted distinct values voted (and, in LF_SUMMARY, the gold
labels). A vote outside a declared set is an error.
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from udfs.accumulator import Accumulator
from udfs.label_model import LabelModel, LabelModelWarning, VoteStats, majority_labels, majority_proba

SUMMARY_FIELDS = ("lf", "polarity", "coverage", "overlaps", "conflicts", "correct", "incorrect",
                  "empirical_accuracy", "estimated_accuracy")


def result_type(label_type: pa.DataType) -> pa.DataType:
    """The per-row value of LABEL_MODEL and MAJORITY_VOTE (and of a stored model's UDF)."""
    return pa.struct([("label", label_type), ("probability", pa.float64()),
                      ("probabilities", pa.list_(pa.float64()))])


def summary_type(label_type: pa.DataType) -> pa.DataType:
    return pa.list_(pa.struct([
        ("lf", pa.string()), ("polarity", pa.list_(label_type)), ("coverage", pa.float64()),
        ("overlaps", pa.float64()), ("conflicts", pa.float64()), ("correct", pa.int64()),
        ("incorrect", pa.int64()), ("empirical_accuracy", pa.float64()),
        ("estimated_accuracy", pa.float64())]))


@dataclass
class Options:
    fn: str                           # label_model | majority_vote | lf_summary
    names: tuple[str, ...]            # the LFs as the user wrote them
    label_type: pa.DataType
    labels: tuple | None = None       # declared (or the labels option); None: inferred
    prior: tuple | None = None        # class balance, in the labels' order
    gold: bool = False                # LF_SUMMARY: the last argument is the gold label


class VotesError(ValueError):
    pass


def structs(labels: list, label_type: pa.DataType, proba: np.ndarray, lab: np.ndarray) -> pa.Array:
    """{label, probability, probabilities} per row from (n, k) probabilities and label indexes
    (-1: NULL)."""
    n, k = proba.shape
    none = lab < 0
    lab_arr = pa.array(labels, label_type).take(pa.array(np.where(none, 0, lab)))
    lab_arr = pc.if_else(pa.array(none), pa.nulls(n, label_type), lab_arr)
    p = proba[np.arange(n), np.where(none, 0, lab)]
    prob = pa.array(p, pa.float64(), mask=none | np.isnan(p))
    flat = pa.array(np.nan_to_num(proba, nan=0.0).ravel(), pa.float64())
    lists = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * k), flat,
                                     mask=pa.array(np.isnan(proba).all(1)) if n else None)
    return pa.StructArray.from_arrays([lab_arr, prob, lists], fields=list(result_type(label_type)))


def label_type_of(columns: list[tuple[str, pa.DataType]], what: str) -> pa.DataType:
    """The label type of LF vote columns (name, type): VARCHAR or BIGINT; a column of another
    type, or strings mixed with integers, is a TypeError naming them."""
    kinds = set()
    for name, t in columns:
        if pa.types.is_null(t):
            continue
        kind = "string" if pa.types.is_string(t) or pa.types.is_large_string(t) else \
            "integer" if pa.types.is_integer(t) else None
        if kind is None:
            raise TypeError(f'{what}: "{name}" is {t}; labels are strings or integers')
        kinds.add(kind)
    if len(kinds) > 1:
        detail = ", ".join(f'"{n}" is {t}' for n, t in columns)
        raise TypeError(f"{what}: labeling functions vote labels of one type, strings or integers; here {detail}")
    return pa.string() if kinds == {"string"} else pa.int64()


def sorted_labels(labels, prior=None) -> tuple[tuple, tuple | None]:
    """Labels in sorted order, the prior permuted with them: probabilities are always listed in
    sorted label order (CREATE MODEL reads them so)."""
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    return tuple(labels[i] for i in order), None if prior is None else tuple(prior[i] for i in order)


def vote_indexes(args: list[pa.Array], names, labels: list, label_type: pa.DataType, what: str) -> np.ndarray:
    """(n, m) class indexes of the LFs' votes, -1 for abstain (NULL); a vote outside ``labels``
    is an error naming the LF (``what`` says whose)."""
    value_set = pa.array(labels, label_type)
    cols = []
    for name, a in zip(names, args):
        if a.type != label_type and not pa.types.is_null(a.type):
            a = a.cast(label_type)
        idx = pc.index_in(a, value_set=value_set)
        bad = pc.and_(pc.is_null(idx), pc.is_valid(a))
        if pc.any(bad).as_py():
            raise VotesError(f'{what}: "{name}" voted {a.filter(bad)[0].as_py()!r}, which is not one of '
                             f"the labels {labels}")
        cols.append(idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16))
    n = len(args[0]) if args else 0
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.int16)


class _VotesAccumulator(Accumulator):
    """Per group VoteStats over the LFs' votes, with the label set kept consistent."""

    options: Options

    @classmethod
    def configured(cls, options: Options) -> type:
        return type(cls.__name__, (cls,), {"options": options})

    def __init__(self) -> None:
        o = self.options
        self.labels: list = list(o.labels) if o.labels is not None else []
        self.fixed = o.labels is not None
        self.stats: list[VoteStats | None] = []
        self.fits: dict[int, LabelModel] = {}
        self.record: dict = {"metrics": {}, "params": {}, "artifacts": {}}

    # -- votes as class indexes ---------------------------------------------------------------
    def _grow(self, args: list[pa.Array]) -> None:
        """Add labels first seen in this batch (inferred label sets only), re-coding the stats."""
        if self.fixed:
            return
        seen = set(self.labels)
        new = set()
        for a in args:
            for v in pc.unique(a.drop_null()).to_pylist():
                if v not in seen:
                    new.add(v)
        if not new:
            return
        if -1 in new and self.options.label_type == pa.int64():
            warnings.warn(f"{self.options.fn.upper()}: an LF voted -1, which Dawn reads as a class: "
                          "abstain is NULL (Snorkel's -1 is not); declare labels=[...] to catch this",
                          UserWarning, stacklevel=2)
        old = list(self.labels)
        self.labels = sorted(seen | new)
        pos = np.array([self.labels.index(v) for v in old], np.int16)
        k = len(self.labels)
        for g, st in enumerate(self.stats):
            if st is None or not len(st.codes):
                self.stats[g] = None if st is None else VoteStats(k, st.m)
                continue
            self.stats[g] = st.relabelled(pos, k)
        self.fits.clear()

    def votes(self, args: list[pa.Array]) -> np.ndarray:
        """(n, m) class indexes, -1 for abstain; a vote outside a declared set is an error."""
        return vote_indexes(args, self._names(), self.labels, self.options.label_type,
                            self.options.fn.upper())

    def _names(self) -> tuple[str, ...]:
        return self.options.names + (("gold",) if self.options.gold else ())

    # -- the accumulator interface -------------------------------------------------------------
    def update(self, args, group_ids, n_groups) -> None:
        self._grow(args)
        while len(self.stats) < n_groups:
            self.stats.append(None)
        if not args or len(group_ids) == 0:
            return
        V = self.votes(args)
        k = max(len(self.labels), 1)
        gids = np.asarray(group_ids)
        for g in np.unique(gids):
            rows = V if len(gids) == 0 or (gids == g).all() else V[gids == g]
            st = VoteStats.of(rows, k)
            self.stats[g] = st if self.stats[g] is None else self.stats[g].merge(st)
        self.fits.clear()

    def state(self) -> list[pa.Array]:
        out = []
        for st in self.stats:
            if st is None:
                out.append(None)
                continue
            buf = io.BytesIO()
            np.savez(buf, codes=st.codes, counts=st.counts)
            out.append(json.dumps({"labels": self.labels, "k": st.k, "m": st.m}).encode() + b"\n" + buf.getvalue())
        return [pa.array(out, pa.binary())]

    def merge(self, states, group_ids, n_groups) -> None:
        while len(self.stats) < n_groups:
            self.stats.append(None)
        for blob, g in zip(states[0].to_pylist(), group_ids):
            if blob is None:
                continue
            head, body = blob.split(b"\n", 1)
            meta = json.loads(head)
            z = np.load(io.BytesIO(body))
            st = VoteStats(meta["k"], meta["m"], z["codes"], z["counts"])
            if meta["labels"] != self.labels:
                self._grow([pa.array(meta["labels"], self.options.label_type)])
                pos = np.array([self.labels.index(v) for v in meta["labels"]], np.int16)
                st = st.relabelled(pos, len(self.labels))
            self.stats[g] = st if self.stats[g] is None else self.stats[g].merge(st)
        self.fits.clear()

    def finalize(self) -> pa.Array:
        raise NotImplementedError(f"{self.options.fn.upper()} returns one value per row: use it as a "
                                  "window function, OVER () or OVER (PARTITION BY ...)")

    # -- fitting ---------------------------------------------------------------------------
    def _prior(self) -> np.ndarray | None:
        p = self.options.prior
        if p is None:
            return None
        if len(p) != len(self.labels):
            raise VotesError(f"{self.options.fn.upper()}: the prior has {len(p)} entries for "
                             f"{len(self.labels)} labels {self.labels}")
        return np.asarray(p, np.float64)

    def fit(self, g: int) -> LabelModel:
        if g not in self.fits:
            st = self.stats[g] if g < len(self.stats) else None
            if st is None or st.n_rows == 0:
                raise VotesError(f"{self.options.fn.upper()} over zero rows: there are no votes to learn from")
            if len(self.labels) < 2:
                raise VotesError(f"{self.options.fn.upper()} needs at least two labels; the LFs voted "
                                 f"{self.labels or 'nothing'} (declare labels=[...] on the LFs, or "
                                 "pass labels := [...])")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lm = LabelModel.fit(st, self._prior())
            for w in caught:
                warnings.warn(f"{self.options.fn.upper()}: {w.message}", LabelModelWarning, stacklevel=2)
            self.fits[g] = lm
            self._record(lm)
        return self.fits[g]

    def _record(self, lm: LabelModel) -> None:
        m = self.record["metrics"]
        m["label_model.rows"] = float(lm.n_rows)
        m["label_model.iterations"] = float(lm.iterations)
        m["label_model.patterns"] = float(len(self.stats[0].codes)) if self.stats and self.stats[0] is not None else 0.0
        for name, acc, cov in zip(self.options.names, lm.accuracy, lm.coverage):
            if not np.isnan(acc):
                m[f"label_model.accuracy.{name}"] = float(acc)
            m[f"label_model.coverage.{name}"] = float(cov)
        for y, p in zip(self.labels, lm.pi):
            m[f"label_model.class_balance.{y}"] = float(p)
        self.record["params"].update({"label_model.method": lm.method,
                                      "label_model.labels": json.dumps(self.labels, default=str),
                                      "label_model.lfs": json.dumps(list(self.options.names))})

    def run_record(self) -> dict:
        return self.record


class LabelModelAccumulator(_VotesAccumulator):
    def evaluate_rows(self, args, group_ids) -> pa.Array:
        V = self.votes(args)
        gids = np.asarray(group_ids)
        k = len(self.labels)
        proba = np.empty((len(V), max(k, 1)))
        for g in np.unique(gids):
            sel = gids == g
            proba[sel] = self.fit(int(g)).predict_proba(V[sel])
        # a tie goes to the class with the larger prior (the fit's class balance)
        order = np.argsort(-self.fits[int(gids[0])].pi, kind="stable") if len(gids) else np.arange(k)
        return structs(self.labels, self.options.label_type, proba, majority_labels(proba, order))


class MajorityVoteAccumulator(_VotesAccumulator):
    def evaluate_rows(self, args, group_ids) -> pa.Array:
        V = self.votes(args)
        k = max(len(self.labels), 1)
        gids = np.asarray(group_ids)
        proba = majority_proba(V, k)
        lab = np.full(len(V), -1)
        for g in np.unique(gids):
            sel = gids == g
            # ties go to the label voted most often in the partition
            share = (V[sel][..., None] == np.arange(k)).sum((0, 1))
            lab[sel] = majority_labels(proba[sel], np.argsort(-share, kind="stable"))
        return structs(self.labels, self.options.label_type, proba, lab)


class LfSummaryAccumulator(_VotesAccumulator):
    def finalize(self) -> pa.Array:
        out = []
        for g in range(len(self.stats)):
            st = self.stats[g]
            out.append(None if st is None or st.n_rows == 0 else self._summary(st))
        return pa.array(out, summary_type(self.options.label_type))

    def _summary(self, st: VoteStats) -> list[dict]:
        P, c = st.patterns(), st.counts.astype(np.float64)
        n = c.sum()
        m = len(self.options.names)
        L = P[:, :m]
        gold = P[:, m] if self.options.gold else None
        voted = L >= 0
        others = voted.sum(1)
        est = np.full(m, np.nan)
        if m >= 3 and len(self.labels) >= 2:
            lf_stats = st.columns(list(range(m))) if self.options.gold else st
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LabelModelWarning)
                est = LabelModel.fit(lf_stats, self._prior()).accuracy
        rows = []
        for i, name in enumerate(self.options.names):
            vi = voted[:, i]
            polarity = [self.labels[v] for v in sorted(set(L[vi, i].tolist()))]
            overlap = vi & (others > 1)
            conflict = vi & ((voted & (L != L[:, [i]])).any(1))
            row = {"lf": name, "polarity": polarity, "coverage": float(c[vi].sum() / n),
                   "overlaps": float(c[overlap].sum() / n), "conflicts": float(c[conflict].sum() / n),
                   "correct": None, "incorrect": None, "empirical_accuracy": None,
                   "estimated_accuracy": None if np.isnan(est[i]) else float(est[i])}
            if gold is not None:
                has = vi & (gold >= 0)
                right = int(c[has & (L[:, i] == gold)].sum())
                wrong = int(c[has].sum()) - right
                row.update(correct=right, incorrect=wrong,
                           empirical_accuracy=right / (right + wrong) if right + wrong else None)
            rows.append(row)
        png = summary_png(rows)
        if png is not None:
            self.record["artifacts"]["lf_summary.png"] = png
        return rows


def summary_png(rows: list[dict]) -> bytes | None:
    """Estimated (and, with gold, empirical) accuracy against coverage, one point per LF."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    cov = [r["coverage"] for r in rows]
    for key, marker, label in (("estimated_accuracy", "o", "estimated (label model)"),
                               ("empirical_accuracy", "x", "empirical (gold)")):
        pts = [(x, r[key], r["lf"]) for x, r in zip(cov, rows) if r[key] is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
            if key == "estimated_accuracy" or not any(r["estimated_accuracy"] is not None for r in rows):
                for x, y, name in pts:
                    ax.annotate(name[:24], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("coverage (share of rows the LF votes on)")
    ax.set_ylabel("accuracy when it votes")
    ax.set_ylim(0, 1.05)
    ax.set_title("Labeling functions")
    ax.legend(loc="lower right", fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


ACCUMULATORS = {"label_model": LabelModelAccumulator, "majority_vote": MajorityVoteAccumulator,
                "lf_summary": LfSummaryAccumulator}
