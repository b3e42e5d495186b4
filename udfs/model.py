"""Model UDFs: expensive callables (torch models, detectors) loaded once per process, batched,
on CUDA when available, with results cached by the engine.

Subclass ``ModelUDF`` and implement ``load`` and ``predict``::

    class Digits(ModelUDF):
        name = "digit"
        returns = "BIGINT"
        batch_size = 64

        def load(self, device):
            net = SmallCNN(); net.load_state_dict(torch.load(path)); return net.to(device).eval()

        def predict(self, model, frames):          # numpy batch in, one result per row out
            x = torch.from_numpy(frames).to(self.device)
            return model(x).argmax(1).cpu().numpy()

``con.register_function(Digits)`` makes ``digit(x)`` callable in SQL. The model is loaded on the
first call and kept for the life of the process (one copy per class, version and device).
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pyarrow as pa

_LOADED: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def choose_device(prefer: str | None = None) -> str:
    """'cuda' when torch sees a GPU (and the caller does not insist otherwise), else 'cpu'."""
    if prefer:
        return prefer
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow argument as numpy: tensors as (n, *shape) arrays without copying."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr.type, pa.FixedShapeTensorType):
        return arr.to_numpy_ndarray()
    return arr.to_numpy(zero_copy_only=False)


class ModelUDF:
    name: str = ""
    returns: Any = "DOUBLE"
    args: tuple | None = None
    batch_size: int = 32
    version: str = "1"
    cost: float | None = 0.01      # seconds per row until measured
    threads: int | None = None     # CPU threads for torch; default: all cores
    device_preference: str | None = None

    def __init__(self) -> None:
        self.device = choose_device(self.device_preference)
        self.calls = 0             # batches predicted (tests use it)
        self.rows = 0

    # ---- to implement
    def load(self, device: str) -> Any:
        raise NotImplementedError

    def predict(self, model: Any, *inputs: np.ndarray) -> Any:
        raise NotImplementedError

    # ---- machinery
    def model(self) -> Any:
        key = (type(self).__module__, type(self).__qualname__, self.version, self.device)
        m = _LOADED.get(key)
        if m is None:
            with _LOCK:
                m = _LOADED.get(key)
                if m is None:
                    if self.device == "cpu":
                        try:
                            import torch
                            torch.set_num_threads(self.threads or os.cpu_count() or 1)
                        except ImportError:
                            pass
                    m = self.load(self.device)
                    _LOADED[key] = m
        return m

    def __call__(self, *arrays: pa.Array) -> Any:
        model = self.model()
        inputs = [to_numpy(a) for a in arrays]
        self.calls += 1
        self.rows += len(inputs[0]) if inputs else 0
        return self.predict(model, *inputs)

    def as_udf(self, **overrides):
        from udfs.core import UDF, _returns, _types
        ret = overrides.pop("returns", None) or self.returns
        name = (overrides.pop("name", None) or self.name or type(self).__name__).lower()
        return UDF(name=name, fn=self, kind="scalar", returns=_returns("scalar", ret),
                   args=_types(overrides.pop("args", self.args)),
                   deterministic=overrides.pop("deterministic", True),
                   batch_size=overrides.pop("batch_size", self.batch_size),
                   cost=overrides.pop("cost", self.cost), version=str(overrides.pop("version", self.version)),
                   cache=overrides.pop("cache", True), model=True,
                   oracle=overrides.pop("oracle", getattr(self, "oracle", False)),
                   doc=(type(self).__doc__ or "").strip())
