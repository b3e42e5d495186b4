"""A torch model as a UDF: a small CNN trained inside the test, run batched by the engine."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import engine
from udfs import ModelUDF

torch = pytest.importorskip("torch")


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):  # x: N x 3 x H x W in [0, 1]
        h = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.head(h)


def make_frames(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 16x16 frames: bright ones (label 1) and dark ones (label 0)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    base = np.where(labels[:, None, None, None] == 1, 170, 60)
    frames = np.clip(base + rng.normal(0, 25, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
    return frames, labels


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    net = TinyCNN()
    frames, labels = make_frames(256, 1)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    return net.eval()


def test_torch_model_udf_batched(trained):
    batches: list[int] = []
    devices: list[str] = []

    class Brightness(ModelUDF):
        name = "is_bright"
        returns = "BIGINT"
        batch_size = 7

        def load(self, device):
            return trained.to(device)

        def predict(self, model, frames):
            batches.append(len(frames))
            x = torch.from_numpy(frames.copy()).permute(0, 3, 1, 2).float().div(255)
            x = x.to(self.device)
            devices.append(str(x.device.type))
            with torch.no_grad():
                return model(x).argmax(1).cpu().numpy()

    frames, labels = make_frames(50, 2)
    con = engine.connect()
    con.register("imgs", pa.table({"id": np.arange(50), "img": pa.FixedShapeTensorArray.from_numpy_ndarray(frames),
                                   "label": labels}))
    con.register_function(Brightness)
    got = con.execute("SELECT id, is_bright(img), label FROM imgs ORDER BY id").fetchall()
    assert len(batches) == math.ceil(50 / 7) and max(batches) == 7 and sum(batches) == 50
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert set(devices) == {expected_device}
    with torch.no_grad():
        direct = trained(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    assert [r[1] for r in got] == direct.tolist()
    accuracy = np.mean([r[1] == r[2] for r in got])
    assert accuracy > 0.9
    # cached: the same query again does not run the model
    n_batches = len(batches)
    con.execute("SELECT is_bright(img) FROM imgs").fetchall()
    assert len(batches) == n_batches
    # a selective predicate in SQL gates the model
    con.execute("SET use_model_cache = false")
    con.execute("SELECT id FROM imgs WHERE id < 10 AND is_bright(img) = 1").fetchall()
    assert sum(batches[n_batches:]) == 10
