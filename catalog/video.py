"""Video tables: a video file read lazily with OpenCV as rows ``(frame_id, ts, frame)``.

``frame`` is an Arrow fixed-shape tensor of uint8, H x W x 3 (OpenCV's BGR order). Frames are
decoded only when a query reads ``frame``, and only for the rows that survive the predicates that
do not need pixels (the scan hands those to ``scan(pre_filter=...)``): skipped frames are grabbed
without being converted, and long gaps are crossed by seeking. Decoding writes straight into a
batch buffer that is recycled once consumers have let go of its frames, so a scan costs about
what a bare OpenCV read loop costs.

Metadata (fps, frame count, size, a SHA-256 of the file's content) is computed once per file
version and kept in the catalog (``dawn_meta.video_sources``). ``fps``, ``width`` and ``height``
options resample and resize at decode time.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from catalog.sources import ScanStats, TableSource

BATCH_FRAMES = 16
SEEK_GAP = 48  # frames: beyond this gap, seek instead of grabbing frame by frame


class VideoError(Exception):
    """A video that cannot be opened or decoded; the engine maps it to a DB-API error."""


_CV2 = None


def cv2_module():
    """OpenCV, with its own and FFmpeg's log output silenced: a truncated or corrupt file is
    reported once, as Dawn's error, not as decoder lines on the user's terminal (FFmpeg prints
    "moov atom not found" and the like, OpenCV its "[ WARN:0@...]" lines). Set before the first
    capture opens (OpenCV reads OPENCV_FFMPEG_LOGLEVEL then); a user's own setting wins."""
    global _CV2
    if _CV2 is None:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
        user_level = "OPENCV_LOG_LEVEL" in os.environ
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
        import cv2
        if not user_level:
            try:
                cv2.setLogLevel(0)  # cv2 may have been imported (and its level read) before
            except AttributeError:
                pass
        _CV2 = cv2
    return _CV2


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frame_count: int
    fps: float
    width: int
    height: int
    content_hash: str
    size: int
    mtime: float


def file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_INFO_CACHE: dict[tuple[str, int, float], VideoInfo] = {}


def probe(path: str, lookup: Callable[[str, int, float], VideoInfo | None] | None = None) -> VideoInfo:
    """Open ``path`` with OpenCV and read its metadata (frame count counted, not guessed)."""
    cv2 = cv2_module()
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime)
    if key in _INFO_CACHE:
        return _INFO_CACHE[key]
    if lookup is not None:
        known = lookup(*key)
        if known is not None:
            _INFO_CACHE[key] = known
            return known
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise VideoError(f"OpenCV cannot open video '{path}': it is not a video, or it is truncated or corrupt")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        n = 0
        while cap.grab():
            n += 1
    finally:
        cap.release()
    if n == 0 or width <= 0 or height <= 0:
        raise VideoError(f"Video '{path}' has no decodable frames: truncated or corrupt")
    if declared > 0 and n < declared:
        raise VideoError(f"Video '{path}' is truncated or corrupt: its header declares {declared} "
                         f"frames but only {n} can be decoded")
    info = VideoInfo(key[0], n, fps if fps > 0 else 25.0, width, height, file_hash(path),
                     st.st_size, st.st_mtime)
    _INFO_CACHE[key] = info
    return info


class _Progress:
    """A one-line progress report on stderr for long scans, only when stderr is a terminal."""

    def __init__(self, label: str, total: int):
        self.enabled = total >= 500 and sys.stderr.isatty()
        self.label, self.total, self.done, self._last = label, total, 0, 0.0

    def update(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        now = time.monotonic()
        if now - self._last > 0.2 or self.done >= self.total:
            self._last = now
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total} frames "
                             f"({100 * self.done // max(self.total, 1)}%)")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


