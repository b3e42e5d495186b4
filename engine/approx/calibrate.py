"""Cascade thresholds with a stated guarantee, chosen on a held-out calibration sample.

A cascade's proxy gives each frame a score s (increasing with the estimated probability that
the predicate holds). Frames with s < c_low are rejected without the oracle, frames with s > c_high accepted,
the rest go to the oracle. On a uniform sample of frames labelled by the oracle, with n_pos
positives of which k score below c_low, the Clopper-Pearson bound says: with probability at least
``confidence`` over the sample, the fraction of the video's positives that score below c_low
(the false-negative rate) is at most ``upper_bound(k, n_pos, 1 - confidence)``. c_low is the
highest threshold whose bound meets ``fn_rate``; c_high, symmetrically, the lowest whose bound on
the negatives scoring above it meets ``fp_rate``. Each guarantee holds with probability
``confidence`` (both together with at least 2 * confidence - 1). Frames answered by the oracle are
exact, so the cascade's rates are at most these.

With no misses allowed, certifying a rate r at confidence 1 - d needs ln(d) / ln(1 - r) labelled
positives (299 for 1% at 95%): ``needed`` says how many, and calibration of a video too short to
supply them raises ``CalibrationError`` (the planner then scans and says why).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


class CalibrationError(Exception):
    """The calibration sample cannot certify the targets (too few positives or negatives)."""


def _log_binom_cdf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 0.0 if k >= n else -math.inf
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
             for i in range(k + 1)]
    m = max(terms)
    return m + math.log(sum(math.exp(t - m) for t in terms))


def upper_bound(k: int, n: int, delta: float) -> float:
    """Clopper-Pearson upper bound: the largest rate p with P(Binomial(n, p) <= k) >= delta."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    if k == 0:
        return 1.0 - delta ** (1.0 / n)
    lo, hi, target = k / n, 1.0, math.log(delta)
    for _ in range(60):
        mid = (lo + hi) / 2
        if _log_binom_cdf(k, n, mid) >= target:
            lo = mid
        else:
            hi = mid
    return lo


def needed(rate: float, confidence: float) -> int:
    """Labelled examples of a class needed to certify ``rate`` at ``confidence`` (no misses)."""
    return int(math.ceil(math.log(1 - confidence) / math.log(1 - rate)))


def sample_size(prevalence: float, fn_rate: float, fp_rate: float, confidence: float,
                margin: float = 1.2) -> int:
    """Uniform calibration frames expected to hold enough positives and negatives."""
    p = min(max(prevalence, 1e-3), 1 - 1e-3)
    return int(math.ceil(margin * max(needed(fn_rate, confidence) / p,
                                      needed(fp_rate, confidence) / (1 - p))))


@dataclass
class Thresholds:
    c_low: float
    c_high: float
    fn_bound: float           # certified upper bound on the false-negative rate
    fp_bound: float
    positives: int            # calibration positives and negatives
    negatives: int
    confidence: float
    oracle_fraction: float    # calibration frames the oracle would see (c_low <= s <= c_high)
    # the trade-off: (c_low, fraction of frames below it, FN bound) and (c_high, fraction above, FP bound)
    low_curve: list = field(default_factory=list)
    high_curve: list = field(default_factory=list)

    def describe(self) -> str:
        return (f"c_low={self.c_low:.3f} c_high={self.c_high:.3f} fn<={self.fn_bound:.4f} "
                f"fp<={self.fp_bound:.4f} @{self.confidence:.0%}")


def choose(scores: np.ndarray, labels: np.ndarray, fn_rate: float, fp_rate: float,
           confidence: float) -> Thresholds:
    """c_low and c_high for calibration ``scores`` and oracle ``labels`` (bool)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    delta = 1.0 - confidence
    pos = np.sort(scores[labels])
    neg = np.sort(scores[~labels])[::-1]
    need_p, need_n = needed(fn_rate, confidence), needed(fp_rate, confidence)
    if len(pos) < need_p or len(neg) < need_n:
        short = []
        if len(pos) < need_p:
            short.append(f"{len(pos)} positive frames where {need_p} are needed for a "
                         f"false-negative rate of {fn_rate:g}")
        if len(neg) < need_n:
            short.append(f"{len(neg)} negative frames where {need_n} are needed for a "
                         f"false-positive rate of {fp_rate:g}")
        raise CalibrationError("the calibration sample has " + " and ".join(short)
                               + f" at {confidence:.0%} confidence")
    low_curve, k_low = _curve(pos, fn_rate, delta, len(scores), scores, below=True)
    high_curve, k_high = _curve(neg, fp_rate, delta, len(scores), scores, below=False)
    c_low = float(pos[k_low])
    c_high = float(neg[k_high])
    c_high = max(c_high, c_low)
    band = float(((scores >= c_low) & (scores <= c_high)).mean()) if len(scores) else 0.0
    return Thresholds(c_low, c_high, upper_bound(k_low, len(pos), delta),
                      upper_bound(k_high, len(neg), delta), len(pos), len(neg), confidence, band,
                      low_curve, high_curve)


def _curve(sorted_cls: np.ndarray, rate: float, delta: float, n: int, scores: np.ndarray,
           below: bool) -> tuple[list, int]:
    """For k = 0, 1, ... misses of the class: the threshold, the share of all calibration frames
    it decides without the oracle, and the certified bound; and the largest k within ``rate``."""
    curve, best = [], 0
    m = len(sorted_cls)
    for k in range(m):
        b = upper_bound(k, m, delta)
        c = float(sorted_cls[k])
        decided = float((scores < c).mean() if below else (scores > c).mean())
        curve.append((c, decided, b))
        if b <= rate:
            best = k
        elif b > 4 * rate:
            break
    return curve, best


def tradeoff_png(t: Thresholds, title: str) -> bytes | None:
    """A PNG of the calibration trade-off: frames the cheap stages decide (the rest cost an
    oracle call) against the certified FN and FP bounds, the chosen thresholds marked. None
    when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import io
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, curve, chosen, target, name in (
            (axes[0], t.low_curve, t.c_low, t.fn_bound, "false-negative rate (rejected below c_low)"),
            (axes[1], t.high_curve, t.c_high, t.fp_bound, "false-positive rate (accepted above c_high)")):
        if curve:
            xs = [1 - d for _, d, _ in curve]
            ys = [b for _, _, b in curve]
            ax.plot(xs, ys, "-o", ms=2)
            for c, d, b in curve:
                if c == chosen:
                    ax.plot([1 - d], [b], "r*", ms=12, label=f"chosen: {c:.3f}")
                    break
        ax.set_xlabel("share of frames left to later stages")
        ax.set_ylabel(f"certified bound @{t.confidence:.0%}")
        ax.set_title(name, fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
