"""Face detectors behind one interface, with a registry: ``yunet``, ``rfb320`` and ``haar``.

Every detector takes a BGR uint8 image and returns :class:`~ferbench.faces.types.Face` records in image
pixels, largest first. Large images are shrunk so their long side is at most ``max_side`` (per detector
card: 640 for YuNet, whose anchors stop at ~500 px faces, 1280 for Haar; none for RFB-320, which
stretches every image to 320x240 itself) before detection, and boxes and
landmarks are scaled back; a 2560 px photo also costs YuNet ~2 s at full size. Weight
files are sha256-verified when a detector is created. Detectors are safe to call from several threads: each
thread gets its own OpenCV object (``cv2.FaceDetectorYN`` and cascades are not re-entrant); ONNX Runtime
sessions are shared.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..errors import SHA_MISMATCH, ModelError, WeightsMismatch
from ..hashing import sha256_file
from ..models.store import StoreSpec, store_paths
from .cards import DETECTOR_CARDS, DetectorCard
from .types import Face


def detector_files(card: DetectorCard, store: StoreSpec = None) -> list[Path]:
    """Return the card's files after checking each exists and matches its pinned sha256.

    Each file is taken from the first folder of the model-store search path that has it, like model weights.
    """
    if card.location == "opencv":
        bases = [Path(cv2.data.haarcascades)]  # type: ignore[attr-defined]
    else:
        bases = store_paths(store)
    out = []
    for art in card.files:
        path = next((b / art.path for b in bases if (b / art.path).is_file()), bases[0] / art.path)
        if not path.is_file():
            where = "this OpenCV install (cv2.data)" if card.location == "opencv" else "the model store"
            raise ModelError(
                f"face detector '{card.id}': file '{path}' not found in {where}. Point --model-store (or "
                "FERBENCH_MODEL_STORE) at the folder that holds it, or choose another --faces detector."
            )
        digest = sha256_file(path)
        if digest != art.sha256:
            raise WeightsMismatch(SHA_MISMATCH.format(f"face detector {card.id}", path, digest, art.sha256))
        out.append(path)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression over (n, 4) corner boxes; returns kept indices, best score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


class Detector(ABC):
    """A loaded, verified face detector."""

    def __init__(self, card: DetectorCard, store: StoreSpec = None, **kw: object) -> None:
        self.card = card
        self.files = detector_files(card, store)
        side = kw.get("max_side")
        self.max_side = int(card.max_side if side is None else side)  # type: ignore[call-overload]
        self._local = threading.local()

    @property
    def key(self) -> str:
        """Identifies detector file and settings; detection results are cached under it."""
        c = self.card
        return f"{c.id}@{c.sha256[:12]}:t{c.score_threshold:g}:n{c.nms_threshold:g}:s{self.max_side}"

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Faces in ``bgr`` (BGR uint8), largest box first, in the image's own pixel coordinates."""
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w)) if self.max_side > 0 else 1.0
        img = bgr
        if scale < 1.0:
            img = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        faces = self._detect(img)
        if scale < 1.0:
            for f in faces:
                f.box = tuple(float(v) / scale for v in f.box)  # type: ignore[assignment]
                if f.landmarks is not None:
                    f.landmarks = f.landmarks / scale
        faces.sort(key=lambda f: -f.area)
        for i, f in enumerate(faces):
            f.index = i
        return faces

    @abstractmethod
    def _detect(self, bgr: np.ndarray) -> list[Face]: ...


class YuNetDetector(Detector):
    """YuNet via ``cv2.FaceDetectorYN``: boxes, 5 landmarks and a score per face."""

    def _net(self, w: int, h: int) -> cv2.FaceDetectorYN:
        net = getattr(self._local, "net", None)
        if net is None:
            c = self.card
            net = cv2.FaceDetectorYN.create(
                str(self.files[0]), "", (w, h), c.score_threshold, c.nms_threshold, 5000
            )
            self._local.net = net
        net.setInputSize((w, h))
        return net

    def _detect(self, bgr: np.ndarray) -> list[Face]:
        h, w = bgr.shape[:2]
        _, out = self._net(w, h).detect(bgr)
        if out is None:
            return []
        faces = []
        for r in out:
            # YuNet's landmarks: right eye, left eye (the subject's), nose, right and left mouth corner;
            # the subject's right eye is the image-left one, which is the order Face documents.
            lm = np.asarray(r[4:14], dtype=np.float64).reshape(5, 2)
            faces.append(
                Face((float(r[0]), float(r[1]), float(r[2]), float(r[3])), float(r[14]), lm, "yunet")
            )
        return faces


