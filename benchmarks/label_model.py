"""The label model (9/11) on SYNTHETIC votes with known truth: Dawn's ``udfs/label_model.py``
against majority vote and Snorkel's LabelModel (0.10), then its speed on one thread.

Votes come from ``synthetic_votes``: labeling functions (LFs) independent given the class, with
known accuracies (P(right | the LF votes)) and coverages, wrong votes spread evenly over the other
classes. 10 LFs, binary, balanced classes, unless stated:
* (a) accuracies uniform 0.55-0.95, coverages uniform 0.1-0.6 (drawn per seed);
* (b) every accuracy 0.75, coverages uniform 0.1-0.6;
* (c) as (a) with 20% positive rows (balance [0.8, 0.2]), fitted once without a class prior and
  once with ``prior=[0.8, 0.2]`` (Snorkel: ``class_balance``);
* (d) 3 strong sparse LFs (accuracy 0.9, coverage 0.1) and 7 weak dense ones (0.6, 0.6);
* (e) as (a) with 5 classes;
* (f) 5 decent LFs (accuracy uniform 0.7-0.85, coverage uniform 0.2-0.5) and a weak one
  (accuracy 0.6, coverage 0.6) copied three times (``copies={5: 3}``, 9 columns).

1. accuracy on covered rows (at least one non-abstain vote), ``--n`` rows (100,000), ``--seeds``
   seeds (20): Dawn (argmax of ``LabelModel.fit(VoteStats.of(votes, k)).predict_proba``), majority
   vote (ties broken at random, seeded, as Snorkel's MajorityLabelVoter with
   ``tie_break_policy="random"``) and Snorkel's LabelModel (``fit(L_train=votes, n_epochs=500,
   seed=s, log_freq=1000)``, ``predict(tie_break_policy="random")``) when ``import snorkel`` works.
   Printed: mean accuracies, the mean and the per-seed minimum of Dawn - MV and Dawn - Snorkel,
   the largest absolute error of Dawn's estimated LF accuracies (``LabelModel.accuracy``) against
   the true ones over all LFs and seeds (not checked for (f)), the most EM iterations a seed took
   (the fit stops at ``MAX_ITER``), and PASS/FAIL for "Dawn >= MV and >= Snorkel on the mean"
   and "accuracy error <= 0.03".
2. speed, one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 before numpy is imported,
   ``torch.set_num_threads(1)``): median of 3 of ``VoteStats.of`` and of ``LabelModel.fit`` on
   1,000,000 rows x 10 LFs, binary (target: both together <= 0.5 s) and 10 classes (<= 2 s), each
   stage's time and rows/s; Snorkel's fit time on the binary votes at n_epochs 100 and 500, and the
   ratios Dawn (stats + fit) / Snorkel.

    python benchmarks/label_model.py [--seeds 20] [--n 100000]
    python benchmarks/label_model.py --quick          # n = 20,000, 2 seeds: a smoke test

Snorkel lives in its own virtual environment here; run with that interpreter and this checkout on
the path, e.g. ``PYTHONPATH=. /tmp/snkenv/bin/python benchmarks/label_model.py``.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from udfs.label_model import LabelModel, VoteStats, majority_proba, synthetic_votes  # noqa: E402

try:
    import snorkel  # noqa: F401
    from snorkel.labeling.model import LabelModel as SnorkelLabelModel
    import torch
    torch.set_num_threads(1)
    logging.getLogger().setLevel(logging.WARNING)
except ImportError:
    SnorkelLabelModel = None

ACC_TOL = 0.03


# ---- scenarios -------------------------------------------------------------------------------
def scenario(name: str, seed: int) -> dict:
    """The LFs of a scenario for one seed: true accuracies, coverages, k, balance, copies, prior."""
    rng = np.random.default_rng(1000 + seed)
    s = {"k": 2, "balance": None, "copies": None, "prior": None}
    if name in ("a", "c", "c+prior", "e"):
        s["acc"], s["cov"] = rng.uniform(0.55, 0.95, 10), rng.uniform(0.1, 0.6, 10)
        if name.startswith("c"):
            s["balance"] = [0.8, 0.2]
            if name == "c+prior":
                s["prior"] = [0.8, 0.2]
        if name == "e":
            s["k"] = 5
    elif name == "b":
        s["acc"], s["cov"] = np.full(10, 0.75), rng.uniform(0.1, 0.6, 10)
    elif name == "d":
        s["acc"] = np.array([0.9] * 3 + [0.6] * 7)
        s["cov"] = np.array([0.1] * 3 + [0.6] * 7)
    elif name == "f":
        s["acc"] = np.append(rng.uniform(0.7, 0.85, 5), 0.6)
        s["cov"] = np.append(rng.uniform(0.2, 0.5, 5), 0.6)
        s["copies"] = {5: 3}
    else:
        raise ValueError(name)
    return s


SCENARIOS = [
    ("a", "accuracies 0.55-0.95, coverages 0.1-0.6"),
    ("b", "all accuracies 0.75"),
    ("c", "20% positive, no prior"),
    ("c+prior", "20% positive, prior [0.8, 0.2]"),
    ("d", "3 strong sparse + 7 weak dense"),
    ("e", "5 classes"),
    ("f", "5 decent + weak LF copied 3x"),
]


def true_accuracies(s: dict) -> np.ndarray:
    """Per column: the copies' accuracies are their original's."""
    acc = list(s["acc"])
    for i, c in (s["copies"] or {}).items():
        acc.extend([s["acc"][i]] * c)
    return np.asarray(acc)


# ---- the three label models ------------------------------------------------------------------
def random_argmax(proba: np.ndarray, rng: np.random.Generator, tol: float = 1e-5) -> np.ndarray:
    """Per row the most probable class, ties (within ``tol``) broken uniformly at random."""
    lead = proba >= proba.max(1, keepdims=True) - tol
    key = np.where(lead, rng.random(proba.shape), -1.0)
    return key.argmax(1)


def majority_vote(votes: np.ndarray, k: int, seed: int) -> np.ndarray:
    return random_argmax(majority_proba(votes, k, np.full(k, 1.0 / k)), np.random.default_rng(seed))


def dawn(votes: np.ndarray, k: int, prior, seed: int) -> tuple[np.ndarray, LabelModel]:
    model = LabelModel.fit(VoteStats.of(votes, k), prior)
    return random_argmax(model.predict_proba(votes), np.random.default_rng(seed)), model


def snorkel_fit(votes: np.ndarray, k: int, prior, seed: int, n_epochs: int = 500):
    model = SnorkelLabelModel(cardinality=k, verbose=False)
    kw = {} if prior is None else {"class_balance": list(prior)}
    model.fit(L_train=votes, n_epochs=n_epochs, seed=seed, log_freq=1000, progress_bar=False, **kw)
    return model


def snorkel_labels(votes: np.ndarray, k: int, prior, seed: int) -> np.ndarray:
    return snorkel_fit(votes, k, prior, seed).predict(votes, tie_break_policy="random")


# ---- 1. accuracy -----------------------------------------------------------------------------
def accuracy(n: int, seeds: int) -> list[str]:
    have = SnorkelLabelModel is not None
    print(f"\n1. accuracy on covered rows, n={n:,} rows, {seeds} seeds (mean over seeds; min = the "
          f"worst seed's difference; acc.err = largest |estimated - true| LF accuracy over LFs and "
          f"seeds)")
    if not have:
        print("   snorkel not installed: the Snorkel columns are left empty")
    print(f"{'scenario':<44} {'Dawn':>7} {'MV':>7} {'Snorkel':>8} {'D-MV':>7} {'min':>7} "
          f"{'D-Snk':>7} {'min':>7} {'acc.err':>8} {'EM it':>6} {'beats':>6} {'acc<=.03':>9}")
    losses = []
    for name, label in SCENARIOS:
        d, mv, sn, err, iters = [], [], [], [], []
        for seed in range(seeds):
            s = scenario(name, seed)
            votes, y = synthetic_votes(n, s["acc"], s["cov"], k=s["k"], balance=s["balance"],
                                       seed=seed, copies=s["copies"])
            covered = (votes >= 0).any(1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred, model = dawn(votes, s["k"], s["prior"], seed)
                d.append(float((pred == y)[covered].mean()))
                mv.append(float((majority_vote(votes, s["k"], seed) == y)[covered].mean()))
                if have:
                    sn.append(float((snorkel_labels(votes, s["k"], s["prior"], seed) == y)[covered].mean()))
            err.append(float(np.abs(model.accuracy - true_accuracies(s)).max()))
            iters.append(model.iterations)
        d, mv, sn = np.array(d), np.array(mv), np.array(sn)
        dmv = d - mv
        dsn = d - sn if have else None
        beats = dmv.mean() >= 0 and (not have or dsn.mean() >= 0)
        check_err = name != "f"
        acc_ok = max(err) <= ACC_TOL
        print(f"{f'({name}) {label}':<44} {d.mean():>7.2%} {mv.mean():>7.2%} "
              f"{(f'{sn.mean():.2%}' if have else '-'):>8} {dmv.mean():>+8.3%} {dmv.min():>+8.3%} "
              f"{(f'{dsn.mean():+.3%}' if have else '-'):>8} {(f'{dsn.min():+.3%}' if have else '-'):>8} "
              f"{max(err):>8.4f} {max(iters):>6} {'PASS' if beats else 'FAIL':>6} "
              f"{('PASS' if acc_ok else 'FAIL') if check_err else '(n/a)':>9}")
        if dmv.mean() < 0:
            losses.append(f"({name}) Dawn below majority vote on the mean by {-dmv.mean():.3%}")
        if have and dsn.mean() < 0:
            losses.append(f"({name}) Dawn below Snorkel on the mean by {-dsn.mean():.3%}")
        if check_err and not acc_ok:
            losses.append(f"({name}) LF accuracy error {max(err):.4f} > {ACC_TOL}")
    return losses


# ---- 2. speed --------------------------------------------------------------------------------
def median_time(fn, reps: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def speed(n: int) -> list[str]:
    print(f"\n2. speed, one thread, {n:,} rows x 10 LFs (accuracies 0.55-0.95, coverages 0.1-0.6), "
          f"median of 3")
    print(f"{'case':<12} {'patterns':>9} {'stats s':>8} {'rows/s':>7} {'fit s':>7} {'rows/s':>7} "
          f"{'total s':>8} {'target':>7} {'':>5} {'EM iters':>9}")
    rng = np.random.default_rng(7)
    acc, cov = rng.uniform(0.55, 0.95, 10), rng.uniform(0.1, 0.6, 10)
    misses, dawn_binary, binary_votes = [], None, None
    for k, target in ((2, 0.5), (10, 2.0)):
        votes, _ = synthetic_votes(n, acc, cov, k=k, seed=k)
        t_stats, stats = median_time(lambda: VoteStats.of(votes, k))
        t_fit, model = median_time(lambda: LabelModel.fit(stats))
        total = t_stats + t_fit
        ok = total <= target
        print(f"{f'k={k}':<12} {len(stats.codes):>9,} {t_stats:>8.3f} {n / t_stats / 1e6:>6.1f}M "
              f"{t_fit:>7.3f} {n / t_fit / 1e6:>6.1f}M {total:>8.3f} {f'<={target:g}':>7} "
              f"{'PASS' if ok else 'FAIL':>5} {model.iterations:>9}")
        if not ok:
            misses.append(f"speed k={k}: {total:.3f} s > {target:g} s "
                          f"(stats {t_stats:.3f} s, fit {t_fit:.3f} s)")
        if k == 2:
            dawn_binary, binary_votes = total, votes
    if SnorkelLabelModel is None:
        print("snorkel not installed: no Snorkel fit times")
        return misses
    print(f"\nSnorkel LabelModel.fit on the binary votes ({n:,} x 10), one torch thread, median of 3")
    print(f"{'n_epochs':>9} {'fit s':>8} {'Dawn/Snorkel':>13}")
    for epochs in (100, 500):
        t, _ = median_time(lambda: snorkel_fit(binary_votes, 2, None, 0, n_epochs=epochs))
        print(f"{epochs:>9} {t:>8.3f} {dawn_binary / t:>12.2f}x")
    return misses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="n = 20,000, 2 seeds (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.seeds = 20_000, 2
    t0 = time.time()
    have = SnorkelLabelModel is not None
    print(f"label model benchmark: numpy {np.__version__}, "
          f"{('snorkel ' + snorkel.__version__ + ', torch ' + torch.__version__) if have else 'snorkel not installed'}")
    losses = accuracy(args.n, args.seeds)
    losses += speed(1_000_000)
    print("\n" + ("all checks PASS" if not losses else "FAIL:\n  " + "\n  ".join(losses)))
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
