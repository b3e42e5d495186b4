"""Runs out to MLflow: its file-store layout (no mlflow needed), or any tracking server through
mlflow's own client (the optional ``mlflow`` extra).

File-store layout written by ``export_file_store(tracker, root)``::

    root/.trash/
    root/<experiment_id>/meta.yaml
    root/<experiment_id>/<run_id>/meta.yaml
    root/<experiment_id>/<run_id>/params/<key>       value
    root/<experiment_id>/<run_id>/metrics/<key>      "<timestamp_ms> <value> <step>" lines
    root/<experiment_id>/<run_id>/tags/<key>         value
    root/<experiment_id>/<run_id>/artifacts/<path>   content

MLflow 3 (mlflow-skinny 3.17 checked) refuses to read a file store unless the reading process
has ``MLFLOW_ALLOW_FILE_STORE=true`` in its environment (the file store is in "maintenance
mode"); the database backend it recommends instead, SQLite, needs SQLAlchemy and the full
``mlflow`` package, so the file store stays the format written here, and ``file_store_note``
says how to read it (the runs CLI prints it after an export).

MLflow caps a param value at 6,000 characters and a tag at 8,000: the statement text always goes
to the artifact ``statement.sql`` and to the tag ``dawn.sql`` only cut to the cap; a longer param
is cut likewise and kept whole as the artifact ``params/<key>.txt``.
"""
from __future__ import annotations

import os
from collections import defaultdict

MAX_PARAM = 6000
MAX_TAG = 8000
_STATUS = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}


class ExportError(Exception):
    pass


def _yaml_str(v) -> str:
    if v is None:
        return "null"
    s = str(v).replace("'", "''")
    return f"'{s}'"


