"""Aggregates within a stated error from few oracle calls: BlazeIt's control-variate sampling
(COUNT, SUM, AVG), ABae's stratified sampling for AVG over rows passing an expensive predicate,
and BlazeIt's limit queries (k rare events, ranked by proxy score, with a gap between hits).

An *oracle* is ``oracle(positions: int64 array) -> float64 array``: the expensive value at those
row positions (the caller evaluates exactly those rows, in any order, and counts the calls). A
*proxy* is a cheap float64 score for every one of the ``n`` rows.

The stopping rule of ``estimate_mean`` (and sum/count) is the asymptotic confidence sequence of
Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas ("Time-uniform central limit theory", 2021):
with the Robbins normal mixture, the interval

    mean_t +- sd_t * sqrt(2 (t r + 1) / (t^2 r) * log(sqrt(t r + 1) / alpha))

holds for all sample sizes t at once with probability >= 1 - alpha (asymptotically in t), so
stopping the first time its half-width is at most the error keeps the coverage. Samples are drawn
without replacement, and the half-width is multiplied by the finite population correction
sqrt((N - t) / (N - 1)), which makes the interval exact (width 0) once every row is seen.
Everything is numpy; the only Python loops run once per sampling step, never per row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Callable

import numpy as np

Oracle = Callable[[np.ndarray], np.ndarray]

SCAN_SHARE = 0.5      # a predicted sample of at least this share of the rows answers by full scan
GROWTH = 0.05         # each step samples max(batch, GROWTH * calls so far): <= 5% overshoot
MAX_LOOKS = 30


@dataclass
class ApproxResult:
    estimate: float          # the answer
    lo: float                # the confidence interval
    hi: float
    confidence: float        # e.g. 0.95
    oracle_calls: int        # oracle evaluations used
    population: int          # N, the rows/frames a full scan would evaluate
    exact: bool              # True when it fell back to (or chose) a full scan
    trace: list[tuple[int, float, float, float]] = field(default_factory=list)  # (calls, est, lo, hi)
    method: str = "uniform"  # "control_variate", "uniform", "abae", "full_scan"
    met: bool = True         # False when max_calls / budget stopped it before the error target
    info: dict = field(default_factory=dict)

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def _check(error: float, confidence: float, relative: bool = False) -> None:
    if not isinstance(confidence, (int, float)) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not isinstance(error, (int, float)) or math.isnan(error) or error <= 0.0:
        raise ValueError(f"error must be positive, got {error!r}")


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


def _mixture_r(alpha: float, t_star: float) -> float:
    """The mixture parameter r = rho^2 that makes the confidence sequence tightest at t_star."""
    la = -2.0 * math.log(alpha)
    return (la + math.log(la + 1.0)) / max(t_star, 1.0)


def _cs_factor(t: int, r: float, alpha: float) -> float:
    """The half-width of the confidence sequence at t, per unit of standard deviation."""
    tr = t * r
    return math.sqrt(2.0 * (tr + 1.0) / (t * t * r) * math.log(math.sqrt(tr + 1.0) / alpha))


def _fpc(t: int, n: int) -> float:
    return math.sqrt(max(n - t, 0) / (n - 1)) if n > 1 else 0.0


def _values(oracle: Oracle, pos: np.ndarray) -> np.ndarray:
    v = np.asarray(oracle(pos), dtype=np.float64)
    if v.shape != pos.shape:
        raise ValueError(f"the oracle returned {v.shape[0] if v.ndim else 'a scalar'} values "
                         f"for {len(pos)} positions")
    return v


def estimate_mean(oracle: Oracle, n: int, error: float, confidence: float, relative: bool = False,
                  proxy: np.ndarray | None = None, rng: np.random.Generator | None = None,
                  batch: int = 100, max_calls: int | None = None) -> ApproxResult:
    """The mean of the oracle over rows 0..n-1, within ``error`` (relative: ``error * |mean|``).

    Guarantee: rows are sampled uniformly without replacement; with probability at least
    ``confidence`` (asymptotically in the sample size, by the time-uniform CLT) the returned
    [lo, hi] contains the population mean, whatever step the rule stopped at; on return with
    ``met`` the half-width is at most the error. With ``proxy`` (one score per row, its mean
    over all n rows known exactly) each sampled value m is replaced by m + c (t - mean(proxy))
    with c = -Cov(m, t) / Var(t) re-estimated from the sample (BlazeIt's control variate): the same
    expectation, variance reduced by the factor 1 - rho^2. The sample variance gets one pseudo-
    observation of spread (range seen)^2 / 4, so a run of equal values does not stop at width 0.
    When the first step predicts that the sample would need at least half the rows, or the
    sample reaches every row, the answer is the exact full scan (exact=True, lo = hi).
    ``max_calls`` caps the oracle calls; when it stops the run the result has met=False.
    """
    _check(error, confidence, relative)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n!r}")
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch!r}")
    rng = _rng(rng)
    alpha = 1.0 - float(confidence)
    order = rng.permutation(n)
    use_cv = proxy is not None
    if use_cv:
        proxy = np.asarray(proxy, dtype=np.float64)
        if proxy.shape != (n,):
            raise ValueError(f"proxy must hold one score per row ({n}), got shape {proxy.shape}")
        tau = float(proxy.mean())
    cap = n if max_calls is None else max(1, min(int(max_calls), n))
    method = "control_variate" if use_cv else "uniform"
    trace: list[tuple[int, float, float, float]] = []
    t = 0
    shift = 0.0
    s_m = s_mm = s_t = s_tt = s_mt = 0.0
    vmin, vmax = math.inf, -math.inf
    r = None
    seen: list[np.ndarray] = []
    while True:
        step = min(max(batch, int(GROWTH * t)), cap - t)
        pos = order[t:t + step]
        m = _values(oracle, pos)
        seen.append(m)
        if t == 0:
            shift = float(m.mean())
        mc = m - shift
        s_m += float(mc.sum())
        s_mm += float(mc @ mc)
        if use_cv:
            tc = proxy[pos] - tau
            s_t += float(tc.sum())
            s_tt += float(tc @ tc)
            s_mt += float(mc @ tc)
        vmin, vmax = min(vmin, float(m.min())), max(vmax, float(m.max()))
        t += step
        mean_m = s_m / t
        var_m = max(s_mm / t - mean_m * mean_m, 0.0)
        est_c, var_y = mean_m, var_m
        if use_cv:
            mean_t = s_t / t
            var_t = s_tt / t - mean_t * mean_t
            cov = s_mt / t - mean_m * mean_t
            c = -cov / var_t if var_t > 1e-300 else 0.0
            est_c = mean_m + c * mean_t
            var_y = max(var_m + 2.0 * c * cov + c * c * var_t, 0.0)
        est = est_c + shift
        spread = (vmax - vmin) if vmax > vmin else 1.0
        sd = math.sqrt((var_y * t + spread * spread / 4.0) / max(t - 1, 1))
        target = error * abs(est) if relative else error
        if r is None:
            # tune the mixture for the sample size a fixed-time interval would need
            t_need = (2.5 * sd / target) ** 2 if target > 0 else math.inf
            t_fpc = t_need / (1.0 + t_need / n) if math.isfinite(t_need) else float(n)
            if t_fpc >= SCAN_SHARE * n and cap >= n:
                return _full_scan(oracle, n, order, t, seen, confidence, trace, proxy_used=use_cv)
            r = _mixture_r(alpha, min(max(t_fpc, batch), n))
        hw = sd * _cs_factor(t, r, alpha) * _fpc(t, n)
        trace.append((t, est, est - hw, est + hw))
        if t >= n:
            return ApproxResult(est, est, est, confidence, t, n, True, trace, "full_scan")
        if hw <= target:
            return ApproxResult(est, est - hw, est + hw, confidence, t, n, False, trace, method,
                                info={"half_width": hw})
        if t >= cap:
            return ApproxResult(est, est - hw, est + hw, confidence, t, n, False, trace, method,
                                met=False, info={"half_width": hw})


def _full_scan(oracle: Oracle, n: int, order: np.ndarray, t: int, seen: list[np.ndarray],
               confidence: float, trace: list, proxy_used: bool) -> ApproxResult:
    """The exact mean: the rows not sampled yet are evaluated once each (n calls in all)."""
    rest = order[t:]
    total = sum(float(s.sum()) for s in seen)
    if len(rest):
        total += float(_values(oracle, rest).sum())
    mean = total / n
    trace.append((n, mean, mean, mean))
    return ApproxResult(mean, mean, mean, confidence, n, n, True, trace, "full_scan",
                        info={"proxy": proxy_used})


def _scaled(res: ApproxResult, k: float) -> ApproxResult:
    lo, hi = sorted((res.lo * k, res.hi * k))
    return ApproxResult(res.estimate * k, lo, hi, res.confidence, res.oracle_calls, res.population,
                        res.exact, [(c, e * k, min(a * k, b * k), max(a * k, b * k))
                                    for c, e, a, b in res.trace], res.method, res.met, res.info)


def estimate_sum(oracle: Oracle, n: int, error: float, confidence: float, relative: bool = False,
                 proxy: np.ndarray | None = None, rng: np.random.Generator | None = None,
                 batch: int = 100, max_calls: int | None = None) -> ApproxResult:
    """SUM of the oracle over the n rows: n times ``estimate_mean``, with the same guarantee;
    an absolute ``error`` is in units of the sum."""
    _check(error, confidence, relative)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n!r}")
    e = error if relative else error / n
    return _scaled(estimate_mean(oracle, n, e, confidence, relative, proxy, rng, batch, max_calls), n)


def estimate_count(oracle: Oracle, n: int, error: float, confidence: float, relative: bool = False,
                   proxy: np.ndarray | None = None, rng: np.random.Generator | None = None,
                   batch: int = 100, max_calls: int | None = None) -> ApproxResult:
    """COUNT of rows where the oracle is 1/true: n times the mean of the 0/1 oracle, with the
    guarantee of ``estimate_mean``; an absolute ``error`` is in rows."""
    def pred(pos: np.ndarray) -> np.ndarray:
        return (np.asarray(oracle(pos)) != 0).astype(np.float64)
    return estimate_sum(pred, n, error, confidence, relative, proxy, rng, batch, max_calls)


# --- ABae: AVG over rows passing an expensive predicate -------------------------------------------

class _Stratum:
    def __init__(self, rows: np.ndarray):
        self.rows = rows                     # a random permutation of the stratum's positions
        self.taken = 0
        self.vals: list[np.ndarray] = []     # values of the sampled rows that pass

    @property
    def size(self) -> int:
        return len(self.rows)

    def draw(self, m: int, pred: Oracle, value: Oracle) -> int:
        m = min(m, self.size - self.taken)
        if m <= 0:
            return 0
        pos = self.rows[self.taken:self.taken + m]
        self.taken += m
        ok = np.asarray(pred(pos)).astype(bool)
        if ok.shape != pos.shape:
            raise ValueError(f"the predicate oracle returned {ok.shape} for {len(pos)} positions")
        if ok.any():
            self.vals.append(_values(value, pos[ok]))
        return m

    def positives(self) -> np.ndarray:
        return np.concatenate(self.vals) if self.vals else np.empty(0)


def _abae_stats(strata: list[_Stratum], n: int):
    """(mean, B = estimated share of passing rows, per-stratum sd of x (v - mean), all
    positives) for the stratified ratio estimator."""
    w = np.array([s.size / n for s in strata])
    taken = np.array([max(s.taken, 1) for s in strata], dtype=np.float64)
    pos = [s.positives() for s in strata]
    sums = np.array([p.sum() for p in pos])
    counts = np.array([len(p) for p in pos], dtype=np.float64)
    b = float((w * counts / taken).sum())
    if b <= 0:
        return None
    mu = float((w * sums / taken).sum()) / b
    allpos = np.concatenate(pos)
    pooled = float(allpos.var()) if len(allpos) > 1 else 0.0
    pooled = max(pooled, 1e-12 * max(1.0, mu * mu))
    sd = np.empty(len(strata))
    for k, p in enumerate(pos):
        d = p - mu
        nk = taken[k]
        mz = d.sum() / nk
        ss = float(d @ d) - nk * mz * mz
        # one pseudo-positive of pooled spread: an empty stratum still gets samples and variance
        sd[k] = math.sqrt(max(ss + pooled, 0.0) / max(nk - 1, 1))
    return mu, b, sd, w, taken


def estimate_avg_where(oracle_pred: Oracle, oracle_value: Oracle, n: int, error: float,
                       confidence: float, relative: bool = False, proxy: np.ndarray | None = None,
                       rng: np.random.Generator | None = None, strata: int = 5, pilot: float = 0.2,
                       budget: int | None = None, pilot_size: int = 200) -> ApproxResult:
    """AVG(value) over the rows where the predicate holds, within ``error`` (ABae, Kang et al. 2021).

    Rows are split into ``strata`` equal-size strata by proxy quantile (one stratum without a
    proxy: plain uniform sampling). A pilot of ``pilot * budget / strata`` rows per stratum (or
    ``pilot_size`` without a budget) estimates each stratum's share of passing rows p_k and the
    spread of their values; the rest is allocated n_k ∝ w_k * sd_k, sd_k the standard deviation
    of x * (v - mean) in stratum k (the Neyman allocation of the linearized ratio estimator; ABae's
    sqrt(p_k) sigma_k plus the between-strata term), sampling without replacement within strata.
    The estimate is sum_k w_k mean_k(x v) / sum_k w_k mean_k(x); its interval is the delta-method
    normal interval with the finite population correction. The sample grows (re-allocated each
    time) until the half-width is at most the error; look j uses alpha / 2^j, so by Bonferroni the
    interval that stops the run covers the true average with probability at least ``confidence``
    (asymptotically, as for any delta-method interval). oracle_calls counts predicate evaluations;
    ``oracle_value`` runs only on sampled rows that pass. A predicted sample of half the rows or
    more answers by the exact full scan; ``budget`` caps the predicate calls (met=False when it
    stops the run).
    """
    _check(error, confidence, relative)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n!r}")
    if strata <= 0:
        raise ValueError(f"strata must be positive, got {strata!r}")
    if not 0.0 < pilot < 1.0:
        raise ValueError(f"pilot must be in (0, 1), got {pilot!r}")
    if budget is not None and budget <= 0:
        raise ValueError(f"budget must be positive, got {budget!r}")
    rng = _rng(rng)
    alpha = 1.0 - float(confidence)
    if proxy is not None:
        proxy = np.asarray(proxy, dtype=np.float64)
        if proxy.shape != (n,):
            raise ValueError(f"proxy must hold one score per row ({n}), got shape {proxy.shape}")
        k = max(1, min(int(strata), n))
        ranked = np.argsort(proxy, kind="stable")
        parts = np.array_split(ranked, k)
        method = "abae"
    else:
        parts = [np.arange(n)]
        method = "uniform"
    st = [_Stratum(rng.permutation(p)) for p in parts]
    cap = n if budget is None else min(int(budget), n)
    n0 = max(2, int(math.ceil(pilot * budget / len(st)))) if budget is not None else pilot_size
    calls = sum(s.draw(n0, oracle_pred, oracle_value) for s in st)
    trace: list[tuple[int, float, float, float]] = []
    grow = 1.0
    for look in range(1, MAX_LOOKS + 1):
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0 ** look / 2.0)
        stats = _abae_stats(st, n)
        if stats is None:                    # no passing row seen yet: double the sample
            if calls >= cap:
                break
            calls += sum(s.draw(max(s.taken, 1), oracle_pred, oracle_value) for s in st)
            continue
        mu, b, sd, w, taken = stats
        target = error * abs(mu) if relative else error
        ws = float((w * sd).sum())
        need = (1.1 * z * ws / (target * b)) ** 2 * grow if target > 0 else math.inf
        pilot_total = min(pilot * need, SCAN_SHARE * n, cap)
        if calls < pilot_total and look == 1 and budget is None:
            # the pilot is short of its share of the predicted sample: grow it (equal per
            # stratum) and predict again before the first look
            per = int(math.ceil((pilot_total - calls) / len(st)))
            calls += sum(s.draw(per, oracle_pred, oracle_value) for s in st)
            stats = _abae_stats(st, n)
            if stats is None:
                continue
            mu, b, sd, w, taken = stats
            target = error * abs(mu) if relative else error
            ws = float((w * sd).sum())
            need = (1.1 * z * ws / (target * b)) ** 2 * grow if target > 0 else math.inf
        if need >= SCAN_SHARE * n and cap >= n:
            return _abae_scan(st, oracle_pred, oracle_value, n, confidence, trace, calls)
        alloc = np.minimum(np.ceil(need * w * sd / ws), [s.size for s in st])
        extra = np.maximum(alloc - np.array([s.taken for s in st]), 0).astype(np.int64)
        room = cap - calls
        if extra.sum() > room:
            extra = np.floor(extra * room / max(extra.sum(), 1)).astype(np.int64)
        calls += sum(s.draw(int(m), oracle_pred, oracle_value) for s, m in zip(st, extra))
        stats = _abae_stats(st, n)
        if stats is None:
            continue
        mu, b, sd, w, taken = stats
        sizes = np.array([s.size for s in st], dtype=np.float64)
        fpc = np.maximum(1.0 - taken / sizes, 0.0)
        hw = z * math.sqrt(float((w * w * sd * sd / taken * fpc).sum())) / b
        trace.append((calls, mu, mu - hw, mu + hw))
        target = error * abs(mu) if relative else error
        if all(s.taken >= s.size for s in st):
            return ApproxResult(mu, mu, mu, confidence, calls, n, True, trace, "full_scan")
        if hw <= target:
            return ApproxResult(mu, mu - hw, mu + hw, confidence, calls, n, False, trace, method,
                                info={"half_width": hw, "looks": look})
        if calls >= cap:
            return ApproxResult(mu, mu - hw, mu + hw, confidence, calls, n, False, trace, method,
                                met=False, info={"half_width": hw, "looks": look})
        grow *= 1.5
    if cap >= n:
        return _abae_scan(st, oracle_pred, oracle_value, n, confidence, trace, calls)
    nan = float("nan")
    return ApproxResult(nan, nan, nan, confidence, calls, n, False, trace, method, met=False,
                        info={"reason": "no row passing the predicate was sampled"})


def _abae_scan(st: list[_Stratum], pred: Oracle, value: Oracle, n: int, confidence: float,
               trace: list, calls: int) -> ApproxResult:
    for s in st:
        calls += s.draw(s.size - s.taken, pred, value)
    allpos = np.concatenate([s.positives() for s in st])
    mu = float(allpos.mean()) if len(allpos) else float("nan")
    trace.append((calls, mu, mu, mu))
    return ApproxResult(mu, mu, mu, confidence, calls, n, True, trace, "full_scan")


# --- limit queries --------------------------------------------------------------------------------

def limit_gap(oracle_pred: Oracle, proxy: np.ndarray, k: int, gap: int,
              batch: int = 16) -> tuple[np.ndarray, int]:
    """Up to k rows where the predicate holds, at least gap + 1 rows apart (BlazeIt's limit query).

    Rows are visited in descending proxy order (ties by position); a row within ``gap`` of a hit
    is skipped without the oracle; the scan stops at k hits (fewer only when the rows run out).
    The oracle sees ``batch`` candidates at a time, so at most batch - 1 calls past the k-th hit
    or past a hit that suppresses later rows of its batch are spent (and counted). Exact: every
    returned row passes; no approximation is involved. Returns (hit positions ascending, calls).
    """
    if not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ValueError(f"gap must be a non-negative integer, got {gap!r}")
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch!r}")
    proxy = np.asarray(proxy, dtype=np.float64)
    n = len(proxy)
    order = np.argsort(-proxy, kind="stable")
    blocked = np.zeros(n, dtype=bool)
    hits: list[int] = []
    calls = 0
    i = 0
    while len(hits) < k and i < n:
        # the next `batch` candidates not already skipped; grow the window until enough are found
        want = min(batch, k - len(hits)) if gap == 0 else batch
        window, j = np.empty(0, dtype=np.int64), i
        while len(window) < want and j < n:
            chunk = order[j:j + 4 * want]
            j += len(chunk)
            window = np.concatenate([window, chunk[~blocked[chunk]]])
        if len(window) > want:
            # resume right after the last candidate kept
            last = window[want - 1]
            j = i + int(np.nonzero(order[i:j] == last)[0][0]) + 1
            window = window[:want]
        i = j
        if not len(window):
            break
        ok = np.asarray(oracle_pred(window)).astype(bool)
        calls += len(window)
        for p in window[ok]:
            if blocked[p]:
                continue                      # suppressed by a hit earlier in this batch
            hits.append(int(p))
            blocked[max(0, p - gap):p + gap + 1] = True
            if len(hits) >= k:
                break
    return np.array(sorted(hits), dtype=np.int64), calls
