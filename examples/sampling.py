"""Estimating from a sample, with the inclusion probability the plan hands each row.

TABLESAMPLE plans as a Sample node; every sampled row carries ``__inclusion_prob`` (the chance it
was drawn), so an unbiased Horvitz-Thompson estimate of a total is ``sum(x / __inclusion_prob)``
and its variance under Bernoulli sampling is ``sum(x^2 (1 - p) / p^2)``. This script estimates a
total from a 2% sample, prints the 95% interval beside the exact answer, then checks over 200
seeds that the interval covers the truth about 95% of the time.

    python examples/sampling.py
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

import engine

ESTIMATE = """SELECT sum(amount / __inclusion_prob) AS estimate,
       1.96 * sqrt(sum(amount * amount * (1 - __inclusion_prob) / (__inclusion_prob * __inclusion_prob))) AS half_width,
       count(*) AS rows_read
FROM sales TABLESAMPLE BERNOULLI (2%) REPEATABLE ({seed})"""


def main() -> None:
    rng = np.random.default_rng(0)
    n = 500_000
    sales = pa.table({"id": np.arange(n), "amount": rng.lognormal(3.0, 1.0, n).round(2)})
    con = engine.connect()
    con.register("sales", sales)
    exact = con.execute("SELECT sum(amount) FROM sales").fetchone()[0]
    est, half, rows = con.execute(ESTIMATE.format(seed=1)).fetchone()
    print(f"exact total {exact:,.0f}; from {rows:,} sampled rows of {n:,}: "
          f"{est:,.0f} +- {half:,.0f} (95%)")
    print("\n".join(r[0] for r in con.execute("EXPLAIN " + ESTIMATE.format(seed=1)).fetchall()))
    seeds = 200
    covered = 0
    for seed in range(seeds):
        est, half, _ = con.execute(ESTIMATE.format(seed=seed)).fetchone()
        covered += abs(est - exact) <= half
    print(f"the 95% interval covered the exact total in {covered} of {seeds} samples "
          f"({100 * covered / seeds:.1f}%)")


if __name__ == "__main__":
    main()