def _write(path: str, text: str) -> None:
    from catalog.tracking import artifact_bytes
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = artifact_bytes(text)
    if data is not None:  # a PNG or a model, stored as base64 text
        with open(path, "wb") as f:
            f.write(data)
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _safe_key(key: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . space /``; anything else becomes ``_``."""
    out = "".join(c if c.isalnum() or c in "_-. /" else "_" for c in key)
    return out.strip("/") or "_"


def collect(tracker, experiment: str | None = None, run_ids: list[str] | None = None) -> list[dict]:
    """Runs with their params, metrics, tags and artifacts, as plain dicts (oldest first)."""
    runs = tracker.read("runs").to_pylist()
    if experiment is not None:
        runs = [r for r in runs if r["experiment"].lower() == experiment.lower()]
    if run_ids is not None:
        wanted = set(run_ids)
        runs = [r for r in runs if r["run_id"] in wanted]
    runs.sort(key=lambda r: (r["start_time"], r["run_id"]))
    ids = {r["run_id"] for r in runs}
    by_run: dict[str, dict[str, dict]] = defaultdict(lambda: {"params": {}, "metrics": {}, "tags": {},
                                                              "artifacts": {}})
    for name, key, val in (("params", "key", "value"), ("tags", "key", "value"), ("artifacts", "path", "content")):
        for row in tracker.read(name).to_pylist():
            if row["run_id"] in ids:
                by_run[row["run_id"]][name][row[key]] = row[val]
    for row in tracker.read("metrics").to_pylist():
        if row["run_id"] in ids:
            by_run[row["run_id"]]["metrics"][row["key"]] = (row["value"], row["timestamp"], row["step"])
    out = []
    for r in runs:
        r = dict(r)
        r.update(by_run[r["run_id"]])
        out.append(r)
    return out


def mlflow_view(run: dict) -> tuple[dict, dict, dict, dict]:
    """(params, metrics, tags, artifacts) of a run as MLflow will hold them."""
    params, artifacts = {}, dict(run["artifacts"])
    for k, v in run["params"].items():
        if len(v) > MAX_PARAM:
            artifacts[f"params/{_safe_key(k)}.txt"] = v
            v = v[:MAX_PARAM]
        params[_safe_key(k)] = v
    metrics = {_safe_key(k): v for k, v in run["metrics"].items()}
    tags = {_safe_key(k): v for k, v in run["tags"].items()}
    tags.update({
        "mlflow.runName": f"{run['statement_kind'].lower().replace(' ', '-')}-{run['run_id'][:8]}",
        "mlflow.user": run["user_name"] or "",
        "mlflow.source.name": f"dawn ({run['source']})",
        "mlflow.source.type": "LOCAL",
        "dawn.run_id": run["run_id"],
        "dawn.sql": run["sql"][:MAX_TAG],
        "dawn.plan_hash": run["plan_hash"] or "",
    })
    if run["error"]:
        tags["dawn.error"] = run["error"][:MAX_TAG]
    artifacts["statement.sql"] = run["sql"]
    return params, metrics, tags, artifacts


def file_store_note(root: str) -> str:
    """How to read an exported file store with MLflow 3, which refuses one by default."""
    uri = "file://" + os.path.abspath(root)
    return (f"MLflow 3 reads a file store only with MLFLOW_ALLOW_FILE_STORE=true set where it is "
            f"read, e.g. MLFLOW_ALLOW_FILE_STORE=true MLFLOW_TRACKING_URI={uri} mlflow runs list "
            f"--experiment-id <id> (or MlflowClient(tracking_uri='{uri}') with that variable set); "
            "`mlflow migrate-filestore` converts it to SQLite (needs the full mlflow package), and "
            "--mlflow-uri logs to a tracking server instead")


def export_file_store(tracker, root: str, experiment: str | None = None) -> int:
    """Write runs in MLflow's file-store layout under ``root``; returns the number of runs."""
    root = os.path.abspath(root)
    runs = collect(tracker, experiment)
    exps = {r[0]: (r[1], r[2]) for r in
            ((e["experiment_id"], e["name"], e["created_time"]) for e in tracker.read("experiments").to_pylist())}
    os.makedirs(os.path.join(root, ".trash"), exist_ok=True)
    for exp_id in sorted({r["experiment_id"] for r in runs}):
        name, created = exps.get(exp_id, (exp_id, 0))
        meta = os.path.join(root, exp_id, "meta.yaml")
        if os.path.exists(meta):
            with open(meta, encoding="utf-8") as f:
                have = [ln.split(":", 1)[1].strip().strip("'\"") for ln in f if ln.startswith("name:")]
            if have and have[0] != name:
                raise ExportError(f"{root} already holds experiment {exp_id} named {have[0]!r}, not "
                                  f"{name!r}: export into an empty directory")
        _write(meta, "\n".join([
            f"artifact_location: {_yaml_str('file://' + os.path.join(root, exp_id))}",
            f"creation_time: {int(created or 0)}",
            f"experiment_id: {_yaml_str(exp_id)}",
            f"last_update_time: {int(created or 0)}",
            "lifecycle_stage: active",
            f"name: {_yaml_str(name)}", ""]))
    for r in runs:
        params, metrics, tags, artifacts = mlflow_view(r)
        rdir = os.path.join(root, r["experiment_id"], r["run_id"])
        _write(os.path.join(rdir, "meta.yaml"), "\n".join([
            f"artifact_uri: {_yaml_str('file://' + os.path.join(rdir, 'artifacts'))}",
            f"end_time: {int(r['end_time'])}",
            "entry_point_name: ''",
            f"experiment_id: {_yaml_str(r['experiment_id'])}",
            "lifecycle_stage: active",
            f"run_id: {_yaml_str(r['run_id'])}",
            f"run_name: {_yaml_str(tags['mlflow.runName'])}",
            f"run_uuid: {_yaml_str(r['run_id'])}",
            "source_name: ''",
            "source_type: 4",
            "source_version: ''",
            f"start_time: {int(r['start_time'])}",
            f"status: {_STATUS.get(r['status'], 4)}",
            "tags: []",
            f"user_id: {_yaml_str(r['user_name'])}", ""]))
        for k, v in params.items():
            _write(os.path.join(rdir, "params", k), v)
        for k, (v, ts, step) in metrics.items():
            _write(os.path.join(rdir, "metrics", k), f"{int(ts)} {float(v)!r} {int(step)}\n")
        for k, v in tags.items():
            _write(os.path.join(rdir, "tags", k), v)
        os.makedirs(os.path.join(rdir, "artifacts"), exist_ok=True)
        for p, v in artifacts.items():
            _write(os.path.join(rdir, "artifacts", p), v)
    return len(runs)


def export_to_server(tracker, uri: str, experiment: str | None = None) -> dict[str, str]:
    """Log runs to an MLflow tracking server (or any tracking URI) through mlflow's client.
    The server assigns new run ids; returns {dawn run id: mlflow run id}, and each MLflow run
    carries the tag ``dawn.run_id``."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ExportError('Logging to an MLflow server needs mlflow: pip install "dawn[mlflow]"') from None
    client = MlflowClient(tracking_uri=uri)
    ids: dict[str, str] = {}
    exp_ids: dict[str, str] = {}
    for r in collect(tracker, experiment):
        name = r["experiment"]
        if name not in exp_ids:
            e = client.get_experiment_by_name(name)
            exp_ids[name] = e.experiment_id if e is not None else client.create_experiment(name)
        params, metrics, tags, artifacts = mlflow_view(r)
        run = client.create_run(exp_ids[name], start_time=int(r["start_time"]),
                                tags={k: v for k, v in tags.items() if k != "mlflow.runName"},
                                run_name=tags["mlflow.runName"])
        rid = run.info.run_id
        p_items = [Param(k, v) for k, v in params.items()]
        m_items = [Metric(k, float(v), int(ts), int(step)) for k, (v, ts, step) in metrics.items()]
        for i in range(0, max(len(p_items), len(m_items), 1), 100):
            client.log_batch(rid, metrics=m_items[i:i + 100], params=p_items[i:i + 100])
        for p, v in artifacts.items():
            _log_artifact(client, rid, p, v)
        client.set_terminated(rid, status=r["status"], end_time=int(r["end_time"]))
        ids[r["run_id"]] = rid
    return ids


def _log_artifact(client, rid: str, path: str, content: str) -> None:
    from catalog.tracking import artifact_bytes
    data = artifact_bytes(content)
    if data is None:
        client.log_text(rid, content, path)
        return
    import tempfile
    with tempfile.TemporaryDirectory() as d:  # MLflow logs binary artifacts from files
        local = os.path.join(d, os.path.basename(path))
        with open(local, "wb") as f:
            f.write(data)
        client.log_artifact(rid, local, os.path.dirname(path) or None)
