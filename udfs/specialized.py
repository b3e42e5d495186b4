"""Specialized models for cascades (NoScope, TASTI): a tiny CNN per video and question.

A specialized model answers one expensive predicate (``people_count(frame) > 0``) for one video
from downscaled frames, trained on oracle labels of sampled frames. Its trunk maps a frame to an
embedding (global max and mean of the last feature map); its head maps the embedding to the
probability that the predicate holds. The embeddings of every frame of a video are the video's
index: a later predicate on the same video trains only a new head on them (``train_head``), from
a few labelled frames chosen by the embeddings' clusters (``cluster_picks``).

Also here: ``lowres`` (the model's input) and ``DifferenceDetector`` (NoScope's first stage:
a frame that differs from the last evaluated frame by less than a threshold reuses its result).

Training runs on CUDA when torch sees a GPU, shows a progress bar on a terminal, is seeded, and
never downloads weights (the network is defined here and starts from random weights).
"""
from __future__ import annotations

import io
import sys
import time

import numpy as np

INPUT_W, INPUT_H = 80, 45   # the model's input: frames downscaled (INTER_AREA) to 80 x 45
TINY_W, TINY_H = 20, 12     # the difference detector's grey thumbnail
EMBED_DIM = 64              # 32 channels: global max and global mean


def lowres(frames: np.ndarray) -> np.ndarray:
    """Frames (n, H, W, 3) uint8 as the model's input, (n, 45, 80, 3) uint8."""
    from catalog.video import cv2_module
    cv2 = cv2_module()
    n = len(frames)
    out = np.empty((n, INPUT_H, INPUT_W, 3), np.uint8)
    for i in range(n):  # one C call per frame, as the decoder makes
        cv2.resize(frames[i], (INPUT_W, INPUT_H), dst=out[i], interpolation=cv2.INTER_AREA)
    return out


def thumbnails(low: np.ndarray) -> np.ndarray:
    """Grey thumbnails (n, 12, 20) float32 of low-resolution frames, for the difference detector."""
    from catalog.video import cv2_module
    cv2 = cv2_module()
    grey = low.astype(np.float32).mean(axis=3)
    out = np.empty((len(low), TINY_H, TINY_W), np.float32)
    for i in range(len(low)):
        out[i] = cv2.resize(grey[i], (TINY_W, TINY_H), interpolation=cv2.INTER_AREA)
    return out


class DifferenceDetector:
    """NoScope's difference detector: a frame whose thumbnail differs from the reference (the
    last frame evaluated by a later stage) by less than ``threshold`` grey levels in every cell
    reuses the reference's result. The largest cell difference is used, not the mean, so an
    object entering one corner is a difference however small it is against the whole frame."""

    def __init__(self, threshold: float):
        self.threshold = float(threshold)
        self.ref: np.ndarray | None = None
        self.ref_result: bool | None = None

    @staticmethod
    def noise_floor(pairs_a: np.ndarray, pairs_b: np.ndarray) -> float:
        """The largest cell difference between consecutive frames showing the same scene: the
        10th percentile over sampled pairs (sensor noise and drift; pairs with motion, which
        may be most of them in a busy video, lie above it)."""
        if not len(pairs_a):
            return 0.0
        d = np.abs(pairs_a - pairs_b).reshape(len(pairs_a), -1).max(axis=1)
        return float(np.quantile(d, 0.1))

    def reusable(self, thumb: np.ndarray) -> bool:
        return self.ref is not None and float(np.abs(thumb - self.ref).max()) < self.threshold

    def evaluated(self, thumb: np.ndarray, result: bool) -> None:
        self.ref, self.ref_result = thumb, result


def _torch():
    import torch
    return torch


def build_net(embed_dim: int = EMBED_DIM):
    """The specialized CNN: a strided conv, two conv blocks, a global max+mean pool (the
    embedding), a linear head to one logit. About 7k parameters and 2.3M multiply-adds a frame:
    it learns one video's question from a few hundred labelled frames in seconds on a CPU core,
    and answers a frame in a few microseconds of it."""
    torch = _torch()
    nn = torch.nn
    c = embed_dim // 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, c, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(2 * c, 1)

        def embed(self, x):
            f = self.trunk(x)
            return torch.cat([f.amax(dim=(2, 3)), f.mean(dim=(2, 3))], dim=1)

        def forward(self, x):
            return self.head(self.embed(x)).squeeze(1)
    return Net()


def _tensor(low: np.ndarray, device: str):
    torch = _torch()
    x = torch.from_numpy(np.ascontiguousarray(low)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5)


class _Bar:
    """A progress bar on stderr when it is a terminal (training is the slow part of a cascade)."""

    def __init__(self, label: str, total: int):
        self.on = sys.stderr.isatty()
        self.label, self.total, self.last = label, total, 0.0

    def update(self, done: int, loss: float) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and done < self.total:
            return
        self.last = now
        width = 30
        fill = width * done // max(self.total, 1)
        sys.stderr.write(f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] "
                         f"{done}/{self.total} loss={loss:.3f}")
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _device() -> str:
    from udfs.model import choose_device
    return choose_device()


