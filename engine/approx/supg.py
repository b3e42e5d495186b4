"""Selections with a recall or precision target met with probability 1 - delta (SUPG).

Kang, Gan, Bailis, Hashimoto and Zaharia, "Approximate Selection with Guarantees using Proxies"
(VLDB 2020). A proxy scores every row (a probability-like score in [0, 1]; negatives are taken as
0); the oracle labels at most ``budget`` rows; the answer is every row whose proxy is at least a
threshold, plus every sampled row the oracle labelled positive. The sample is drawn with
probabilities w(x) = 0.9 * sqrt(A(x)) / sum(sqrt(A)) + 0.1 / N (importance sampling, mixed with
uniform so every row can be drawn), and each sampled row carries the weight m(x) = 1 / (N w(x)),
so that means of f(x) m(x) over the sample are unbiased for population means of f.

* Recall target (SUPG's IS-CI-R): tau_o is the highest threshold whose weighted sample recall is
  at least the target gamma; with z1 = O m 1[A >= tau_o] and z2 = O m 1[A < tau_o], the target is
  raised to gamma' = UB(z1) / (UB(z1) + LB(z2)) (each bound at delta / 2), and the threshold is
  the highest whose weighted sample recall is at least gamma'. With probability at least
  1 - delta over the sample the true recall of the answer is at least gamma.
* Precision target (SUPG's two-stage IS-CI-P): half the budget, importance sampled, bounds the
  number of positives from above (at delta / 2); the candidate thresholds are then restricted
  to the region A >= tau_0 holding at most UB(positives) / gamma rows (no larger answer can have
  precision gamma). The other half is sampled uniformly without replacement from that region;
  for each of M candidate thresholds (the proxy scores of every M-th sampled row) the Clopper-
  Pearson lower bound on the precision of {A >= tau} is taken at delta / M, and the lowest
  candidate whose bound is at least gamma is the threshold. By the union bound, with probability
  at least 1 - delta the answer's precision is at least gamma (adding oracle-confirmed rows can
  only raise it).

Bounds UB/LB are mean +- sd * sqrt(2 log(1 / d)) / sqrt(s) as in the paper's implementation.
``naive_recall`` / ``naive_precision`` are the uncorrected empirical thresholds on a uniform
sample, for comparison: they meet their target only about half the time.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np


Oracle = Callable[[np.ndarray], np.ndarray]
MIX = 0.9            # share of the sampling distribution from sqrt(proxy); the rest uniform
CANDIDATES = 100     # thresholds tried by the precision procedure (each tested at delta / M)


def cp_upper(k: np.ndarray, n: np.ndarray, d: float) -> np.ndarray:
    """Clopper-Pearson upper bounds, vectorized (engine.approx.calibrate.upper_bound per pair):
    for each (k, n), the largest rate p with P(Binomial(n, p) <= k) >= d."""
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    top = int(n.max()) if len(n) else 0
    lf = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, top + 1)))])
    i = np.arange(top + 1)
    valid = i[None, :] <= k[:, None]
    lc = np.where(valid, lf[n][:, None] - lf[i][None, :] - lf[np.maximum(n[:, None] - i[None, :], 0)],
                  -np.inf)
    lo, hi = k / np.maximum(n, 1), np.ones(len(k))
    ld = math.log(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(40):
            mid = (lo + hi) / 2
            t = lc + i[None, :] * np.log(mid)[:, None] + (n[:, None] - i[None, :]) * np.log1p(-mid)[:, None]
            t = np.where(valid, t, -np.inf)
            mx = t.max(axis=1)
            lcdf = mx + np.log(np.exp(t - mx[:, None]).sum(axis=1))
            up = lcdf >= ld
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    out = lo
    out = np.where(k >= n, 1.0, out)
    out = np.where((k == 0) & (n > 0), 1.0 - d ** (1.0 / np.maximum(n, 1)), out)
    return out


def _check(target: float, delta: float, budget: int, proxy: np.ndarray) -> np.ndarray:
    if not isinstance(target, (int, float)) or not 0.0 < float(target) < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    if not isinstance(delta, (int, float)) or not 0.0 < float(delta) < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if not isinstance(budget, (int, np.integer)) or budget <= 1:
        raise ValueError(f"budget must be an integer of at least 2, got {budget!r}")
    proxy = np.asarray(proxy, dtype=np.float64)
    if proxy.ndim != 1 or not len(proxy):
        raise ValueError("proxy must hold one score per row")
    return proxy


def _labels(oracle: Oracle, pos: np.ndarray) -> tuple[np.ndarray, int]:
    """Oracle labels of ``pos`` (may repeat), each distinct row evaluated once: (labels, calls)."""
    uniq, inv = np.unique(pos, return_inverse=True)
    lab = np.asarray(oracle(uniq)).astype(bool)
    if lab.shape != uniq.shape:
        raise ValueError(f"the oracle returned {lab.shape} for {len(uniq)} positions")
    return lab[inv], len(uniq)


def _is_weights(scores: np.ndarray) -> np.ndarray:
    root = np.sqrt(np.clip(scores, 0.0, None))
    tot = root.sum()
    u = np.full(len(scores), 1.0 / len(scores))
    return MIX * root / tot + (1 - MIX) * u if tot > 0 else u


def _bound(z: np.ndarray, d: float, upper: bool) -> float:
    c = math.sqrt(2.0 * math.log(1.0 / d))
    half = c * float(z.std()) / math.sqrt(len(z))
    return float(z.mean()) + half if upper else max(float(z.mean()) - half, 0.0)


def _recall_threshold(a: np.ndarray, u: np.ndarray, gamma: float) -> float:
    """The highest proxy value tau among the sample with sum(u[a >= tau]) >= gamma * sum(u)."""
    order = np.argsort(-a, kind="stable")
    cum = np.cumsum(u[order])
    if cum[-1] <= 0:
        return float(a.min())
    i = int(np.searchsorted(cum, gamma * cum[-1] * (1 - 1e-12), side="left"))
    return float(a[order[min(i, len(order) - 1)]])


def _answer(proxy: np.ndarray, tau: float, sampled: np.ndarray, labels: np.ndarray) -> np.ndarray:
    sel = proxy >= tau
    sel[sampled[labels]] = True
    return np.nonzero(sel)[0].astype(np.int64)


def supg_recall(oracle_pred: Oracle, proxy: np.ndarray, target: float, delta: float, budget: int,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """Rows (ascending) whose recall of the predicate's true rows is at least ``target`` with
    probability at least 1 - ``delta`` over the importance sample of ``budget`` draws (SUPG
    IS-CI-R, module docstring). info: threshold, oracle_calls (distinct rows labelled, at most
    budget), sample_size, positives (sampled), gamma_prime (the raised target)."""
    proxy = _check(target, delta, budget, proxy)
    rng = rng if rng is not None else np.random.default_rng()
    n = len(proxy)
    w = _is_weights(proxy)
    s = rng.choice(n, size=int(budget), replace=True, p=w)
    lab, calls = _labels(oracle_pred, s)
    m = 1.0 / (n * w[s])
    a = proxy[s]
    u = lab * m
    if not lab.any():
        # no positive seen: the only answer with a recall guarantee is every row
        info = {"threshold": -math.inf, "oracle_calls": calls, "sample_size": len(s), "positives": 0,
                "gamma_prime": 1.0}
        return np.arange(n, dtype=np.int64), info
    tau_o = _recall_threshold(a, u, target)
    above = a >= tau_o
    ub1 = _bound(np.where(above, u, 0.0), delta / 2, upper=True)
    lb2 = _bound(np.where(above, 0.0, u), delta / 2, upper=False)
    gamma = min(ub1 / (ub1 + lb2), 1.0) if ub1 + lb2 > 0 else 1.0
    tau = _recall_threshold(a, u, gamma)
    info = {"threshold": tau, "oracle_calls": calls, "sample_size": len(s),
            "positives": int(lab.sum()), "gamma_prime": gamma}
    return _answer(proxy, tau, s, lab), info


def supg_precision(oracle_pred: Oracle, proxy: np.ndarray, target: float, delta: float, budget: int,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """Rows (ascending) whose precision is at least ``target`` with probability at least
    1 - ``delta`` over the sample (SUPG two-stage IS-CI-P, module docstring). info: threshold,
    oracle_calls (distinct rows labelled, at most budget), sample_size, tau_0 (the lowest
    threshold considered), positives_ub (upper bound on the number of true rows)."""
    proxy = _check(target, delta, budget, proxy)
    rng = rng if rng is not None else np.random.default_rng()
    n = len(proxy)
    s1 = int(budget) // 2
    s2 = int(budget) - s1
    w = _is_weights(proxy)
    samp1 = rng.choice(n, size=s1, replace=True, p=w)
    lab1, calls1 = _labels(oracle_pred, samp1)
    pos_ub = n * _bound(lab1 / (n * w[samp1]), delta / 2, upper=True)
    # the region above tau_0 holds at most pos_ub / target rows
    region = int(min(n, max(s2, math.ceil(pos_ub / target))))
    cand_rows = np.argpartition(-proxy, region - 1)[:region] if region < n else np.arange(n)
    tau_0 = float(proxy[cand_rows].min())
    take = min(s2, region)
    samp2 = rng.choice(cand_rows, size=take, replace=False)
    # rows already labelled in stage 1 are not charged again
    k1, i1 = np.unique(samp1, return_index=True)
    fresh = samp2[~np.isin(samp2, k1)]
    f_lab = np.asarray(oracle_pred(fresh)).astype(bool) if len(fresh) else np.zeros(0, dtype=bool)
    keys = np.concatenate([k1, fresh])
    vals = np.concatenate([lab1[i1], f_lab])
    ko = np.argsort(keys, kind="stable")
    lab2 = vals[ko][np.searchsorted(keys[ko], samp2)]
    calls2 = len(fresh)
    a2 = proxy[samp2]
    o2 = np.argsort(-a2, kind="stable")
    a_sorted, l_sorted = a2[o2], lab2[o2]
    cum_pos = np.cumsum(l_sorted)
    step = max(1, take // CANDIDATES)
    idx = np.arange(step - 1, take, step)
    # ties: {A >= tau} holds every sampled row scoring tau, so count up to the last tie
    cnt = np.searchsorted(-a_sorted, -a_sorted[idx], side="right")
    neg = cnt - cum_pos[cnt - 1]
    lb = 1.0 - cp_upper(neg, cnt, delta / len(idx))
    ok = np.nonzero(lb >= target)[0]
    tau = float(a_sorted[idx[ok[-1]]]) if len(ok) else math.inf
    samp = np.concatenate([samp1, samp2])
    labs = np.concatenate([lab1, lab2])
    info = {"threshold": tau, "oracle_calls": calls1 + calls2, "sample_size": len(samp),
            "tau_0": tau_0, "positives_ub": pos_ub}
    return _answer(proxy, tau, samp, labs), info


def naive_recall(oracle_pred: Oracle, proxy: np.ndarray, target: float, budget: int,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """The uncorrected baseline: the highest threshold whose recall on a uniform sample of
    ``budget`` rows is at least ``target`` (no guarantee)."""
    proxy = _check(target, 0.5, budget, proxy)
    rng = rng if rng is not None else np.random.default_rng()
    s = rng.choice(len(proxy), size=min(int(budget), len(proxy)), replace=False)
    lab, calls = _labels(oracle_pred, s)
    tau = _recall_threshold(proxy[s], lab.astype(np.float64), target) if lab.any() else -math.inf
    return _answer(proxy, tau, s, lab), {"threshold": tau, "oracle_calls": calls, "sample_size": len(s)}


def naive_precision(oracle_pred: Oracle, proxy: np.ndarray, target: float, budget: int,
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """The uncorrected baseline: the lowest threshold whose precision on a uniform sample of
    ``budget`` rows is at least ``target`` (no guarantee)."""
    proxy = _check(target, 0.5, budget, proxy)
    rng = rng if rng is not None else np.random.default_rng()
    s = rng.choice(len(proxy), size=min(int(budget), len(proxy)), replace=False)
    lab, calls = _labels(oracle_pred, s)
    o = np.argsort(-proxy[s], kind="stable")
    prec = np.cumsum(lab[o]) / np.arange(1, len(s) + 1)
    ok = np.nonzero(prec >= target)[0]
    tau = float(proxy[s][o][ok[-1]]) if len(ok) else math.inf
    return _answer(proxy, tau, s, lab), {"threshold": tau, "oracle_calls": calls, "sample_size": len(s)}
