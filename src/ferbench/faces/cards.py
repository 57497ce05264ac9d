"""Detector cards: the pinned facts about each face detector's weight files, like the FER model cards.

A weight file is verified by sha256 before any byte of it reaches a runtime. YuNet and RFB-320 live in the
model store (``--model-store``); the Haar cascades ship inside ``opencv-python-headless`` (``cv2.data``), so
their card pins the XML files OpenCV 4.x ships and checks them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..models.cards import Artifact


@dataclass(frozen=True)
class DetectorCard:
    """What a detector is, where its files come from, and the thresholds ferbench runs it with."""

    id: str
    name: str
    files: tuple[Artifact, ...]
    location: Literal["store", "opencv"]
    licence: str
    landmarks: bool
    score_threshold: float
    nms_threshold: float
    max_side: int = 1280  # cap on the long side of the image the detector sees; 0: no cap
    notes: str = ""

    @property
    def sha256(self) -> str:
        """The first (main) file's sha256: part of the detection cache key."""
        sha = self.files[0].sha256
        if sha is None:  # every detector card pins its weights; a card without one is a programming error
            raise ValueError(f"detector card '{self.id}' has no sha256 for {self.files[0].path}")
        return sha


DETECTOR_CARDS: dict[str, DetectorCard] = {
    c.id: c
    for c in (
        DetectorCard(
            id="yunet",
            name="YuNet (libfacedetection), ONNX 640x640, run by cv2.FaceDetectorYN",
            files=(
                Artifact(
                    path="yunet-face-detector/yunet_s_640_640.onnx",
                    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
                    upstream="github.com/ShiqiYu/libfacedetection.train@0047ac24 onnx/yunet_s_640_640.onnx "
                    "(same size as opencv_zoo face_detection_yunet_2023mar.onnx)",
                ),
            ),
            location="store",
            licence="Apache-2.0",
            landmarks=True,
            score_threshold=0.6,
            nms_threshold=0.3,
            max_side=640,
            notes="Run at the image size capped to 640 px on the long side (its training input is 640x640): "
            "at larger sizes faces over ~500 px are missed or split.",
        ),
        DetectorCard(
            id="rfb320",
            name="Ultra-Light-Fast-Generic-Face-Detector-1MB version-RFB-320, ONNX via onnxruntime",
            files=(
                Artifact(
                    path="ultralight-rfb320-face-detector/version-RFB-320.onnx",
                    sha256="34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
                    upstream="github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB@dffdddda "
                    "models/onnx/version-RFB-320.onnx",
                ),
            ),
            location="store",
            licence="MIT",
            landmarks=False,
            score_threshold=0.7,
            nms_threshold=0.3,
            max_side=0,
            notes="Input 1x3x240x320 RGB, (x-127)/128, image stretched to 320x240 as upstream does; the graph "
            "already decodes prior boxes to normalised corners, ferbench thresholds and runs NMS.",
        ),
        DetectorCard(
            id="haar",
            name="OpenCV Haar cascades: frontal face (default), profile face as fallback",
            files=(
                Artifact(
                    path="haarcascade_frontalface_default.xml",
                    sha256="0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0",
                    upstream="opencv-python-headless 4.x cv2/data/haarcascade_frontalface_default.xml",
                ),
                Artifact(
                    path="haarcascade_profileface.xml",
                    sha256="b39a4a3be45539db146a7fc1d3e761a292c196eb88421185e6a615b3055e612d",
                    upstream="opencv-python-headless 4.x cv2/data/haarcascade_profileface.xml",
                ),
            ),
            location="opencv",
            licence="BSD-3-Clause (Intel License Agreement, shipped with OpenCV)",
            landmarks=False,
            score_threshold=0.0,
            nms_threshold=0.0,
            notes="detectMultiScale2 on grey, scaleFactor 1.1, minNeighbors 5, minSize 50x50; the profile "
            "cascade (and its mirror image) runs only when the frontal one finds nothing. Score = number of "
            "merged raw detections, not a probability.",
        ),
    )
}
