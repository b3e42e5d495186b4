"""The label model of weak supervision (9/11): how far to trust each labeling function (LF),
learned from the LFs' votes alone, and the probabilistic labels that follow.

Two models, both assuming the LFs vote independently given the true class Y (prior ``pi``):

* the accuracy model (``method = "em"``, the symmetric Dawid-Skene model): LF i, when it votes,
  names the right class with probability ``acc[i]``, a wrong one uniformly otherwise; whether it
  votes does not depend on Y. Each vote adds log(acc (k-1) / (1-acc)) to the class it names.
* the class-conditional model (``"em_class_conditional"``, Dawid and Skene, 1979): a full
  distribution ``theta[i, y, v]`` over v in {abstain, class 0, ..., k-1} per class, so an LF that
  only ever votes "spam" (unipolar) is evidence by abstaining too. Snorkel 0.10's LabelModel
  flips such LFs (74.6% on the YouTube spam train set against majority vote's 86.7%).

Both are fitted by EM started at majority vote, so the classes keep their names, with every LF
kept better than chance (accuracy >= 1/k + 0.05; a vote for c is never evidence against c). With
unipolar LFs both are fitted and the one that overturns fewer of majority vote's clear decisions
(rows with a strict majority) is kept: where the LFs' errors cluster, against the independence
both assume, one of them reaches a degenerate optimum that contradicts most of those rows (on
the YouTube spam LFs the class-conditional fit splits spam into two classes). A class balance
that EM drives to (near) zero while the class gets a fair share of the votes is refused the same
way: the fit is redone with a uniform balance and a warning says to pass a prior.

Sufficient statistics (``VoteStats``): the histogram of distinct vote patterns, gathered in one
pass. It determines the vote-overlap matrix and every other moment, so a fit never reads the rows
again and costs O(distinct patterns), which stops growing once the patterns are seen; histograms
of batches or partitions merge by adding counts.

Correlated LFs: two LFs that cover the same rows and agree on nearly all of them (a copy, or the
same keyword twice) would outvote the rest. The fit groups such LFs (Jaccard of coverage and
agreement both at least ``DUPLICATE_THRESHOLD``) and counts each group once; ``LabelModel.groups``
says which were grouped.

Votes are class indexes ``0 .. k-1`` with ``-1`` for abstain (the engine maps SQL labels and NULL
to these). With fewer than ``MIN_LFS`` distinct LFs the model is majority vote, with a warning.
A row where every LF abstained gets the prior under the accuracy model, and P(Y | all abstained)
under the class-conditional one.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

MIN_LFS = 3
DUPLICATE_THRESHOLD = 0.95
SMOOTHING = 0.5          # Dirichlet pseudo-count per outcome, so no probability is exactly 0
MAX_ITER = 200
TOL = 1e-7               # stop when the mean log-likelihood per row improves by less
ACC_FLOOR = (1.0, 0.05)  # an LF is assumed better than chance by at least 0.05: accuracy >= 1/k + 0.05


class LabelModelWarning(UserWarning):
    pass


def _base_fits(k: int, m: int) -> bool:
    return m * np.log2(k + 1) < 62


def encode(votes: np.ndarray, k: int) -> np.ndarray:
    """Vote rows (n, m) of -1 .. k-1 as one integer each (base k + 1), or as bytes when the
    integer would overflow."""
    n, m = votes.shape
    if _base_fits(k, m):
        digits = (votes.astype(np.int64) + 1)
        weights = (k + 1) ** np.arange(m, dtype=np.int64)
        return digits @ weights
    return np.ascontiguousarray((votes + 1).astype(np.uint8)).view(f"V{m}").ravel()


def decode(codes: np.ndarray, k: int, m: int) -> np.ndarray:
    if codes.dtype.kind == "V":
        return codes.view(np.uint8).reshape(len(codes), m).astype(np.int16) - 1
    out = np.empty((len(codes), m), dtype=np.int16)
    c = codes.copy()
    for i in range(m):
        c, r = np.divmod(c, k + 1)
        out[:, i] = r - 1
    return out


@dataclass
class VoteStats:
    """The histogram of distinct vote patterns of m LFs over k classes (mergeable)."""
    k: int
    m: int
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def of(cls, votes: np.ndarray, k: int) -> "VoteStats":
        votes = np.asarray(votes)
        st = cls(k, votes.shape[1])
        if len(votes):
            st.codes, st.counts = np.unique(encode(votes, k), return_counts=True)
        return st

    def merge(self, other: "VoteStats") -> "VoteStats":
        if (other.k, other.m) != (self.k, self.m):
            raise ValueError("vote statistics of different shapes cannot merge")
        if not len(other.codes):
            return self
        codes = np.concatenate([self.codes, other.codes])
        counts = np.concatenate([self.counts, other.counts])
        u, inv = np.unique(codes, return_inverse=True)
        return VoteStats(self.k, self.m, u, np.bincount(inv, weights=counts).astype(np.int64))

    def relabelled(self, pos: np.ndarray, k: int) -> "VoteStats":
        """The same histogram with class c renamed pos[c], over k classes."""
        P = self.patterns()
        P = np.where(P >= 0, pos[np.maximum(P, 0)], -1)
        return VoteStats(k, self.m, encode(P, k), self.counts)

    def columns(self, cols: list[int]) -> "VoteStats":
        """The histogram of some of the LFs (the others summed out)."""
        P = self.patterns()[:, cols]
        u, inv = np.unique(encode(P, self.k), return_inverse=True)
        return VoteStats(self.k, len(cols), u, np.bincount(inv.ravel(), weights=self.counts).astype(np.int64))

    @property
    def n_rows(self) -> int:
        return int(self.counts.sum())

    def patterns(self) -> np.ndarray:
        return decode(self.codes, self.k, self.m)


def duplicate_groups(P: np.ndarray, counts: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> list[list[int]]:
    """LFs that cover (nearly) the same rows and agree on (nearly) all of them, as groups."""
    m = P.shape[1]
    voted = P >= 0
    parent = list(range(m))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i
    cov = (voted * counts[:, None]).sum(0)
    for i in range(m):
        for j in range(i + 1, m):
            both = voted[:, i] & voted[:, j]
            nb = counts[both].sum()
            union = cov[i] + cov[j] - nb
            if union == 0 or nb / union < threshold:
                continue
            agree = counts[both & (P[:, i] == P[:, j])].sum()
            if agree / nb >= threshold:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(m):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


@dataclass
class LabelModel:
    """A fitted label model: per LF its accuracy ``acc`` (P(vote right | it votes)), the class
    prior ``pi``; LFs in one group of copies share the first one's vote."""
    k: int
    m: int
    pi: np.ndarray
    acc: np.ndarray                   # (m,)
    groups: list[list[int]]
    method: str                       # "em" | "em_class_conditional" | "majority_vote"
    n_rows: int = 0
    iterations: int = 0
    coverage: np.ndarray | None = None
    theta: np.ndarray | None = None   # class-conditional: (m, k, k + 1), outcome 0 = abstain
    agreement: dict | None = None     # each candidate fit's agreement with majority vote's clear calls

    # ---- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(cls, stats: VoteStats, prior: np.ndarray | None = None, *,
            min_lfs: int = MIN_LFS, select: bool = True) -> "LabelModel":
        k, m = stats.k, stats.m
        if stats.n_rows == 0:
            raise ValueError("a label model needs at least one row of votes")
        P, c = stats.patterns(), stats.counts.astype(np.float64)
        coverage = ((P >= 0) * c[:, None]).sum(0) / c.sum()
        groups = duplicate_groups(P, stats.counts)
        reps = [g[0] for g in groups]
        fixed = prior is not None
        pi = np.asarray(prior, np.float64) if fixed else np.full(k, 1.0 / k)
        if len(reps) < min_lfs:
            warnings.warn(f"a label model needs at least {min_lfs} distinct labeling functions, "
                          f"got {len(reps)}: using majority vote", LabelModelWarning, stacklevel=2)
            return cls._majority(P, c, k, m, pi if fixed else None, groups, coverage)
        Q = P[:, reps]
        if len(reps) < m:  # the rows with the same representatives' votes are one pattern
            u, inv = np.unique(encode(Q, k), return_inverse=True)
            c = np.bincount(inv.ravel(), weights=c)
            Q = decode(u, k, len(reps))
        voted = Q >= 0
        nvotes = (voted * c[:, None]).sum(0)
        q = _majority_posterior(Q, k, pi)
        # the E-step is one bincount of the LFs' log-odds into the votes' positions, the M-step
        # one gather of the posterior from them
        flat, per_lf = _vote_positions(Q, k)
        starts = np.concatenate([[0], np.cumsum(per_lf)[:-1]])
        lo, hi = ACC_FLOOR[0] / k + ACC_FLOOR[1], 1.0 - 1e-4
        prev, it, acc = -np.inf, 0, np.full(len(reps), 0.7)
        for it in range(1, MAX_ITER + 1):
            w = q * c[:, None]
            if not fixed:
                pi = (w.sum(0) + 1.0) / (c.sum() + k)
            # M-step: an LF's accuracy is the expected share of its votes that are right
            right = np.add.reduceat(w.ravel()[flat], starts) if len(flat) else np.zeros(len(reps))
            right = np.where(per_lf > 0, right, 0.0)
            acc = np.clip((right + SMOOTHING) / (nvotes + 2 * SMOOTHING), lo, hi)
            # E-step: each vote adds its LF's log-odds to the class it names
            logp = np.bincount(flat, weights=np.repeat(_log_odds(acc, k), per_lf),
                               minlength=len(Q) * k).reshape(len(Q), k) + np.log(pi)[None, :]
            mx = logp.max(1, keepdims=True)
            e = np.exp(logp - mx)
            s_ = e.sum(1, keepdims=True)
            q = e / s_
            ll = float(((np.log(s_[:, 0]) + mx[:, 0]) * c).sum() / c.sum()
                       + (nvotes * np.log((1 - acc) / (k - 1))).sum() / c.sum())
            if ll - prev < TOL:
                break
            prev = ll
        share = np.array([(c[:, None] * (Q == y)).sum() for y in range(k)]) / max(nvotes.sum(), 1)
        if not fixed and (pi < share / 10).any():
            # a class that gets a fair share of the votes but almost no prior: the LFs break the
            # independence the model assumes (errors that cluster), and EM explained the class
            # away. Refit with a uniform class balance, and say so.
            warnings.warn("the class balance could not be learned from these LFs (their errors look "
                          f"correlated: the fit gave {np.round(pi, 3).tolist()} against vote shares "
                          f"{np.round(share, 3).tolist()}); assuming a uniform balance: pass prior := "
                          "[...] (for example from a labelled dev set) to set it", LabelModelWarning,
                          stacklevel=2)
            return cls.fit(stats, np.full(k, 1.0 / k), min_lfs=min_lfs, select=select)
        full = np.zeros(m)
        for g, a in zip(groups, acc):
            full[g] = a
        coin = cls(k, m, pi, full, groups, "em", stats.n_rows, it, coverage)
        # an LF that only ever votes one class (unipolar) says as much by abstaining as by voting,
        # which only the class-conditional model can read; without one, the accuracy model is
        # the whole story and the second fit is skipped
        polar = [len(np.unique(Q[Q[:, i] >= 0, i])) for i in range(Q.shape[1])]
        if not select or min(polar) > 1:
            return coin
        # the class-conditional model: abstaining depends on the class (unipolar LFs)
        pi_cc, theta_r, it_cc = _fit_class_conditional(Q, c, k, np.asarray(prior, np.float64) if fixed else None)
        theta = np.zeros((m, k, k + 1))
        for g, r in zip(groups, range(len(reps))):
            theta[g] = theta_r[r]
        right = np.einsum("y,iy->i", pi_cc, theta[:, np.arange(k), np.arange(k) + 1])
        acc_cc = right / np.maximum(np.einsum("y,iy->i", pi_cc, 1.0 - theta[:, :, 0]), 1e-12)
        cc = cls(k, m, pi_cc, acc_cc, groups, "em_class_conditional", stats.n_rows, it_cc, coverage, theta)
        # Of the two fits keep the one that overturns fewer of majority vote's clear decisions
        # (rows with a strict majority): both models assume the LFs independent given the class,
        # and where they are not, one of them finds a degenerate optimum that contradicts most
        # of them (on the YouTube spam LFs the class-conditional fit splits spam in two).
        mvp = majority_proba(Q, k)
        strict = np.nan_to_num(mvp).max(1) > 0.5
        if not strict.any():
            return coin
        want = mvp[strict].argmax(1)
        w = c[strict]
        agree = [float((w * (mdl._proba_patterns(P[strict]).argmax(1) == want)).sum() / w.sum())
                 for mdl in (coin, cc)]
        best = coin if agree[0] >= agree[1] else cc
        best.agreement = {"em": agree[0], "em_class_conditional": agree[1]}
        return best

    @classmethod
    def _majority(cls, P, c, k, m, prior, groups, coverage) -> "LabelModel":
        """Majority vote as a model: every LF equally trusted; the prior is the vote share."""
        if prior is None:
            votes = np.array([((P == y) * c[:, None]).sum() for y in range(k)], np.float64)
            prior = (votes + 1.0) / (votes.sum() + k)
        return cls(k, m, np.asarray(prior, np.float64), np.full(m, np.nan), [[i] for i in range(m)],
                   "majority_vote", int(c.sum()), 0, coverage)

    # ---- using it ------------------------------------------------------------------------
    def predict_proba(self, votes: np.ndarray) -> np.ndarray:
        """(n, k) class probabilities of vote rows; a row with no votes gets the prior."""
        votes = np.asarray(votes)
        if self.method == "majority_vote":
            return majority_proba(votes, self.k, self.pi)
        if self.method == "em_class_conditional":
            u, inv = np.unique(encode(votes, self.k), return_inverse=True)
            return self._proba_patterns(decode(u, self.k, self.m))[inv.ravel()]
        return self._proba_patterns(votes)

    def _proba_patterns(self, votes: np.ndarray) -> np.ndarray:
        if self.method == "em_class_conditional":
            logp = np.broadcast_to(np.log(self.pi), (len(votes), self.k)).copy()
            logt = np.log(self.theta).transpose(0, 2, 1)
            for g in self.groups:
                logp += logt[g[0]][votes[:, g[0]] + 1]
            return _softmax(logp)
        reps = [g[0] for g in self.groups]          # each group of copies votes once
        flat, per_lf = _vote_positions(votes[:, reps], self.k)
        logp = np.bincount(flat, weights=np.repeat(_log_odds(self.acc[reps], self.k), per_lf),
                           minlength=len(votes) * self.k).reshape(len(votes), self.k) + np.log(self.pi)[None, :]
        return _softmax(logp)

    @property
    def accuracy(self) -> np.ndarray:
        """Estimated P(vote is right | the LF votes), per LF."""
        return self.acc.copy()

    @property
    def weights(self) -> np.ndarray:
        """Per LF the log-odds one of its votes adds to the class it names (0 for an LF grouped
        as a copy of another: the group votes once)."""
        w = _log_odds(np.clip(self.acc, 1e-6, 1 - 1e-6), self.k) if self.method != "majority_vote" \
            else np.ones(self.m)
        for g in self.groups:
            w[g[1:]] = 0.0
        return w

    def to_dict(self) -> dict:
        return {"k": self.k, "m": self.m, "pi": self.pi.tolist(), "acc": self.acc.tolist(),
                "groups": self.groups, "method": self.method, "n_rows": self.n_rows,
                "iterations": self.iterations,
                "coverage": None if self.coverage is None else self.coverage.tolist(),
                "theta": None if self.theta is None else self.theta.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "LabelModel":
        return cls(d["k"], d["m"], np.array(d["pi"]), np.array(d["acc"], np.float64), d["groups"],
                   d["method"], d.get("n_rows", 0), d.get("iterations", 0),
                   None if d.get("coverage") is None else np.array(d["coverage"]),
                   None if d.get("theta") is None else np.array(d["theta"], np.float64))


def _fit_class_conditional(Q: np.ndarray, c: np.ndarray, k: int, prior: np.ndarray | None):
    """Dawid-Skene EM over patterns: theta[i, y, v + 1] = P(LF i votes v | Y = y), v = -1 abstain."""
    fixed = prior is not None
    pi = prior if fixed else np.full(k, 1.0 / k)
    q = _majority_posterior(Q, k, pi)
    onehots = [(Q[:, i] + 1).astype(np.intp) for i in range(Q.shape[1])]
    # (pattern, class) -> outcome * k + class: one bincount per LF is its M-step
    flats = [(idx[:, None] * k + np.arange(k)[None, :]).ravel() for idx in onehots]
    theta = np.zeros((Q.shape[1], k, k + 1))
    prev, it = -np.inf, 0
    for it in range(1, MAX_ITER + 1):
        w = q * c[:, None]
        tot = w.sum(0)
        if not fixed:
            pi = (tot + 1.0) / (tot.sum() + k)
        wf = w.ravel()
        for i, flat in enumerate(flats):
            num = np.bincount(flat, weights=wf, minlength=(k + 1) * k).reshape(k + 1, k).T
            theta[i] = _better_than_others((num + SMOOTHING) / (tot[:, None] + SMOOTHING * (k + 1)), tot)
        logp = np.broadcast_to(np.log(pi), (len(Q), k)).copy()
        logt = np.log(theta).transpose(0, 2, 1)
        for i, idx in enumerate(onehots):
            logp += logt[i][idx]
        mx = logp.max(1, keepdims=True)
        e = np.exp(logp - mx)
        s_ = e.sum(1, keepdims=True)
        q = e / s_
        ll = float(((np.log(s_[:, 0]) + mx[:, 0]) * c).sum() / c.sum())
        if ll - prev < TOL:
            break
        prev = ll
    return pi, theta, it


def _better_than_others(theta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """An LF's vote for c is evidence for c: P(votes c | Y = c) >= P(votes c | Y = y) for every
    other class y; where the fit says otherwise the two are pooled (their mass-weighted mean, the
    constrained maximum), the difference taken from abstaining."""
    k = theta.shape[0]
    for c in range(k):
        for y in range(k):
            if y != c and theta[y, c + 1] > theta[c, c + 1]:
                pooled = (theta[y, c + 1] * mass[y] + theta[c, c + 1] * mass[c]) / max(mass[y] + mass[c], 1e-12)
                for z in (y, c):
                    theta[z, 0] += theta[z, c + 1] - pooled
                    theta[z, c + 1] = pooled
    theta[:, 0] = np.maximum(theta[:, 0], 1e-6)
    return theta / theta.sum(1, keepdims=True)


def _log_odds(acc: np.ndarray, k: int) -> np.ndarray:
    return np.log(acc * (k - 1) / (1 - acc))


def _softmax(logp: np.ndarray) -> np.ndarray:
    e = np.exp(logp - logp.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _vote_positions(Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The votes as flat (row * k + class) positions, LF by LF, and how many each LF cast: one
    bincount of the LFs' log-odds into them scores every row, one gather reads a posterior."""
    cols = [np.nonzero(Q[:, i] >= 0)[0] for i in range(Q.shape[1])]
    flat = np.concatenate([r * k + Q[r, i] for i, r in enumerate(cols)] or [np.zeros(0, np.int64)])
    return flat.astype(np.intp), np.array([len(r) for r in cols], np.int64)


def _vote_counts(votes: np.ndarray, k: int) -> np.ndarray:
    return np.stack([(votes == y).sum(1) for y in range(k)], axis=1).astype(np.float64)


def _majority_posterior(P: np.ndarray, k: int, pi: np.ndarray) -> np.ndarray:
    """EM's starting point: each pattern's vote shares, softened, the prior where none voted."""
    n = _vote_counts(P, k) + 0.1 * pi[None, :]
    return n / n.sum(1, keepdims=True)


def majority_proba(votes: np.ndarray, k: int, tie_prior: np.ndarray | None = None) -> np.ndarray:
    """Majority vote as probabilities: the tied leaders share the mass equally (a tie is broken
    by ``tie_prior`` when given, which is where the label goes); no votes: the prior, or NaN."""
    n = _vote_counts(np.asarray(votes), k)
    top = n.max(1, keepdims=True)
    lead = (n == top) & (top > 0)
    out = lead / np.maximum(lead.sum(1, keepdims=True), 1)
    none = top[:, 0] == 0
    if tie_prior is not None:
        out[none] = tie_prior
    else:
        out[none] = np.nan
    return out


def majority_labels(proba: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """The label of each row's probabilities, ties broken toward the class earlier in
    ``tie_order`` (class indexes, most preferred first); -1 where the row has no probabilities."""
    rank = np.empty(len(tie_order), np.int64)
    rank[tie_order] = np.arange(len(tie_order))
    key = np.where(np.isnan(proba), -np.inf, proba) - 1e-9 * rank[None, :]
    lab = key.argmax(1)
    lab[np.isnan(proba).all(1)] = -1
    return lab


def synthetic_votes(n: int, accuracies, coverages, k: int = 2, balance=None, seed: int = 0,
                    copies: dict[int, int] | None = None):
    """SYNTHETIC votes of LFs with known accuracies (P(right | votes)) and coverages, independent
    given the class, wrong votes spread evenly over the other classes. ``copies`` {i: c} appends
    c exact copies of LF i. Returns (votes (n, m) of -1 .. k-1, true labels)."""
    rng = np.random.default_rng(seed)
    balance = np.full(k, 1.0 / k) if balance is None else np.asarray(balance, np.float64)
    y = rng.choice(k, size=n, p=balance)
    cols = []
    for acc, cov in zip(accuracies, coverages):
        vote = rng.random(n) < cov
        right = rng.random(n) < acc
        wrong = (y + rng.integers(1, k, size=n)) % k if k > 1 else y
        cols.append(np.where(vote, np.where(right, y, wrong), -1))
    for i, c in (copies or {}).items():
        cols.extend([cols[i]] * c)
    return np.stack(cols, axis=1).astype(np.int16), y
