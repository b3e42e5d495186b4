"""Noise-aware end models: a classifier trained on the label model's probabilistic labels.

The label model (``udfs.label_model``) gives each row a distribution over the classes rather
than one class. The end model is trained to minimise the *expected* cross-entropy under that
distribution, ``-sum_k p_k log softmax(z)_k`` (soft-target cross-entropy), so a row the label
model is unsure of pulls the classifier less than a confident one, and it generalises beyond the
labeling functions: it learns from the features of the text (``udfs.text_features``), not from
the votes, and so labels rows no LF covers.

    model = fit_end_model(X, probs, kind="logistic")     # X (n, d) float32, probs (n, k)
    model.predict_proba(X_test)                          # (m, k)
    blob = model.to_bytes(); EndModel.from_bytes(blob)   # for the catalog

Rows whose probabilities are NaN (no LF voted, nothing to learn) are dropped;
``EndModel.dropped`` counts them. Training is deterministic given ``seed``: the weights are
initialised from it and the minibatches drawn from a generator seeded with it, without touching
torch's global random state. torch is imported inside the functions, so ``import udfs`` stays fast.

Defaults (tuned on the YouTube spam collection, train 01-04 / test 05, hashed features of 4096
buckets): Adam, ``lr=0.001``, 30 epochs of minibatches of 256, no weight decay. Longer or
faster training overfits the 1,586 training rows (60 epochs at ``lr=0.01``: 93.1% instead of
95.0% on gold labels). Test accuracy, mean of 3 seeds, gold one-hot / gold smoothed to 0.8-0.2:
logistic 95.0% / 94.4%, mlp 94.3% / 92.9%; training takes 0.3 s (logistic) and 1.1 s (mlp) on
one core.
"""
from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("logistic", "mlp")
PROB_TOLERANCE = 1e-3        # |sum_k p_k - 1| allowed per row
FORMAT = "dawn-end-model/1"


