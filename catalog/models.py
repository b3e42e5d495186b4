"""Named models as catalog objects (9/11): label models (``CREATE LABEL MODEL``) and end models
(``CREATE MODEL``), each a UDF of the same name that any later query, or session, can call.

``dawn_meta.models`` holds one row per model: its kind (label_model, logistic, mlp), labels and
label type, the inputs it takes (LF names, or feature columns and their widths), a JSON
description (LF accuracies, class balance, training history), the state (a label model's
parameters as JSON, an end model's torch tensors) and the run that fitted it. In SQL,
``dawn.models`` lists them and ``dawn.label_model_lfs`` shows each label model's LFs with their
estimated accuracies, coverages and weights.

Calling a model: ``spam_lm(lf1, ..., lfm)`` (a label model: one vote column per LF, in the order
it was fitted on) and ``spam_clf(features...)`` (an end model: the feature columns it was trained
on) each return ``{label, probability, probabilities}`` per row, probabilities in label order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.sources import TableSource
from catalog.types import parse_type

DDL = [
    "CREATE TABLE IF NOT EXISTS dawn_meta.models (name VARCHAR PRIMARY KEY, kind VARCHAR, "
    "labels VARCHAR, label_type VARCHAR, inputs VARCHAR, meta VARCHAR, state BLOB, run_id VARCHAR, "
    "created_at TIMESTAMP DEFAULT current_timestamp)",
]


@dataclass
class StoredModel:
    name: str
    kind: str                 # label_model | logistic | mlp
    labels: list
    label_type: pa.DataType
    inputs: list[dict]        # [{"name": ..., "width": ...}] per argument
    meta: dict
    state: bytes

    def udf(self):
        """The model as a scalar UDF of its name."""
        from udfs.core import UDF
        from udfs.weak_supervision import result_type
        fn = _label_model_fn(self) if self.kind == "label_model" else _end_model_fn(self)
        args = ", ".join(i["name"] for i in self.inputs)
        return UDF(name=self.name, fn=fn, kind="scalar", returns=result_type(self.label_type),
                   deterministic=True, cache=False, source=f"model:{self.kind}",
                   doc=f"{self.kind} model over ({args}) -> {{label, probability, probabilities}}",
                   check=_arity_check(self))


def _arity_check(m: StoredModel):
    def check(types, consts):
        if len(types) != len(m.inputs):
            raise TypeError(f'model "{m.name}" takes {len(m.inputs)} argument(s) '
                            f"({', '.join(i['name'] for i in m.inputs)}), got {len(types)}")
    return check


def _label_model_fn(m: StoredModel):
    from udfs.label_model import LabelModel, majority_labels
    from udfs.weak_supervision import structs, vote_indexes
    lm = LabelModel.from_dict(json.loads(m.state.decode()))

    def predict(*args):
        V = vote_indexes(list(args), [i["name"] for i in m.inputs], m.labels, m.label_type,
                         f'label model "{m.name}"')
        proba = lm.predict_proba(V)
        return structs(m.labels, m.label_type, proba, majority_labels(proba, np.argsort(-lm.pi, kind="stable")))
    return predict


def feature_matrix(columns: list[pa.Array], names: list[str], widths: list[int] | None = None) -> tuple[np.ndarray, list[int]]:
    """Feature columns (numbers, or lists of numbers of one length) as one float32 matrix; a NULL
    number is 0, a NULL list all zeros. ``widths`` checks the columns against a trained model's."""
    parts, out_widths = [], []
    for i, (name, a) in enumerate(zip(names, columns)):
        a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
        t = a.type
        if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
            lens = pc.list_value_length(a).fill_null(0).to_numpy(zero_copy_only=False)
            width = int(t.list_size) if pa.types.is_fixed_size_list(t) else int(lens.max()) if len(lens) else 0
            if not pa.types.is_fixed_size_list(t) and len(lens) and ((lens != width) & (lens != 0)).any():
                raise ValueError(f'feature "{name}" holds lists of different lengths')
            a = a.fill_null(pa.scalar([0.0] * width, pa.list_(pa.float32()))) if a.null_count else a
            flat = pc.list_flatten(a).cast(pa.float32()).to_numpy(zero_copy_only=False)
            block = flat.reshape(len(a), width) if width else np.zeros((len(a), 0), np.float32)
        elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
            block = a.cast(pa.float64()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.float32)[:, None]
            width = 1
        else:
            raise ValueError(f'feature "{name}" is {t}: features are numbers or lists of numbers '
                             "(text_features(text) turns text into one)")
        if widths is not None and widths[i] != width:
            raise ValueError(f'feature "{name}" has width {width}; the model was trained with {widths[i]}')
        parts.append(block)
        out_widths.append(width)
    return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0), np.float32), out_widths