class VideoSource(TableSource):
    kind = "video"
    prefers_take = True  # a sample decodes only its frames

    def __init__(self, path: str, name: str | None = None, fps: float | None = None,
                 width: int | None = None, height: int | None = None, info: VideoInfo | None = None):
        self.path = path
        self.fps_option, self.width_option, self.height_option = fps, width, height
        self.info = info or probe(path)
        self.name = name or os.path.splitext(os.path.basename(path))[0]
        self.out_w = int(width or self.info.width)
        self.out_h = int(height or self.info.height)
        self.step = 1.0 if not fps or fps >= self.info.fps else self.info.fps / float(fps)
        self.fps = self.info.fps / self.step
        self.n_rows = int(np.floor((self.info.frame_count - 1) / self.step)) + 1
        self.frame_type = pa.fixed_shape_tensor(pa.uint8(), [self.out_h, self.out_w, 3])
        self.schema = pa.schema([pa.field("frame_id", pa.int64(), False),
                                 pa.field("ts", pa.float64(), False),
                                 pa.field("frame", self.frame_type)])
        self.frames_decoded = 0  # for tests and EXPLAIN ANALYZE

    def describe(self) -> str:
        return f"video {self.path}"

    def row_count(self) -> int:
        return self.n_rows

    @property
    def decode_spec(self) -> str:
        """The video as decoded here (file and fps/size options), as text: what a function of
        consecutive frames receives to decode a neighbour frame (``open_spec``)."""
        return json.dumps({"path": self.path, "fps": self.fps_option, "width": self.width_option,
                           "height": self.height_option}, sort_keys=True)

    def frames(self, ids: np.ndarray) -> np.ndarray:
        """Frames ``ids`` (ascending) decoded exactly as a scan decodes them, as a new array."""
        decoder = _Decoder(self)
        try:
            return decoder.read(np.asarray(ids, dtype=np.int64)).copy()
        finally:
            decoder.close()

    @property
    def identity(self) -> str:
        """What a cached model result over this video's frames is keyed by (with frame_id)."""
        opts = "" if (self.step == 1.0 and self.out_w == self.info.width and self.out_h == self.info.height) \
            else f"@{self.step:g}x{self.out_w}x{self.out_h}"
        return self.info.content_hash + opts

    def scan(self, columns, prune=None, stats: ScanStats | None = None,
             pre_filter: Callable[[pa.RecordBatch], np.ndarray | None] | None = None) -> Iterator[pa.RecordBatch]:
        lo, hi = 0, self.n_rows
        for col, op, v in prune or []:
            if col == "frame_id" and isinstance(v, int):
                if op == "eq":
                    lo, hi = max(lo, v), min(hi, v + 1)
                elif op == "lt":
                    hi = min(hi, v)
                elif op == "lte":
                    hi = min(hi, v + 1)
                elif op == "gt":
                    lo = max(lo, v + 1)
                elif op == "gte":
                    lo = max(lo, v)

        def chunks():
            for start in range(lo, max(lo, hi), BATCH_FRAMES):
                ids = np.arange(start, min(hi, start + BATCH_FRAMES), dtype=np.int64)
                if pre_filter is not None:
                    keep = pre_filter(self._meta(ids))
                    if keep is not None:
                        ids = ids[keep]
                yield ids
        yield from self._batches(chunks(), columns, stats, hi - lo)

    def take(self, positions, columns, stats: ScanStats | None = None):
        """Frames at ``positions`` (frame ids, ascending): only those are decoded, the capture
        grabbing across short gaps and seeking (``CAP_PROP_POS_FRAMES``) across long ones."""
        positions = np.asarray(positions, dtype=np.int64)
        chunks = (positions[i:i + BATCH_FRAMES] for i in range(0, len(positions), BATCH_FRAMES))
        yield from self._batches(chunks, columns, stats, len(positions))

    def _meta(self, ids: np.ndarray) -> pa.RecordBatch:
        return pa.record_batch({"frame_id": ids, "ts": ids * (self.step / self.info.fps)})

    def _batches(self, chunks: Iterator[np.ndarray], columns, stats: ScanStats | None,
                 total: int) -> Iterator[pa.RecordBatch]:
        """Batches of ``columns`` for each array of frame ids (ascending) in ``chunks``."""
        want_frame = "frame" in columns
        schema = pa.schema([self.schema.field(c) for c in columns])
        if stats is not None:
            stats.columns_read = list(columns)
        decoder = _Decoder(self) if want_frame else None
        progress = _Progress(f"video {self.name}", total) if want_frame else None
        emitted = False
        try:
            for ids in chunks:
                if not len(ids):
                    continue
                meta = self._meta(ids)
                cols = {"frame_id": meta.column(0), "ts": meta.column(1)}
                if decoder is not None:
                    frames = decoder.read(ids)
                    cols["frame"] = pa.FixedShapeTensorArray.from_numpy_ndarray(frames)
                    self.frames_decoded += len(ids)
                    if stats is not None:
                        stats.bytes_read += frames.nbytes
                    progress.update(len(ids))
                emitted = True
                yield pa.RecordBatch.from_arrays([cols[c] for c in columns], schema=schema)
        finally:
            if decoder is not None:
                decoder.close()
        if not emitted:
            yield pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema) \
                if not want_frame else pa.RecordBatch.from_arrays(
                    [pa.array([], f.type) if f.name != "frame" else
                     pa.FixedShapeTensorArray.from_numpy_ndarray(np.empty((0, self.out_h, self.out_w, 3), np.uint8))
                     for f in schema], schema=schema)