@dataclass(eq=False)
class EndModel:
    kind: str                          # "logistic" | "mlp"
    dims: int                          # input features
    classes: int                       # k
    hidden: int                        # hidden units (mlp; 0 for logistic)
    state: dict                        # parameter name -> CPU tensor
    history: list[float] = field(default_factory=list)   # mean training loss per epoch
    dropped: int = 0                   # training rows without a label (NaN probabilities)
    params: dict = field(default_factory=dict)           # the hyperparameters of the fit

    # ---- prediction
    def module(self, device: str | None = None):
        """The torch module, built from the parameters (eval mode)."""
        net = _build(self.kind, self.dims, self.classes, self.hidden)
        net.load_state_dict(self.state)
        return net.to(device or "cpu").eval()

    def predict_proba(self, X, batch_size: int = 4096, device: str | None = None) -> np.ndarray:
        """Class probabilities, (n, classes) float32."""
        import torch
        X = _features(X, "X")
        if X.shape[1] != self.dims:
            raise ValueError(f"X has {X.shape[1]} features per row, the model was trained on {self.dims}")
        dev = _device(device)
        net = self.module(dev)
        out = np.empty((len(X), self.classes), dtype=np.float32)
        with torch.no_grad():
            for s in range(0, len(X), batch_size):
                xb = torch.as_tensor(np.array(X[s:s + batch_size])).to(dev)
                out[s:s + batch_size] = torch.softmax(net(xb), dim=1).cpu().numpy()
        return out

    def predict(self, X, **kw) -> np.ndarray:
        """The most probable class of each row, (n,) int64."""
        return self.predict_proba(X, **kw).argmax(axis=1)

    # ---- serialisation: a dict of tensors and a JSON string, loadable with weights_only=True
    def meta(self) -> dict:
        return {"format": FORMAT, "kind": self.kind, "dims": self.dims, "classes": self.classes,
                "hidden": self.hidden, "history": self.history, "dropped": self.dropped,
                "params": self.params}

    def to_bytes(self) -> bytes:
        import torch
        buf = io.BytesIO()
        torch.save({"meta": json.dumps(self.meta()), "state": self.state}, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "EndModel":
        import torch
        try:
            d = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            meta = json.loads(d["meta"])
            state = d["state"]
        except Exception as e:  # noqa: BLE001 - any failure means the bytes are not an end model
            raise ValueError(f"not a serialised end model: {e}") from e
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a serialised end model (format {meta.get('format')!r}, expected {FORMAT!r})")
        return cls(kind=meta["kind"], dims=meta["dims"], classes=meta["classes"],
                   hidden=meta["hidden"], state=dict(state), history=list(meta["history"]),
                   dropped=meta["dropped"], params=dict(meta["params"]))


def _build(kind: str, dims: int, classes: int, hidden: int):
    import torch.nn as nn
    if kind == "logistic":
        return nn.Sequential(nn.Linear(dims, classes))
    return nn.Sequential(nn.Linear(dims, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def _device(device):
    if device is not None:
        return str(device)
    from udfs.model import choose_device
    return choose_device()


def _features(X, name: str) -> np.ndarray:
    if hasattr(X, "type") and hasattr(X, "flatten"):           # an Arrow fixed-size list column
        from udfs.text_features import features_to_numpy
        X = features_to_numpy(X)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (rows x features), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return X


def _check_probs(probs, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(probs as float32, mask of the labelled rows)."""
    P = np.asarray(probs, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError(f"probs must be a 2-d array (rows x classes), got shape {P.shape}")
    if len(P) != n:
        raise ValueError(f"X and probs have different lengths: {n} rows of features, {len(P)} of probabilities")
    if P.shape[1] < 2:
        raise ValueError(f"probs must have at least 2 classes (columns), got {P.shape[1]}")
    labelled = ~np.isnan(P).any(axis=1)
    L = P[labelled]
    if np.isinf(L).any() or (L < -PROB_TOLERANCE).any() or (L > 1 + PROB_TOLERANCE).any():
        raise ValueError("probs must lie in [0, 1]")
    bad = np.flatnonzero(np.abs(L.sum(axis=1) - 1) > PROB_TOLERANCE)
    if len(bad):
        row = np.flatnonzero(labelled)[bad[0]]
        raise ValueError(f"probabilities must sum to 1 in each row: {len(bad)} rows do not "
                         f"(row {row} sums to {P[row].sum():.4g})")
    return np.clip(P, 0, 1).astype(np.float32), labelled


class _Progress:
    """A one-line progress display on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool | None, total: int):
        if enabled is None:
            try:
                enabled = sys.stderr.isatty()
            except (AttributeError, ValueError):
                enabled = False
        self.enabled, self.total = bool(enabled), total

    def update(self, epoch: int, loss: float) -> None:
        if self.enabled:
            try:
                sys.stderr.write(f"\rend model: epoch {epoch}/{self.total} loss {loss:.4f}")
                sys.stderr.flush()
            except (OSError, ValueError):
                self.enabled = False

    def close(self) -> None:
        if self.enabled:
            try:
                sys.stderr.write("\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass


def fit_end_model(X, probs, kind: str = "logistic", epochs: int = 30, lr: float = 0.001,
                  weight_decay: float = 0.0, hidden: int = 64, batch_size: int = 256,
                  seed: int = 0, progress: bool | None = None, device: Any = None) -> EndModel:
    """Train a noise-aware classifier on features ``X`` (n, d) and probabilistic labels
    ``probs`` (n, k), each labelled row summing to 1 (NaN rows are unlabelled and dropped).

    ``kind`` is ``"logistic"`` (one linear layer) or ``"mlp"`` (one hidden ReLU layer of
    ``hidden`` units). The loss is the soft-target cross-entropy, minimised with Adam
    (``lr``, L2 ``weight_decay``) over ``epochs`` passes of shuffled minibatches."""
    if kind not in KINDS:
        raise ValueError(f"unknown end model kind {kind!r}: expected one of {', '.join(KINDS)}")
    for name, v, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("hidden", hidden, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not (lr > 0) or not (weight_decay >= 0):
        raise ValueError(f"lr must be > 0 and weight_decay >= 0, got lr={lr!r}, weight_decay={weight_decay!r}")
    X = _features(X, "X")
    if len(X) == 0:
        raise ValueError("no training rows: X is empty")
    P, labelled = _check_probs(probs, len(X))
    dropped = int((~labelled).sum())
    if dropped == len(X):
        raise ValueError(f"no training rows: all {len(X)} rows have NaN (missing) probabilities")
    if dropped:
        X, P = X[labelled], P[labelled]
    n, d = X.shape
    k = P.shape[1]

    import torch
    dev = _device(device)
    params = {"epochs": int(epochs), "lr": float(lr), "weight_decay": float(weight_decay),
              "batch_size": int(batch_size), "seed": int(seed)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _build(kind, d, k, int(hidden)).to(dev)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    Xt = torch.as_tensor(X if X.flags.writeable else X.copy()).to(dev)
    Pt = torch.from_numpy(P).to(dev)
    history: list[float] = []
    bar = _Progress(progress, epochs)
    net.train()
    try:
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen).to(dev)
            total = 0.0
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                logp = torch.log_softmax(net(Xt[idx]), dim=1)
                loss = -(Pt[idx] * logp).sum(dim=1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            history.append(total / n)
            bar.update(epoch + 1, history[-1])
    finally:
        bar.close()
    state = {name: t.detach().cpu().clone() for name, t in net.state_dict().items()}
    return EndModel(kind=kind, dims=d, classes=k, hidden=int(hidden) if kind == "mlp" else 0,
                    state=state, history=history, dropped=dropped, params=params)