class RFB320Detector(Detector):
    """Ultra-Light RFB-320 on ONNX Runtime: fixed 320x240 input, threshold and NMS done here."""

    SIZE = (320, 240)  # width, height

    def __init__(self, card: DetectorCard, store: StoreSpec = None, **kw: object) -> None:
        super().__init__(card, store, **kw)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # one harmless warning per initializer otherwise
        opts.intra_op_num_threads = int(kw.get("threads", 1))  # type: ignore[call-overload]
        self._sess = ort.InferenceSession(
            str(self.files[0]), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._input = self._sess.get_inputs()[0].name

    def _detect(self, bgr: np.ndarray) -> list[Face]:
        h, w = bgr.shape[:2]
        x = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.SIZE, interpolation=cv2.INTER_LINEAR)
        x = ((x.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = self._sess.run(["scores", "boxes"], {self._input: x})
        p = scores[0, :, 1]
        keep = p > self.card.score_threshold
        if not keep.any():
            return []
        b = boxes[0][keep].astype(np.float64) * np.array([w, h, w, h])
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
        p = p[keep].astype(np.float64)
        faces = []
        for i in nms(b, p, self.card.nms_threshold):
            x1, y1, x2, y2 = b[i]
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            faces.append(Face((x1, y1, x2 - x1, y2 - y1), float(p[i]), None, "rfb320"))
        return faces


class HaarDetector(Detector):
    """OpenCV Haar cascades: frontal first; the profile cascade (and its mirror) only when frontal finds none.

    Settings match how ``_reference/crops`` were made (scaleFactor 1.1, minNeighbors 5, minSize 50).
    """

    SCALE_FACTOR = 1.1
    MIN_NEIGHBORS = 5
    MIN_SIZE = (50, 50)

    def _cascades(self) -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
        c = getattr(self._local, "cascades", None)
        if c is None:
            c = (cv2.CascadeClassifier(str(self.files[0])), cv2.CascadeClassifier(str(self.files[1])))
            if c[0].empty() or c[1].empty():
                raise ModelError(
                    f"face detector 'haar': OpenCV could not load {self.files[0]} / {self.files[1]}"
                )
            self._local.cascades = c
        return c

    def _run(self, cascade: cv2.CascadeClassifier, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, counts = cascade.detectMultiScale2(
            grey, scaleFactor=self.SCALE_FACTOR, minNeighbors=self.MIN_NEIGHBORS, minSize=self.MIN_SIZE
        )
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(
            counts, dtype=np.float64
        ).ravel()

    def _detect(self, bgr: np.ndarray) -> list[Face]:
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        frontal, profile = self._cascades()
        boxes, counts = self._run(frontal, grey)
        source = "frontal"
        if len(boxes) == 0:
            boxes, counts = self._run(profile, grey)
            source = "profile"
        if len(boxes) == 0:  # the profile cascade only knows faces turned one way: try the mirror image
            boxes, counts = self._run(profile, np.ascontiguousarray(grey[:, ::-1]))
            boxes[:, 0] = grey.shape[1] - boxes[:, 0] - boxes[:, 2]
            source = "profile-mirrored"
        return [
            Face((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(n), None, source)
            for b, n in zip(boxes, counts, strict=True)
        ]


DetectorFactory = Callable[..., Detector]
_DETECTORS: dict[str, DetectorFactory] = {
    "yunet": YuNetDetector,
    "rfb320": RFB320Detector,
    "haar": HaarDetector,
}
# keyed by the card (its repr: every field; cards hold unhashable mappings) and the factory too, so a detector
# registered again under the same name (other weights or thresholds) is not served from the old entry
_CACHE: dict[tuple[str, str, DetectorFactory, tuple[str, ...], int], Detector] = {}
_CACHE_LOCK = threading.Lock()


def register_detector(name: str, factory: DetectorFactory, card: DetectorCard) -> None:
    """Add a detector: ``factory(card, store, **kw)`` must return a :class:`Detector`."""
    _DETECTORS[name] = factory
    DETECTOR_CARDS[name] = card


def list_detectors() -> list[str]:
    return list(_DETECTORS)


def get_detector(name: str | Detector, store: StoreSpec = None, *, max_side: int | None = None) -> Detector:
    """A verified, ready detector by name (created once per process, card, store and ``max_side``).

    ``max_side`` caps the long side of the image the detector sees (default: the card's, 640 for YuNet).
    """
    if isinstance(name, Detector):
        return name
    if name not in _DETECTORS:
        raise ModelError(f"unknown face detector '{name}'. Known detectors: {', '.join(_DETECTORS)}.")
    card, factory = DETECTOR_CARDS[name], _DETECTORS[name]
    max_side = card.max_side if max_side is None else max_side
    key = (name, repr(card), factory, tuple(str(p) for p in store_paths(store)), max_side)
    with _CACHE_LOCK:
        det = _CACHE.get(key)
        if det is None:
            det = factory(card, store, max_side=max_side)
            _CACHE[key] = det
    return det
