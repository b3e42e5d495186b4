"""Approximate answers (8/11) on synthetic populations with known truth: interval coverage,
oracle calls against uniform sampling and a full scan, ABae, limit queries and SUPG.

Populations (numpy arrays; the oracle is the array lookup, counting the rows asked for):
* counts per frame: m = max(round(3 + 1.5 z), 0), z standard normal, N = 1,000,000; the proxy is
  rho * z + sqrt(1 - rho^2) * noise, so corr(proxy, m) is about rho.
* ABae: N = 1,000,000 rows, 5% pass the predicate; score = 3 * passes + noise; the value of a
  row is N(10, 3) + 2 * score; AVG(value) over passing rows.
* limit: N = 1,000,000 rows, 1% are events, proxy = 2 * event + noise; k = 10 events, gap 50.
* SUPG: N = 1,000,000 rows, 5% positive, proxy = sigmoid(+-3 + 1.5 noise); targets 0.9,
  delta 0.05, budget 1,000 oracle calls.

    python benchmarks/approx.py [--seeds 200] [--supg-seeds 100] [--sql-seeds 200]

6. repeats the coverage of 1. through Dawn's SQL (ERROR WITHIN ... USING PROXY over a
registered table, the oracle a UDF), so the clause's plumbing is covered too.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from engine.approx.estimators import estimate_avg_where, estimate_mean, limit_gap
from engine.approx.supg import naive_precision, naive_recall, supg_precision, supg_recall


class Counted:
    def __init__(self, values: np.ndarray):
        self.values = values
        self.calls = 0

    def __call__(self, pos: np.ndarray) -> np.ndarray:
        self.calls += len(pos)
        return self.values[pos]


def counts(n: int, rho: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    m = np.maximum(np.round(3 + 1.5 * z), 0)
    return m, rho * z + np.sqrt(1 - rho * rho) * rng.standard_normal(n)


def coverage(seeds: int) -> None:
    n = 1_000_000
    m, proxy = counts(n, 0.9)
    truth = m.mean()
    print(f"\n1. coverage of AVG(count per frame) at 95%, N={n:,}, control variate rho=0.9, {seeds} seeds")
    print(f"{'error':>14} {'covered':>8} {'mean calls':>11} {'exact runs':>10}")
    for relative in (False, True):
        for e in (0.01, 0.05, 0.1):
            cov = calls = exact = 0
            for s in range(seeds):
                r = estimate_mean(Counted(m), n, e, 0.95, relative=relative, proxy=proxy,
                                  rng=np.random.default_rng(s))
                cov += int(r.lo <= truth <= r.hi)
                calls += r.oracle_calls
                exact += int(r.exact)
            label = f"{e:g} {'relative' if relative else 'absolute'}"
            print(f"{label:>14} {cov / seeds:>8.1%} {calls / seeds:>11,.0f} {exact:>10}")


def savings(seeds: int) -> None:
    n = 1_000_000
    print(f"\n2. oracle calls to reach the bound (95%), same stopping rule, N={n:,} (full scan = N), "
          f"{seeds} seeds")
    print(f"{'rho':>5} {'error':>6} {'control var.':>13} {'uniform':>10} {'uniform/cv':>11} "
          f"{'scan/cv':>9} {'cv covered':>11}")
    for rho in (0.9, 0.95):
        m, proxy = counts(n, rho, seed=1)
        for e in (0.02, 0.05, 0.1):
            cv = un = cov = 0
            for s in range(seeds):
                a = estimate_mean(Counted(m), n, e, 0.95, proxy=proxy, rng=np.random.default_rng(s))
                b = estimate_mean(Counted(m), n, e, 0.95, rng=np.random.default_rng(s))
                cv += a.oracle_calls
                un += b.oracle_calls
                cov += int(a.lo <= m.mean() <= a.hi)
            print(f"{rho:>5} {e:>6} {cv / seeds:>13,.0f} {un / seeds:>10,.0f} {un / cv:>10.1f}x "
                  f"{n * seeds / cv:>8.0f}x {cov / seeds:>11.1%}")


def abae(seeds: int) -> None:
    n = 1_000_000
    rng = np.random.default_rng(2)
    passes = rng.random(n) < 0.05
    score = np.where(passes, 3.0, 0.0) + rng.standard_normal(n)
    value = rng.normal(10.0, 3.0, n) + 2.0 * score
    truth = value[passes].mean()
    print(f"\n3. ABae: AVG(value) WHERE predicate (5% pass), N={n:,}, 95%, 5 strata, {seeds} seeds")
    print(f"{'error':>6} {'ABae calls':>11} {'uniform':>9} {'uniform/ABae':>13} {'ABae cov.':>10} {'unif. cov.':>11}")
    for e in (0.1, 0.2, 0.3):
        ab = un = ca = cu = 0
        for s in range(seeds):
            r = estimate_avg_where(Counted(passes), Counted(value), n, e, 0.95, proxy=score,
                                   rng=np.random.default_rng(s))
            u = estimate_avg_where(Counted(passes), Counted(value), n, e, 0.95, rng=np.random.default_rng(s))
            ab += r.oracle_calls
            un += u.oracle_calls
            ca += int(r.lo <= truth <= r.hi)
            cu += int(u.lo <= truth <= u.hi)
        print(f"{e:>6} {ab / seeds:>11,.0f} {un / seeds:>9,.0f} {un / ab:>12.1f}x {ca / seeds:>10.1%} {cu / seeds:>11.1%}")


def limits(seeds: int) -> None:
    n = 1_000_000
    print(f"\n4. LIMIT 10 GAP 50 at 1% prevalence, N={n:,}, {seeds} seeds (mean oracle calls)")
    ranked = seq = rnd = 0
    for s in range(seeds):
        rng = np.random.default_rng(s)
        events = rng.random(n) < 0.01
        proxy = events * 2.0 + rng.standard_normal(n)
        ranked += limit_gap(Counted(events), proxy, 10, 50)[1]
        seq += limit_gap(Counted(events), -np.arange(n, dtype=np.float64), 10, 50)[1]
        rnd += limit_gap(Counted(events), rng.random(n), 10, 50)[1]
    print(f"{'proxy order':>14} {ranked / seeds:>9,.0f}")
    print(f"{'sequential':>14} {seq / seeds:>9,.0f}  ({seq / ranked:.0f}x the proxy order's calls)")
    print(f"{'random order':>14} {rnd / seeds:>9,.0f}  ({rnd / ranked:.0f}x)")


def supg(seeds: int) -> None:
    n = 1_000_000
    rng = np.random.default_rng(3)
    y = rng.random(n) < 0.05
    proxy = 1.0 / (1.0 + np.exp(-(np.where(y, 3.0, -3.0) + 1.5 * rng.standard_normal(n))))
    target, delta, budget = 0.9, 0.05, 1000
    print(f"\n5. SUPG, target {target}, delta {delta}, budget {budget} oracle calls, N={n:,}, "
          f"{int(y.sum()):,} positives, {seeds} seeds")
    print(f"{'method':>22} {'target met':>11} {'mean size':>10} {'mean achieved':>14}")
    for name, fn, kind in (("SUPG recall", supg_recall, "recall"),
                           ("naive recall", naive_recall, "recall"),
                           ("SUPG precision", supg_precision, "precision"),
                           ("naive precision", naive_precision, "precision")):
        met = size = ach = 0.0
        for s in range(seeds):
            g = np.random.default_rng(s)
            sel, _ = (fn(Counted(y), proxy, target, delta, budget, g) if name.startswith("SUPG")
                      else fn(Counted(y), proxy, target, budget, g))
            v = y[sel].sum() / y.sum() if kind == "recall" else (y[sel].mean() if len(sel) else 1.0)
            met += v >= target
            size += len(sel)
            ach += v
        print(f"{name:>22} {met / seeds:>11.1%} {size / seeds:>10,.0f} {ach / seeds:>14.3f}")


def through_sql(seeds: int) -> None:
    """The same guarantee end to end: Dawn's SQL over a registered table, the oracle a UDF."""
    import warnings

    import pyarrow as pa

    import engine
    from udfs import udf
    n = 200_000
    m, proxy = counts(n, 0.9, seed=4)
    calls = [0]

    @udf.scalar(returns="double", cost=0.01)
    def count_model(i):
        i = np.asarray(i)
        calls[0] += len(i)
        return m[i]

    con = engine.connect()
    con.register("frames", pa.table({"i": np.arange(n), "p": proxy}))
    con.register_function(count_model)
    truth = m.mean()
    print(f"\n6. through SQL: SELECT avg(count_model(i)) FROM frames ERROR WITHIN e [RELATIVE] AT "
          f"CONFIDENCE 95% USING PROXY p, N={n:,}, rho 0.9, {seeds} seeds (SET seed = s)")
    print(f"{'error':>14} {'covered':>8} {'mean calls':>11} {'model rows':>11} {'exact runs':>10}")
    cur = con.cursor()
    for relative in (False, True):
        for e in (0.01, 0.05, 0.1):
            cov = used = exact = 0
            calls[0] = 0
            for s in range(seeds):
                cur.execute(f"SET seed = {s}")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cur.execute(f"SELECT avg(count_model(i)) FROM frames ERROR WITHIN {e} "
                                f"{'RELATIVE ' if relative else ''}AT CONFIDENCE 95% USING PROXY p")
                cur.fetchall()
                a = cur.approx
                cov += int(a["ci_low"] <= truth <= a["ci_high"])
                used += a["oracle_calls"]
                exact += int(a["exact"])
            label = f"{e:g} {'relative' if relative else 'absolute'}"
            print(f"{label:>14} {cov / seeds:>8.1%} {used / seeds:>11,.0f} {calls[0] / seeds:>11,.0f} "
                  f"{exact:>10}")
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--supg-seeds", type=int, default=100)
    ap.add_argument("--sql-seeds", type=int, default=200)
    args = ap.parse_args()
    t0 = time.time()
    coverage(args.seeds)
    savings(args.seeds)
    abae(args.seeds)
    limits(max(20, args.seeds // 10))
    supg(args.supg_seeds)
    through_sql(args.sql_seeds)
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