class _Decoder:
    """Sequential OpenCV decoding of selected source frames into a reusable buffer."""

    def __init__(self, src: VideoSource):
        cv2 = cv2_module()
        self.cv2 = cv2
        self.src = src
        self.cap = cv2.VideoCapture(src.path)
        if not self.cap.isOpened():
            raise VideoError(f"OpenCV cannot open video '{src.path}'")
        self.pos = 0  # index of the next source frame the capture will return
        self.pool: list[np.ndarray] = []
        self.resize = (src.out_w, src.out_h) != (src.info.width, src.info.height)
        self.native = np.empty((src.info.height, src.info.width, 3), dtype=np.uint8) if self.resize else None

    def _buffer(self, n: int) -> np.ndarray:
        """A batch buffer, recycled once nothing downstream holds the frames decoded into it:
        fresh multi-megabyte allocations cost more in page faults than decoding saves."""
        for buf in self.pool:
            if sys.getrefcount(buf) <= 3 and len(buf) >= n:  # the pool, this loop, the call
                return buf[:n]
        buf = np.empty((max(n, BATCH_FRAMES), self.src.out_h, self.src.out_w, 3), dtype=np.uint8)
        if len(self.pool) < 8:
            self.pool.append(buf)
        return buf[:n]

    def read(self, ids: np.ndarray) -> np.ndarray:
        src = self.src
        out = self._buffer(len(ids))
        targets = np.floor(ids * src.step).astype(np.int64)
        for i, t in enumerate(targets):
            gap = t - self.pos
            if gap < 0 or gap > SEEK_GAP:
                self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, int(t))
                self.pos = int(t)
            else:
                for _ in range(gap):
                    if not self.cap.grab():
                        self._fail(t)
                    self.pos += 1
            dst = self.native if self.resize else out[i]
            ok, img = self.cap.read(dst)
            if not ok or img is None:
                self._fail(t)
            if img is not dst and img.shape == dst.shape:
                dst[...] = img
            if self.resize:
                self.cv2.resize(dst, (src.out_w, src.out_h), dst=out[i], interpolation=self.cv2.INTER_AREA)
            self.pos += 1
        return out

    def _fail(self, frame: int):
        raise VideoError(f"Video '{self.src.path}' could not be decoded at frame {frame}: the file "
                         f"is truncated or corrupt (or changed since it was opened)")

    def close(self) -> None:
        self.cap.release()


# ---------------------------------------------------------------- consecutive frames

_SOURCES: dict[str, VideoSource] = {}
_LAST: dict[str, tuple[int, np.ndarray]] = {}  # spec -> (frame_id, frame): the last one seen
_LOCK = threading.Lock()


def open_spec(spec: str) -> VideoSource:
    """The video a ``VideoSource.decode_spec`` names (opened once per process)."""
    src = _SOURCES.get(spec)
    if src is None:
        d = json.loads(spec)
        src = VideoSource(d["path"], fps=d["fps"], width=d["width"], height=d["height"])
        with _LOCK:
            _SOURCES[spec] = src
    return src


def previous_frames(spec: str, ids: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For frames ``frames`` with ids ``ids`` of the video ``spec``: (the frame before each one,
    a mask of the rows that have one, i.e. not frame 0).

    A previous frame comes from the same batch when it is there, else from the last frame of
    the batch before (a sequential scan never decodes twice), else it is decoded from the file:
    the answer depends only on the video and the frame id, never on what the query reads."""
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    has = ids > 0
    out = np.empty_like(frames)
    if not n:
        return out, has
    where = {int(f): i for i, f in enumerate(ids)}
    missing: list[int] = []
    last = _LAST.get(spec)
    for r in range(n):
        if not has[r]:
            continue
        want = int(ids[r]) - 1
        i = where.get(want)
        if i is not None:
            out[r] = frames[i]
        elif last is not None and last[0] == want and last[1].shape == frames.shape[1:]:
            out[r] = last[1]
        else:
            missing.append(r)
    if missing:
        need = np.unique(ids[missing] - 1)
        decoded = open_spec(spec).frames(need)
        pos = {int(f): i for i, f in enumerate(need)}
        for r in missing:
            out[r] = decoded[pos[int(ids[r]) - 1]]
    top = int(np.argmax(ids))
    with _LOCK:
        _LAST[spec] = (int(ids[top]), frames[top].copy())
    return out, has
