"""Specialized models and per-video indexes as catalog objects (cascades, 7/11).

``dawn_meta.specialized_models`` holds one row per (video, oracle, oracle version, predicate):
the trained network (a torch state dict) or a head on the video's index, and its calibrations
(thresholds per FN/FP target and confidence), with the labels it cost. ``dawn_meta.video_index``
holds per-frame embeddings of a video (float16), written by the first cascade that scanned all of
its frames, keyed by the video's identity (content hash and decode options) and the network that
made them. Both live in the database file, so a later session reuses them; an in-memory database
keeps them for its life.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DDL = [
    "CREATE TABLE IF NOT EXISTS dawn_meta.specialized_models (key VARCHAR PRIMARY KEY, "
    "video VARCHAR, oracle VARCHAR, oracle_version VARCHAR, predicate VARCHAR, kind VARCHAR, "
    "meta VARCHAR, state BLOB, created_at TIMESTAMP DEFAULT current_timestamp)",
    "CREATE TABLE IF NOT EXISTS dawn_meta.video_index (video VARCHAR, made_by VARCHAR, "
    "frames BIGINT, dim INTEGER, embeddings BLOB, created_at TIMESTAMP DEFAULT current_timestamp, "
    "PRIMARY KEY (video, made_by))",
]


def model_key(video: str, oracle: str, version: str, predicate: str) -> str:
    return hashlib.sha256("\x1f".join([video, oracle, version, predicate]).encode()).hexdigest()[:24]


@dataclass
class SpecializedModel:
    key: str
    video: str
    oracle: str
    oracle_version: str
    predicate: str
    kind: str                       # "cnn" (own network) or "head" (on the video's index)
    meta: dict[str, Any] = field(default_factory=dict)
    state: bytes = b""

    def calibration(self, targets: str) -> dict | None:
        return self.meta.get("calibrations", {}).get(targets)


def load_model(duck, key: str) -> SpecializedModel | None:
    rows = duck.execute("SELECT key, video, oracle, oracle_version, predicate, kind, meta, state "
                        "FROM dawn_meta.specialized_models WHERE key = ?", [key]).fetchall()
    if not rows:
        return None
    r = rows[0]
    return SpecializedModel(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}"), bytes(r[7] or b""))


def find_models(duck, video: str, oracle: str, version: str) -> list[SpecializedModel]:
    """Every stored model of ``oracle`` on ``video``, the newest first (any predicate)."""
    rows = duck.execute("SELECT key FROM dawn_meta.specialized_models WHERE video = ? AND oracle = ? "
                        "AND oracle_version = ? ORDER BY created_at DESC", [video, oracle, version]).fetchall()
    return [m for (k,) in rows if (m := load_model(duck, k)) is not None]


def save_model_op(m: SpecializedModel):
    def op(duck):
        duck.execute("DELETE FROM dawn_meta.specialized_models WHERE key = ?", [m.key])
        duck.execute("INSERT INTO dawn_meta.specialized_models (key, video, oracle, oracle_version, "
                     "predicate, kind, meta, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [m.key, m.video, m.oracle, m.oracle_version, m.predicate, m.kind,
                      json.dumps(m.meta), m.state])
    return op


def load_index(duck, video: str) -> tuple[str, np.ndarray] | None:
    """(the model key that made it, embeddings (frames x dim) float32) of a video, or None."""
    rows = duck.execute("SELECT made_by, frames, dim, embeddings FROM dawn_meta.video_index "
                        "WHERE video = ? ORDER BY created_at LIMIT 1", [video]).fetchall()
    if not rows:
        return None
    made_by, n, d, blob = rows[0]
    return made_by, np.frombuffer(bytes(blob), dtype=np.float16).reshape(int(n), int(d)).astype(np.float32)


def has_index(duck, video: str) -> bool:
    return bool(duck.execute("SELECT count(*) FROM dawn_meta.video_index WHERE video = ?",
                             [video]).fetchone()[0])


def save_index_op(video: str, made_by: str, emb: np.ndarray):
    blob = np.ascontiguousarray(emb.astype(np.float16)).tobytes()

    def op(duck):
        duck.execute("DELETE FROM dawn_meta.video_index WHERE video = ? AND made_by = ?", [video, made_by])
        duck.execute("INSERT INTO dawn_meta.video_index (video, made_by, frames, dim, embeddings) "
                     "VALUES (?, ?, ?, ?, ?)", [video, made_by, len(emb), emb.shape[1], blob])
    return op
