"""Built-in vision UDFs over video frames (Arrow fixed-shape uint8 tensors, H x W x 3, BGR).

Expensive oracles: ``people_count`` / ``people_boxes`` (OpenCV's HOG people detector) and
``face_count`` (OpenCV's Haar frontal-face cascade). Both ship with opencv-python 4.x
(>= 4.13, < 5); OpenCV 5 removed them. Cheap features: ``mean_color``, ``color_histogram``,
``frame_diff`` and ``resize``. Detectors are created once per process and thread. Each
function checks its arguments when the statement is bound (a frame, a constant histogram size),
so a bad call fails before a frame is decoded.
"""
from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa

from catalog.video import cv2_module, previous_frames
from udfs.core import udf
from udfs.model import to_numpy

# Detector parameters; tests and benchmarks compare against a plain OpenCV loop with these.
HOG_PARAMS = {"winStride": (8, 8), "padding": (8, 8), "scale": 1.05}
HAAR_PARAMS = {"scaleFactor": 1.1, "minNeighbors": 5}

_local = threading.local()

BOX = pa.struct([pa.field("x", pa.int32()), pa.field("y", pa.int32()), pa.field("w", pa.int32()),
                 pa.field("h", pa.int32()), pa.field("weight", pa.float64())])


def hog_detector():
    d = getattr(_local, "hog", None)
    if d is None:
        cv2 = cv2_module()
        d = cv2.HOGDescriptor()
        d.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        _local.hog = d
    return d


def face_detector():
    d = getattr(_local, "haar", None)
    if d is None:
        cv2 = cv2_module()
        d = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if d.empty():
            raise RuntimeError("OpenCV's Haar face cascade is missing (opencv-python >= 4.13, < 5 ships it)")
        _local.haar = d
    return d


def detect_people(frame: np.ndarray):
    rects, weights = hog_detector().detectMultiScale(frame, **HOG_PARAMS)
    return rects, weights


def _frames(arr) -> np.ndarray:
    frames = to_numpy(arr)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise TypeError(f"expects video frames (H x W x 3 uint8 tensors), got shape {frames.shape[1:]}")
    return frames


def _is_frame(t: pa.DataType) -> bool:
    return (isinstance(t, pa.FixedShapeTensorType) and t.value_type == pa.uint8()
            and len(t.shape) == 3 and t.shape[2] == 3)


def _frame_check(name: str, extra=None):
    """A bind-time check that argument 1 is a video frame (then ``extra(types, constants)``)."""
    def check(types: list, constants: list) -> None:
        if not types or not _is_frame(types[0]):
            from catalog.types import SQL_NAMES
            names = {v: k for k, v in reversed(list(SQL_NAMES.items()))}
            got = names.get(types[0], str(types[0])) if types else "nothing"
            raise TypeError(f"{name}: argument 1 (frame) must be a video frame "
                            f"(an H x W x 3 uint8 tensor, the frame column of a video table), got {got}")
        if extra is not None:
            extra(types, constants)
    return check


@udf.scalar(returns="BIGINT", batch_size=8, cache=True, cost=0.04, model=True, oracle=True,
            check=_frame_check("people_count"))
def people_count(frame):
    """Number of people OpenCV's HOG detector finds in the frame."""
    frames = _frames(frame)
    return np.array([len(detect_people(f)[0]) for f in frames], dtype=np.int64)


@udf.scalar(returns=pa.list_(BOX), batch_size=8, cache=True, cost=0.04, model=True,
            check=_frame_check("people_boxes"))
def people_boxes(frame):
    """Bounding boxes (x, y, w, h, weight) of the people OpenCV's HOG detector finds."""
    out = []
    for f in _frames(frame):
        rects, weights = detect_people(f)
        w = np.asarray(weights).reshape(-1)
        out.append([{"x": int(r[0]), "y": int(r[1]), "w": int(r[2]), "h": int(r[3]),
                     "weight": float(w[i]) if i < len(w) else None} for i, r in enumerate(rects)])
    return pa.array(out, pa.list_(BOX))


@udf.scalar(returns="BIGINT", batch_size=8, cache=True, cost=0.01, model=True, oracle=True,
            check=_frame_check("face_count"))
