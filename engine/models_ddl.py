"""CREATE [OR REPLACE] MODEL, CREATE [OR REPLACE] LABEL MODEL and DROP MODEL (9/11).

``CREATE LABEL MODEL spam_lm [WITH (prior = [0.8, 0.2], labels = ['ham', 'spam'])] AS SELECT
lf1, ..., lfm FROM ...`` fits a label model on the query's vote columns (NULL abstains) and
stores it; ``spam_lm(lf1, ..., lfm)`` then labels any rows without fitting again.

``CREATE MODEL spam_clf [WITH (kind = 'mlp', epochs = 60, lr = 0.003, weight_decay = 0, hidden
= 64, batch_size = 256, seed = 0)] AS SELECT <features>, <label> FROM ...`` trains a noise-aware
end model: the last column is the label, either LABEL_MODEL's struct (its probabilities are the
targets of an expected cross-entropy) or a plain label; the other columns are the features
(numbers, or lists of numbers such as ``text_features(text)``). ``spam_clf(features...)``
returns ``{label, probability, probabilities}``.

Both statements are tracked runs (the fit's metrics, the model as an artifact); the catalog
object (catalog/models.py) is written only after the fit succeeded, so a failed statement
leaves the catalog as it was.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from engine.errors import BindError, DataError, NotSupportedError, ProgrammingError, did_you_mean
from engine.session import Result

END_OPTIONS = {"kind": str, "epochs": int, "lr": float, "weight_decay": float, "hidden": int,
               "batch_size": int, "seed": int}
LABEL_OPTIONS = {"prior": list, "labels": list}


def _constant(node: exp.Expression, key: str, what: str):
    if isinstance(node, exp.Array):
        return [_constant(e, key, what) for e in node.expressions]
    neg = isinstance(node, exp.Neg)
    lit = node.this if neg else node
    if not isinstance(lit, exp.Literal):
        raise ProgrammingError(f"{what} option {key} must be a constant, got {node.sql(dialect='duckdb')}")
    if lit.is_string:
        return lit.this
    v = float(lit.this) if any(c in lit.this for c in ".eE") else int(lit.this)
    return -v if neg else v


def _options(st, allowed: dict, what: str) -> dict:
    out = {}
    for key, node in st.options.items():
        if key not in allowed:
            raise NotSupportedError(f'{what} has no option "{key}"; its options: {", ".join(sorted(allowed))}')
        v = _constant(node, key, what)
        want = allowed[key]
        if want is float and isinstance(v, int):
            v = float(v)
        if not isinstance(v, want) or isinstance(v, bool):
            raise ProgrammingError(f"{what} option {key} must be {want.__name__}, got {v!r}")
        out[key] = v
    return out


def execute(session, st, run=None) -> Result:
    if st.kind == "drop_model":
        return _drop(session, st)
    what = "CREATE LABEL MODEL" if st.kind == "create_label_model" else "CREATE MODEL"
    name = st.name.lower()
    from catalog.models import ModelStore
    exists = session.store.duck.execute("SELECT 1 FROM dawn_meta.models WHERE lower(name) = ?", [name]).fetchall()
    if exists and not st.replace:
        raise ProgrammingError(f'Model "{st.name}" already exists; use CREATE OR REPLACE {what[7:]}')
    if not exists and (name in session.functions.builtins() or name in session.functions.python
                       or name in session.functions.stored()):
        raise ProgrammingError(f'{what} {st.name}: a function "{st.name}" already exists; models are called '
                               "by name, so choose another")
    opts = _options(st, LABEL_OPTIONS if st.kind == "create_label_model" else END_OPTIONS, what)
    res = session.run_query(st.query, run=run)
    table = res.table
    names = list(table.column_names)
    if st.kind == "create_label_model":
        model, metrics = _fit_label_model(st.name, table, names, opts)
    else:
        model, metrics = _fit_end_model(st.name, table, names, opts)
    model.meta["metrics"] = metrics
    session.write(ModelStore.put_op(model, getattr(run, "run_id", None)))
    ctx = run.exec[2] if run is not None and run.exec is not None else None
    if ctx is not None:  # the fit's figures go in the statement's run
        ctx.run_metrics.update(metrics)
        ctx.run_params.update({f"model.{k}": json.dumps(v) for k, v in opts.items()})
        ctx.run_params["model.kind"] = model.kind
        ctx.run_artifacts[f"model/{name}.{'json' if model.kind == 'label_model' else 'pt'}"] = model.state
    return Result(None)


def _drop(session, st) -> Result:
    name = st.name.lower()
    if not session.store.duck.execute("SELECT 1 FROM dawn_meta.models WHERE lower(name) = ?", [name]).fetchall():
        if st.if_exists:
            return Result(None, 0)
        from catalog.models import ModelStore
        raise BindError(f'Model "{st.name}" does not exist.' + did_you_mean(name, ModelStore(session.store.duck).names()))
    from catalog.models import ModelStore
    session.write(ModelStore.drop_op(name))
    return Result(None, 0)


def _fit_label_model(name: str, table: pa.Table, cols: list[str], opts: dict):
    from catalog.models import StoredModel
    from udfs.weak_supervision import LabelModelAccumulator, Options, VotesError, label_type_of, sorted_labels
    what = "CREATE LABEL MODEL"
    if not cols:
        raise DataError(f"{what} {name}: the query has no vote columns")
    try:
        label_type = label_type_of([(c, table.schema.field(c).type) for c in cols], what)
    except TypeError as e:
        raise DataError(str(e)) from None
    labels = opts.get("labels")
    prior = opts.get("prior")
    if prior is not None and labels is None:
        raise ProgrammingError(f"{what} {name}: prior needs labels = [...] in the prior's order")
    if prior is not None and (len(prior) != len(labels) or abs(sum(prior) - 1) > 1e-6
                              or not all(0 < p < 1 for p in prior)):
        raise ProgrammingError(f"{what} {name}: prior must be {len(labels)} class probabilities in (0, 1) "
                               f"summing to 1, got {prior}")
    if labels is not None:
        labels, prior = sorted_labels(labels, prior)
    acc = LabelModelAccumulator.configured(Options("label_model", tuple(cols), label_type,
                                                   tuple(labels) if labels else None,
                                                   tuple(prior) if prior else None))()
    try:
        args = [table.column(c).combine_chunks().cast(label_type) for c in cols]
        acc.update(args, np.zeros(table.num_rows, np.int64), 1)
        if table.num_rows == 0:
            raise VotesError(f"{what} {name} over zero rows: there are no votes to learn from")
        lm = acc.fit(0)
    except VotesError as e:
        raise DataError(str(e).replace("LABEL_MODEL", f"{what} {name}")) from None
    acc_est, w = lm.accuracy, lm.weights
    lfs = []
    for i, c in enumerate(cols):
        group = next(g for g in lm.groups if i in g)
        lfs.append({"lf": c, "estimated_accuracy": None if np.isnan(acc_est[i]) else float(acc_est[i]),
                    "coverage": float(lm.coverage[i]), "weight": None if np.isnan(w[i]) else float(w[i]),
                    "grouped_with": ", ".join(cols[j] for j in group if j != i) or None})
    metrics = {k: v for k, v in acc.record["metrics"].items()}
    meta = {"rows": int(lm.n_rows), "lfs": lfs, "class_balance": dict(zip(map(str, acc.labels), lm.pi.tolist())),
            "method": lm.method}
    m = StoredModel(name, "label_model", list(acc.labels), label_type, [{"name": c, "width": 1} for c in cols],
                    meta, json.dumps(lm.to_dict()).encode())
    return m, metrics


def _fit_end_model(name: str, table: pa.Table, cols: list[str], opts: dict):
    from catalog.models import StoredModel, feature_matrix
    from udfs.end_model import KINDS, fit_end_model
    what = "CREATE MODEL"
    if len(cols) < 2:
        raise ProgrammingError(f"{what} {name}: the query needs feature columns and a label as its last "
                               "column (for example LABEL_MODEL(...) OVER () or a label column)")
    label_col, feats = cols[-1], cols[:-1]
    lab = table.column(label_col).combine_chunks()
    t = lab.type
    if pa.types.is_struct(t) and t.get_field_index("probabilities") >= 0 and t.get_field_index("label") >= 0:
        label_type = t.field("label").type
        probs_list = pc.struct_field(lab, "probabilities")
        lab_values = pc.struct_field(lab, "label")
        k = int(pc.max(pc.list_value_length(probs_list)).as_py() or 0)
        labels = sorted(pc.unique(lab_values.drop_null()).to_pylist())
        if len(labels) != k:
            raise DataError(f'{what} {name}: the label column "{label_col}" has probabilities over {k} classes '
                            f"but labels {labels} appear; every class must be some row's label")
        valid = pc.is_valid(probs_list).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(probs_list.filter(pa.array(valid))).to_numpy(zero_copy_only=False)
        probs = np.full((len(lab), k), np.nan)
        probs[valid] = flat.reshape(-1, k)
    elif pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
        label_type = pa.string() if pa.types.is_string(t) else pa.int64()
        lab = lab.cast(label_type)
        labels = sorted(pc.unique(lab.drop_null()).to_pylist())
        idx = pc.index_in(lab, value_set=pa.array(labels, label_type)).fill_null(-1).to_numpy(zero_copy_only=False)
        probs = np.full((len(lab), len(labels)), np.nan)
        probs[idx >= 0] = np.eye(len(labels))[idx[idx >= 0]]
    else:
        raise DataError(f'{what} {name}: the last column "{label_col}" is the label: a LABEL_MODEL / '
                        f"MAJORITY_VOTE struct or a string or integer label, not {t}")
    if table.num_rows == 0 or np.isnan(probs).all():
        raise DataError(f'{what} {name}: no row has a label (the last column "{label_col}" is the label)')
    if len(labels) < 2:
        raise DataError(f"{what} {name}: the labels hold one class only ({labels}); a classifier needs two")
    try:
        X, widths = feature_matrix([table.column(c) for c in feats], feats)
    except ValueError as e:
        raise DataError(f"{what} {name}: {e}") from None
    kind = opts.pop("kind", "logistic")
    if kind not in KINDS:
        raise ProgrammingError(f"{what} {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    opts.setdefault("epochs", 60)   # measured on the YouTube spam labels: 30 epochs at 1e-3 underfit
    opts.setdefault("lr", 0.003)
    try:
        model = fit_end_model(X, probs, kind=kind, **opts)
    except ValueError as e:
        raise DataError(f"{what} {name}: {e}") from None
    labelled = ~np.isnan(probs).any(1)
    train_acc = float((model.predict_proba(X[labelled]).argmax(1) == probs[labelled].argmax(1)).mean())
    metrics = {"model.rows": float(labelled.sum()), "model.dropped_rows": float(model.dropped),
               "model.final_loss": float(model.history[-1]) if model.history else float("nan"),
               "model.train_agreement": train_acc, "model.epochs": float(len(model.history))}
    meta = {"rows": int(labelled.sum()), "history": model.history, "kind": kind, "params": model.params}
    m = StoredModel(name, kind, labels, label_type, [{"name": c, "width": w} for c, w in zip(feats, widths)],
                    meta, model.to_bytes())
    return m, metrics