def _end_model_fn(m: StoredModel):
    from udfs.end_model import EndModel
    from udfs.label_model import majority_labels
    from udfs.weak_supervision import structs
    model = EndModel.from_bytes(m.state)
    names = [i["name"] for i in m.inputs]
    widths = [i["width"] for i in m.inputs]

    def predict(*args):
        X, _ = feature_matrix(list(args), names, widths)
        proba = model.predict_proba(X)
        return structs(m.labels, m.label_type, proba, majority_labels(proba, np.arange(len(m.labels))))
    return predict


class ModelStore:
    """Reads and writes ``dawn_meta.models`` (writes as ops for the session's transaction)."""

    def __init__(self, duck) -> None:
        self.duck = duck

    def names(self) -> list[str]:
        return [r[0] for r in self.duck.execute("SELECT lower(name) FROM dawn_meta.models").fetchall()]

    def get(self, name: str) -> StoredModel | None:
        rows = self.duck.execute("SELECT name, kind, labels, label_type, inputs, meta, state "
                                 "FROM dawn_meta.models WHERE lower(name) = lower(?)", [name]).fetchall()
        if not rows:
            return None
        n, kind, labels, ltype, inputs, meta, state = rows[0]
        return StoredModel(n, kind, json.loads(labels), parse_type(ltype), json.loads(inputs),
                           json.loads(meta), bytes(state))

    @staticmethod
    def put_op(m: StoredModel, run_id: str | None):
        from catalog.types import SQL_NAMES
        names = {v: k for k, v in reversed(list(SQL_NAMES.items()))}

        def op(duck):
            duck.execute("DELETE FROM dawn_meta.models WHERE lower(name) = lower(?)", [m.name])
            duck.execute("INSERT INTO dawn_meta.models (name, kind, labels, label_type, inputs, meta, state, run_id) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [m.name, m.kind, json.dumps(m.labels), names.get(m.label_type, "VARCHAR"),
                          json.dumps(m.inputs), json.dumps(m.meta), m.state, run_id])
        return op

    @staticmethod
    def drop_op(name: str):
        return lambda duck: duck.execute("DELETE FROM dawn_meta.models WHERE lower(name) = lower(?)", [name])


MODEL_TABLES = {
    "models": pa.schema([("name", pa.string()), ("kind", pa.string()), ("labels", pa.string()),
                         ("inputs", pa.string()), ("rows", pa.int64()), ("metrics", pa.string()),
                         ("run_id", pa.string()), ("created_at", pa.timestamp("us"))]),
    "label_model_lfs": pa.schema([("model", pa.string()), ("position", pa.int64()), ("lf", pa.string()),
                                  ("estimated_accuracy", pa.float64()), ("coverage", pa.float64()),
                                  ("weight", pa.float64()), ("grouped_with", pa.string())]),
}


class ModelTableSource(TableSource):
    """``dawn.models`` / ``dawn.label_model_lfs``: read fresh on each scan."""
    kind = "tracking"

    def __init__(self, duck, table: str) -> None:
        self.duck, self.table = duck, table
        self.name = f"dawn.{table}"
        self.schema = MODEL_TABLES[table]

    def describe(self) -> str:
        return f"model catalog table {self.name}"

    def row_count(self):
        return None

    def _rows(self) -> dict:
        rows = self.duck.execute("SELECT name, kind, labels, inputs, meta, run_id, created_at "
                                 "FROM dawn_meta.models ORDER BY name").fetchall()
        out = {f.name: [] for f in self.schema}
        for name, kind, labels, inputs, meta, run_id, created in rows:
            meta = json.loads(meta)
            if self.table == "models":
                for k, v in (("name", name), ("kind", kind), ("labels", labels),
                             ("inputs", ", ".join(i["name"] for i in json.loads(inputs))),
                             ("rows", meta.get("rows")), ("metrics", json.dumps(meta.get("metrics", {}))),
                             ("run_id", run_id), ("created_at", created)):
                    out[k].append(v)
            elif kind == "label_model":
                for pos, lf in enumerate(meta.get("lfs", [])):
                    for k in ("estimated_accuracy", "coverage", "weight", "grouped_with"):
                        out[k].append(lf.get(k))
                    out["model"].append(name)
                    out["position"].append(pos + 1)
                    out["lf"].append(lf["lf"])
        return out

    def scan(self, columns, prune=None, stats=None):
        t = pa.table(self._rows(), schema=self.schema).select(list(columns))
        if t.num_rows == 0:
            yield pa.RecordBatch.from_pylist([], schema=t.schema)
            return
        yield from t.to_batches()