def face_count(frame):
    """Number of frontal faces OpenCV's Haar cascade finds in the frame."""
    cv2 = cv2_module()
    det = face_detector()
    out = []
    for f in _frames(frame):
        gray = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        out.append(len(det.detectMultiScale(gray, **HAAR_PARAMS)))
    return np.array(out, dtype=np.int64)


@udf.scalar(returns="DOUBLE", cost=2e-5, check=_frame_check("mean_color"))
def mean_color(frame):
    """Mean pixel intensity over all channels (0..255): a cheap brightness proxy."""
    frames = _frames(frame)
    return frames.reshape(len(frames), -1).mean(axis=1)


def _bins_check(types: list, constants: list) -> None:
    if len(types) < 2 or not pa.types.is_integer(types[1]):
        raise TypeError("color_histogram: argument 2 (bins) must be an integer constant in 1..256")
    b = constants[1]
    if not isinstance(b, int) or isinstance(b, bool):
        raise TypeError("color_histogram: argument 2 (bins) must be a constant (one histogram "
                        "size for the whole query), an integer in 1..256")
    if not 1 <= b <= 256:
        raise ValueError(f"color_histogram: argument 2 (bins) must be in 1..256, got {b}")


@udf.scalar(returns="DOUBLE[]", cost=1e-4, check=_frame_check("color_histogram", _bins_check))
def color_histogram(frame, bins):
    """Per-channel intensity histograms (B, G, R), each with ``bins`` bins, normalised to sum 1."""
    frames = _frames(frame)
    n = len(frames)
    if not n:
        return pa.array([], pa.list_(pa.float64()))
    b = int(to_numpy(bins)[0])  # a constant: checked at bind time
    idx = (frames.astype(np.int32) * b) // 256                    # n, H, W, 3
    flat = idx.reshape(n, -1, 3) + np.arange(3) * b               # channel-offset bins
    counts = np.zeros((n, 3 * b), dtype=np.float64)
    for c in range(3):
        np.add.at(counts, (np.repeat(np.arange(n), flat.shape[1]), flat[:, :, c].ravel()), 1.0)
    counts /= flat.shape[1]
    return pa.array(list(counts), pa.list_(pa.float64()))


@udf.scalar(returns="DOUBLE", cost=3e-5, version="2", needs_video=True,
            check=_frame_check("frame_diff"))
def frame_diff(frame, frame_id, video):
    """Mean absolute pixel difference between a frame and the previous frame of its video
    (NULL for frame 0). The same for a frame in every query: the previous frame is taken from
    the video by frame_id, not from whatever row the query read before (the binder supplies
    ``frame_id`` and ``video``; see UDF.needs_video)."""
    frames = _frames(frame)
    prev, has = previous_frames(video[0].as_py() if len(video) else "", to_numpy(frame_id), frames)
    out = np.zeros(len(frames))
    for i in np.nonzero(has)[0]:
        out[i] = np.abs(frames[i].astype(np.int16) - prev[i]).mean()
    return pa.array(out, pa.float64(), mask=~has)


def _resize_type(types, constants):
    w, h = constants[1], constants[2]
    if not isinstance(w, int) or not isinstance(h, int):
        raise TypeError("resize(frame, width, height) needs constant integer width and height")
    return pa.fixed_shape_tensor(pa.uint8(), [h, w, 3])


@udf.scalar(returns=_resize_type, cost=1e-4, check=_frame_check("resize"))
def resize(frame, width, height):
    """The frame scaled to width x height (OpenCV INTER_AREA)."""
    cv2 = cv2_module()
    frames = _frames(frame)
    w, h = int(to_numpy(width)[0]), int(to_numpy(height)[0])
    if w <= 0 or h <= 0:
        raise ValueError(f"resize needs a positive size, got {w}x{h}")
    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    for i, f in enumerate(frames):
        out[i] = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
    return pa.FixedShapeTensorArray.from_numpy_ndarray(out)


BUILTINS = [people_count, people_boxes, face_count, mean_color, color_histogram, frame_diff, resize]
for _u in BUILTINS:
    _u.source = "builtin"
