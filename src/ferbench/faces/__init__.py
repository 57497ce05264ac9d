"""The face stage: find faces (YuNet, RFB-320, Haar or the dataset's boxes), choose, crop and align them.

Public API for other commands (e.g. ``ferbench predict``)::

    from ferbench.faces import detect_and_crop
    faces = detect_and_crop(bgr, detector="yunet", policy="largest")  # list[Face], each with .crop

See ``docs/faces.md`` for detectors, margins, alignment, policies, caching and video aggregation.
"""

from .cards import DETECTOR_CARDS, DetectorCard
from .crop import DEFAULT_MARGIN, aligned_crop, crop_square, square_box
from .detectors import Detector, get_detector, list_detectors, register_detector
from .stage import (
    POLICIES,
    FaceStage,
    FaceStageConfig,
    FaceStageError,
    cut,
    detect_and_crop,
    prepare_face_stage,
    select_faces,
)
from .types import Face

__all__ = [
    "DEFAULT_MARGIN",
    "DETECTOR_CARDS",
    "POLICIES",
    "Detector",
    "DetectorCard",
    "Face",
    "FaceStage",
    "FaceStageConfig",
    "FaceStageError",
    "aligned_crop",
    "crop_square",
    "cut",
    "detect_and_crop",
    "get_detector",
    "list_detectors",
    "prepare_face_stage",
    "register_detector",
    "select_faces",
    "square_box",
]
