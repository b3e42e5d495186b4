"""Built-in vision UDFs over video frames (Arrow fixed-shape uint8 tensors, H x W x 3, BGR).

Expensive oracles: ``people_count`` / ``people_boxes`` (OpenCV's HOG people detector) and
``face_count`` (OpenCV's Haar frontal-face cascade). Both ship with opencv-python 4.x
(>= 4.13, < 5); OpenCV 5 removed them. Cheap features: ``mean_color``, ``color_histogram``,
``frame_diff`` and ``resize``. Detectors are created once per process and thread.
"""
from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa

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
        import cv2
        d = cv2.HOGDescriptor()
        d.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        _local.hog = d
    return d


def face_detector():
    d = getattr(_local, "haar", None)
    if d is None:
        import cv2
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


@udf.scalar(returns="BIGINT", batch_size=8, cache=True, cost=0.04, model=True)
def people_count(frame):
    """Number of people OpenCV's HOG detector finds in the frame."""
    frames = _frames(frame)
    return np.array([len(detect_people(f)[0]) for f in frames], dtype=np.int64)


@udf.scalar(returns=pa.list_(BOX), batch_size=8, cache=True, cost=0.04, model=True)
def people_boxes(frame):
    """Bounding boxes (x, y, w, h, weight) of the people OpenCV's HOG detector finds."""
    out = []
    for f in _frames(frame):
        rects, weights = detect_people(f)
        w = np.asarray(weights).reshape(-1)
        out.append([{"x": int(r[0]), "y": int(r[1]), "w": int(r[2]), "h": int(r[3]),
                     "weight": float(w[i]) if i < len(w) else None} for i, r in enumerate(rects)])
    return pa.array(out, pa.list_(BOX))


@udf.scalar(returns="BIGINT", batch_size=8, cache=True, cost=0.01, model=True)
def face_count(frame):
    """Number of frontal faces OpenCV's Haar cascade finds in the frame."""
    import cv2
    det = face_detector()
    out = []
    for f in _frames(frame):
        gray = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        out.append(len(det.detectMultiScale(gray, **HAAR_PARAMS)))
    return np.array(out, dtype=np.int64)


@udf.scalar(returns="DOUBLE", cost=2e-5)
def mean_color(frame):
    """Mean pixel intensity over all channels (0..255): a cheap brightness proxy."""
    frames = _frames(frame)
    return frames.reshape(len(frames), -1).mean(axis=1)


@udf.scalar(returns="DOUBLE[]", cost=1e-4)
def color_histogram(frame, bins):
    """Per-channel intensity histograms (B, G, R), each with ``bins`` bins, normalised to sum 1."""
    frames = _frames(frame)
    b = int(to_numpy(bins)[0]) if len(frames) else 8
    if b <= 0 or b > 256:
        raise ValueError(f"bins must be in 1..256, got {b}")
    idx = (frames.astype(np.int32) * b) // 256                    # n, H, W, 3
    n = len(frames)
    flat = idx.reshape(n, -1, 3) + np.arange(3) * b               # channel-offset bins
    counts = np.zeros((n, 3 * b), dtype=np.float64)
    for c in range(3):
        np.add.at(counts, (np.repeat(np.arange(n), flat.shape[1]), flat[:, :, c].ravel()), 1.0)
    counts /= flat.shape[1]
    return pa.array(list(counts), pa.list_(pa.float64()))


@udf.scalar(returns="DOUBLE", deterministic=False, cost=3e-5)
def frame_diff(frame):
    """Mean absolute pixel difference to the previous frame of the scan (0 for the first)."""
    frames = _frames(frame).astype(np.int16)
    prev = getattr(_local, "last_frame", None)
    out = np.zeros(len(frames))
    for i in range(len(frames)):
        ref = frames[i - 1] if i else prev
        if ref is not None and ref.shape == frames[i].shape:
            out[i] = np.abs(frames[i] - ref).mean()
    _local.last_frame = frames[-1] if len(frames) else prev
    return out


def _resize_type(types, constants):
    w, h = constants[1], constants[2]
    if not isinstance(w, int) or not isinstance(h, int):
        raise TypeError("resize(frame, width, height) needs constant integer width and height")
    return pa.fixed_shape_tensor(pa.uint8(), [h, w, 3])


@udf.scalar(returns=_resize_type, cost=1e-4)
def resize(frame, width, height):
    """The frame scaled to width x height (OpenCV INTER_AREA)."""
    import cv2
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
