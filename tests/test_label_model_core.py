"""The label model of udfs/label_model.py (9/11) on SYNTHETIC votes with known truth: it beats
majority vote and recovers the LFs' accuracies, keeps unipolar LFs the right way round, groups
copies so they vote once, merges statistics, gives all-abstain rows the prior, falls back to
majority vote below three LFs, handles 5 classes, and refuses zero rows."""
from __future__ import annotations

import numpy as np
import pytest

from udfs.label_model import (LabelModel, LabelModelWarning, VoteStats, majority_proba,
                              synthetic_votes)

N = 20_000


def covered_accuracy(labels: np.ndarray, y: np.ndarray, votes: np.ndarray) -> float:
    covered = (votes >= 0).any(1)
    return float((labels == y)[covered].mean())


def mv_labels(votes: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Majority vote, ties broken at random."""
    p = majority_proba(votes, k, np.full(k, 1.0 / k))
    rng = np.random.default_rng(seed)
    return np.where(p >= p.max(1, keepdims=True) - 1e-9, rng.random(p.shape), -1.0).argmax(1)


def fit(votes: np.ndarray, k: int = 2, prior=None) -> LabelModel:
    return LabelModel.fit(VoteStats.of(votes, k), prior)


def scenario_a(n: int = N, seed: int = 0, k: int = 2):
    rng = np.random.default_rng(1000 + seed)
    acc, cov = rng.uniform(0.55, 0.95, 10), rng.uniform(0.1, 0.6, 10)
    votes, y = synthetic_votes(n, acc, cov, k=k, seed=seed)
    return votes, y, acc


def test_beats_majority_vote_and_recovers_accuracies():
    votes, y, acc = scenario_a()
    model = fit(votes)
    assert model.method == "em"
    dawn = covered_accuracy(model.predict_proba(votes).argmax(1), y, votes)
    mv = covered_accuracy(mv_labels(votes, 2), y, votes)
    assert dawn > mv + 0.02
    assert np.abs(model.accuracy - acc).max() <= 0.03


def test_unipolar_lfs_are_not_flipped():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, N)
    cols = []
    for cls in (1, 1, 0, 0):       # votes only `cls`; right 90% of the time it votes (balanced)
        p = np.where(y == cls, 0.45, 0.05)
        cols.append(np.where(rng.random(N) < p, cls, -1))
    for _ in range(2):             # bipolar, accuracy 0.7, coverage 0.5
        vote = rng.random(N) < 0.5
        cols.append(np.where(vote, np.where(rng.random(N) < 0.7, y, 1 - y), -1))
    votes = np.stack(cols, 1).astype(np.int16)
    model = fit(votes)
    dawn = covered_accuracy(model.predict_proba(votes).argmax(1), y, votes)
    mv = covered_accuracy(mv_labels(votes, 2), y, votes)
    assert dawn >= mv
    assert (model.accuracy > 0.5).all()
    assert np.abs(model.accuracy[:4] - 0.9).max() <= 0.03


def test_copies_are_grouped_and_do_not_outvote_the_rest():
    rng = np.random.default_rng(1005)
    acc = np.append(rng.uniform(0.7, 0.85, 5), 0.6)
    cov = np.append(rng.uniform(0.2, 0.5, 5), 0.6)
    votes, y = synthetic_votes(N, acc, cov, seed=5, copies={5: 3})
    assert votes.shape[1] == 9
    model = fit(votes)
    assert [5, 6, 7, 8] in model.groups
    labels = model.predict_proba(votes).argmax(1)
    dawn = covered_accuracy(labels, y, votes)
    mv = covered_accuracy(mv_labels(votes, 2), y, votes)
    assert dawn > mv + 0.05
    # as good as the model that never saw the copies
    alone = fit(votes[:, :6])
    assert dawn >= covered_accuracy(alone.predict_proba(votes[:, :6]).argmax(1), y, votes) - 0.005
    assert np.allclose(model.accuracy[5:], model.accuracy[5])


def test_merged_halves_fit_as_the_whole():
    votes, _, _ = scenario_a()
    whole = VoteStats.of(votes, 2)
    merged = VoteStats.of(votes[: N // 2], 2).merge(VoteStats.of(votes[N // 2:], 2))
    assert np.array_equal(merged.codes, whole.codes)
    assert np.array_equal(merged.counts, whole.counts)
    a, b = LabelModel.fit(whole), LabelModel.fit(merged)
    assert np.allclose(a.pi, b.pi) and np.allclose(a.accuracy, b.accuracy)
    assert np.allclose(a.predict_proba(votes), b.predict_proba(votes))


def test_all_abstain_row_gets_the_prior():
    votes, _, _ = scenario_a()
    empty = np.full((1, votes.shape[1]), -1, np.int16)
    model = fit(votes)
    assert model.method == "em"
    assert np.allclose(model.predict_proba(empty)[0], model.pi)
    given = fit(votes, prior=[0.7, 0.3])
    assert np.allclose(given.predict_proba(empty)[0], [0.7, 0.3])
    with pytest.warns(LabelModelWarning):    # the majority-vote fallback gives the prior too
        mv = fit(votes[:, :2], prior=[0.7, 0.3])
    assert np.allclose(mv.predict_proba(empty[:, :2])[0], [0.7, 0.3])


def test_unipolar_lfs_choose_the_class_conditional_model_and_it_reads_abstentions():
    """With unipolar LFs whose votes are independent given the class, the class-conditional fit
    is kept, and a row where all abstain gets P(Y | all abstained), not the prior."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, N)
    cols = [np.where(rng.random(N) < np.where(y == cls, 0.5, 0.05), cls, -1) for cls in (1, 1, 1, 0, 0, 0)]
    votes = np.stack(cols, 1).astype(np.int16)
    model = fit(votes)
    assert model.method == "em_class_conditional"
    post = model.pi * np.prod(model.theta[:, :, 0], axis=0)
    empty = np.full((1, votes.shape[1]), -1, np.int16)
    assert np.allclose(model.predict_proba(empty)[0], post / post.sum())


def test_fewer_than_three_lfs_is_majority_vote_with_a_warning():
    votes, _, _ = scenario_a()
    votes = votes[:, :2]
    with pytest.warns(LabelModelWarning):
        model = fit(votes)
    assert model.method == "majority_vote"
    assert np.allclose(model.predict_proba(votes), majority_proba(votes, 2, model.pi))


def test_five_classes():
    votes, y, acc = scenario_a(k=5)
    model = fit(votes, k=5)
    proba = model.predict_proba(votes)
    assert proba.shape == (N, 5) and np.allclose(proba.sum(1), 1.0)
    dawn = covered_accuracy(proba.argmax(1), y, votes)
    assert dawn > covered_accuracy(mv_labels(votes, 5), y, votes)
    assert np.abs(model.accuracy - acc).max() <= 0.03


def test_zero_rows_raise():
    with pytest.raises(ValueError):
        fit(np.zeros((0, 6), np.int16))