def train_model(low: np.ndarray, labels: np.ndarray, seed: int = 0, epochs: int = 20,
                label: str = "training specialized model"):
    """A specialized CNN trained on low-resolution frames and their oracle labels (bool).
    Positives are weighted so both classes count equally; frames are flipped left-right at
    random (a person walking left is a person walking right)."""
    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = _device()
    net = build_net().to(device)
    y = labels.astype(np.float32)
    pos = max(float(y.sum()), 1.0)
    neg = max(float(len(y) - y.sum()), 1.0)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(neg / pos, device=device))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    x_all = _tensor(low, device)
    y_all = torch.from_numpy(y).to(device)
    n, bs = len(y), 64
    steps = epochs * max(1, (n + bs - 1) // bs)
    bar = _Bar(label, steps)
    done = 0
    net.train()
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, bs):
            idx = torch.from_numpy(order[s:s + bs]).to(device)
            xb = x_all[idx]
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5).to(device)
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            opt.zero_grad()
            loss = loss_fn(net(xb), y_all[idx])
            loss.backward()
            opt.step()
            done += 1
            bar.update(done, float(loss.detach()))
    net.eval()
    return net


def scores_and_embeddings(net, low: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(score, embedding) per low-resolution frame. The score is the logit of the probability
    that the predicate holds (monotone in it, and without the ties a float32 sigmoid makes at
    0 and 1, which thresholds could not separate)."""
    torch = _torch()
    device = next(net.parameters()).device
    probs, embs = [], []
    threads = torch.get_num_threads()
    if device.type == "cpu":  # batches of a scan are small: more threads only wait on each other
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for s in range(0, len(low), batch):
                e = net.embed(_tensor(low[s:s + batch], device))
                probs.append(net.head(e).squeeze(1).cpu().numpy())
                embs.append(e.cpu().numpy())
    finally:
        torch.set_num_threads(threads)
    if not probs:
        return np.empty(0, np.float32), np.empty((0, EMBED_DIM), np.float32)
    return np.concatenate(probs).astype(np.float64), np.concatenate(embs).astype(np.float32)


class Head:
    """A logistic head on stored embeddings (TASTI: a new predicate on an indexed video)."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, w: np.ndarray, b: float):
        self.mean, self.scale, self.w, self.b = mean, scale, w, b

    def scores(self, emb: np.ndarray) -> np.ndarray:
        """Logits (as ``scores_and_embeddings`` gives them)."""
        return ((emb - self.mean) / self.scale) @ self.w + self.b

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "w": self.w.tolist(), "b": self.b}

    @classmethod
    def from_state(cls, s: dict) -> "Head":
        return cls(np.array(s["mean"], np.float32), np.array(s["scale"], np.float32),
                   np.array(s["w"], np.float32), float(s["b"]))


def train_head(emb: np.ndarray, labels: np.ndarray, seed: int = 0, l2: float = 1e-2) -> Head:
    """Logistic regression on standardised embeddings, classes weighted equally (torch LBFGS)."""
    torch = _torch()
    torch.manual_seed(seed)
    mean = emb.mean(axis=0)
    scale = emb.std(axis=0) + 1e-6
    x = torch.from_numpy(((emb - mean) / scale).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.float32))
    pos = max(float(y.sum()), 1.0)
    neg = max(float(len(y) - y.sum()), 1.0)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    weight = torch.where(y > 0, torch.tensor(len(y) / (2 * pos)), torch.tensor(len(y) / (2 * neg)))
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = x @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(z, y, weight=weight)
                + l2 * (w * w).sum())
        loss.backward()
        return loss
    opt.step(closure)
    return Head(mean.astype(np.float32), scale.astype(np.float32), w.detach().numpy().astype(np.float32),
                float(b.detach()[0]))


def cluster_picks(emb: np.ndarray, k: int, seed: int = 0, iters: int = 15) -> np.ndarray:
    """``k`` frames to label, one per cluster of the embeddings (k-means, then the frame nearest
    each centre), ascending: TASTI's way of covering a video's variety with few labels."""
    rng = np.random.default_rng(seed)
    n = len(emb)
    k = min(k, n)
    x = (emb - emb.mean(axis=0)) / (emb.std(axis=0) + 1e-6)
    # k-means++ seeding on a subsample keeps this fast on long videos
    sub = x[rng.choice(n, size=min(n, 20_000), replace=False)]
    centres = [sub[rng.integers(len(sub))]]
    d2 = ((sub - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        centres.append(sub[rng.choice(len(sub), p=d2 / d2.sum()) if d2.sum() > 0 else rng.integers(len(sub))])
        d2 = np.minimum(d2, ((sub - centres[-1]) ** 2).sum(axis=1))
    c = np.stack(centres)
    for _ in range(iters):
        assign = _nearest(sub, c)
        for j in range(k):
            members = sub[assign == j]
            if len(members):
                c[j] = members.mean(axis=0)
    # the frame of the whole video nearest each centre
    picks = set()
    for j in range(k):
        d = ((x - c[j]) ** 2).sum(axis=1)
        for i in np.argsort(d)[:4]:
            if int(i) not in picks:
                picks.add(int(i))
                break
    return np.array(sorted(picks), dtype=np.int64)


def _nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
    return d.argmin(axis=1)


def save_net(net) -> bytes:
    torch = _torch()
    buf = io.BytesIO()
    torch.save({k: v.cpu() for k, v in net.state_dict().items()}, buf)
    return buf.getvalue()


def load_net(blob: bytes):
    torch = _torch()
    net = build_net()
    net.load_state_dict(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))
    net.to(_device()).eval()
    return net
