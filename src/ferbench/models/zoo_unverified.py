"""Cards for popular FER models whose weights could not be checked here (``verified=False``).

Their weights are not in this project's offline model store, so nobody has compared ferbench's outputs with
the original runtime's yet. Each card states, from the upstream documentation or code: the download URL,
the input (size, colour, normalisation) and the classes in output order. ``sha256`` is ``None`` where the
digest is not published: ``ferbench models pull ID`` records the digest in the store's lock file on first
download and refuses a later mismatch. Every report shows these models as unverified
(``metrics.json`` ``models[ID]["verified"] = false``); promote a card to ``zoo.py`` with ``verified=True``
only after a reference-output test against the original runtime passes.

Models whose upstream weights are a pickle or a Keras weights-only file have no ``url``: they need a
one-off export to ONNX (described in ``notes``), because ferbench never unpickles a file at run time.
"""

from __future__ import annotations

from .cards import Artifact, ModelCard, Preprocess

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AFFECTNET8 = ("Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise")
FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HSE = "https://github.com/HSE-asavchenko/face-emotion-recognition/raw/main/models/affectnet_emotions/onnx"
EMOTIEFF = "https://github.com/sb-ai-lab/EmotiEffLib/raw/main/models/affectnet_emotions/onnx"


def _hsemotion(size: int) -> Preprocess:
    # hsemotion-onnx: cv2.resize(rgb_face, (s, s)) / 255, ImageNet mean/std per channel, NCHW.
    return Preprocess(
        size=(size, size),
        color="rgb",
        resize="cv2_linear",
        scale=1 / 255,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        layout="NCHW",
    )


UNVERIFIED_CARDS: tuple[ModelCard, ...] = (
    ModelCard(
        id="hsemotion-enet-b0-8-best-vgaf",
        name="HSEmotion EfficientNet-B0, 8 classes (best VGAF, 224 px)",
        family="efficientnet",
        runtime="onnx",
        artifact=Artifact(
            path="hsemotion/enet_b0_8_best_vgaf.onnx",
            sha256=None,
            upstream="github.com/HSE-asavchenko/face-emotion-recognition models/affectnet_emotions/onnx/"
            "enet_b0_8_best_vgaf.onnx (as downloaded by the hsemotion-onnx package)",
            url=f"{HSE}/enet_b0_8_best_vgaf.onnx",
        ),
        licence="Apache-2.0",
        training_data="AffectNet (8 classes), per the authors",
        preprocess=_hsemotion(224),
        output="logits",
        classes=AFFECTNET8,
        verified=False,
        input_name="input",
        homepage="github.com/HSE-asavchenko/hsemotion-onnx",
    ),
    ModelCard(
        id="hsemotion-enet-b2-8",
        name="HSEmotion EfficientNet-B2, 8 classes (260 px)",
        family="efficientnet",
        runtime="onnx",
        artifact=Artifact(
            path="hsemotion/enet_b2_8.onnx",
            sha256=None,
            upstream="github.com/HSE-asavchenko/face-emotion-recognition models/affectnet_emotions/onnx/enet_b2_8.onnx",
            url=f"{HSE}/enet_b2_8.onnx",
        ),
        licence="Apache-2.0",
        training_data="AffectNet (8 classes), per the authors",
        preprocess=_hsemotion(260),
        output="logits",
        classes=AFFECTNET8,
        verified=False,
        input_name="input",
        homepage="github.com/HSE-asavchenko/hsemotion-onnx",
    ),
    ModelCard(
        id="emotiefflib-mbf-va-mtl",
        name="EmotiEffLib MobileFaceNet multi-task: 8 classes + valence/arousal (112 px)",
        family="mobilefacenet",
        runtime="onnx",
        artifact=Artifact(
            path="emotiefflib/mbf_va_mtl.onnx",
            sha256=None,
            upstream="github.com/sb-ai-lab/EmotiEffLib models/affectnet_emotions/onnx/mbf_va_mtl.onnx",
            url=f"{EMOTIEFF}/mbf_va_mtl.onnx",
        ),
        licence="Apache-2.0",
        training_data="AffectNet (8 classes, valence and arousal), per the authors",
        # RGB, 112 px, x/255 then (x - 0.5) / 0.5, NCHW.
        preprocess=Preprocess(
            size=(112, 112),
            color="rgb",
            resize="cv2_linear",
            scale=1 / 255,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            layout="NCHW",
        ),
        output="logits",
        classes=AFFECTNET8,
        verified=False,
        input_name="input",
        class_columns=(0, 8),
        extra_outputs={"valence": 8, "arousal": 9},
        notes="Output row = 8 expression logits, then valence and arousal (columns 8 and 9, about -1..1); "
        "Adapter.extras() returns them.",
        homepage="github.com/sb-ai-lab/EmotiEffLib",
    ),
    ModelCard(
        id="onnx-emotion-ferplus-8",
        name="ONNX model zoo Emotion FER+ (CNTK VGG13, opset 8, 64 px)",
        family="vgg",
        runtime="onnx",
        artifact=Artifact(
            path="onnx-model-zoo/emotion-ferplus-8.onnx",
            sha256=None,
            upstream="github.com/onnx/models validated/vision/body_analysis/emotion_ferplus/model/emotion-ferplus-8.onnx",
            url="https://github.com/onnx/models/raw/main/validated/vision/body_analysis/emotion_ferplus/model/"
            "emotion-ferplus-8.onnx",
        ),
        licence="MIT",
        training_data="FER+ (FER2013 images relabelled by 10 crowd annotators each), per the ONNX model zoo",
        # Grey 64x64, raw 0..255 values (no scaling), NCHW; the upstream example resizes with PIL ANTIALIAS.
        preprocess=Preprocess(
            size=(64, 64), color="gray_pil", resize="pil_lanczos", scale=1.0, layout="NCHW"
        ),
        output="logits",
        classes=("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"),
        verified=False,
        fixed_batch=1,
        homepage="github.com/onnx/models",
    ),
    ModelCard(
        id="opencv-zoo-mobilefacenet-fer",
        name="OpenCV zoo facial expression recognition (MobileFaceNet, 2022 July, 112 px)",
        family="mobilefacenet",
        runtime="onnx",
        artifact=Artifact(
            path="opencv-zoo/facial_expression_recognition_mobilefacenet_2022july.onnx",
            sha256=None,
            upstream="github.com/opencv/opencv_zoo models/facial_expression_recognition/"
            "facial_expression_recognition_mobilefacenet_2022july.onnx",
            url="https://github.com/opencv/opencv_zoo/raw/main/models/facial_expression_recognition/"
            "facial_expression_recognition_mobilefacenet_2022july.onnx",
        ),
        licence="Apache-2.0",
        training_data="Progressive Teacher (semi-supervised); authors report 88.27% accuracy on RAF-DB",
        # RGB, x/255, (x - 0.5) / 0.5, NCHW 112x112.
        preprocess=Preprocess(
            size=(112, 112),
            color="rgb",
            resize="cv2_linear",
            scale=1 / 255,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            layout="NCHW",
        ),
        output="logits",
        classes=("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"),
        verified=False,
        input_name="data",
        fixed_batch=1,
        notes="Upstream aligns the face to 112x112 with a 5-landmark similarity transform (YuNet landmarks); "
        "ferbench resizes the crop instead, so accuracy may be lower than the authors'. The demo only takes the "
        "arg-max; ferbench treats the 7 outputs as logits (softmax).",
        homepage="github.com/opencv/opencv_zoo",
    ),
    ModelCard(
        id="rmn-resmasking-dropout1",
        name="Residual Masking Network (resmasking_dropout1, 224 px)",
        family="resmasking",
        runtime="onnx",
        artifact=Artifact(
            path="rmn/resmasking_dropout1.onnx",
            sha256=None,
            upstream="github.com/phamquiluan/ResidualMaskingNetwork release v0.0.1 "
            "Z_resmasking_dropout1_rot30_2019Nov30_13.32 (PyTorch checkpoint; PyPI rmn)",
        ),
        licence="MIT",
        training_data="FER2013; authors report 74.14% test accuracy (76.82% for an ensemble)",
        # rmn: grey -> 3 channels, cv2.resize to 224, ToTensor (x/255), NCHW; softmax over FER2013's classes.
        preprocess=Preprocess(
            size=(224, 224),
            color="gray3_cv2",
            resize="cv2_linear",
            scale=1 / 255,
            mean=(0.0,) * 3,
            std=(1.0,) * 3,
            layout="NCHW",
        ),
        output="logits",
        classes=FER7,
        verified=False,
        notes="The upstream checkpoint is a pickle: export it once to ONNX in a throwaway environment "
        "(torch.load(..., weights_only=True) of the state dict into rmn's resmasking_dropout1, then "
        "torch.onnx.export with input 1x3x224x224) and put the file at the artifact path in a model store folder.",
        homepage="github.com/phamquiluan/ResidualMaskingNetwork",
    ),
    ModelCard(
        id="deepface-emotion",
        name="DeepFace facial expression model (48 px)",
        family="cnn",
        runtime="onnx",
        artifact=Artifact(
            path="deepface/facial_expression_model.onnx",
            sha256=None,
            upstream="github.com/serengil/deepface_models release v1.0 facial_expression_model_weights.h5 "
            "(Keras weights only; architecture in deepface/models/demography/Emotion.py)",
        ),
        licence="MIT",
        training_data="FER2013, per the DeepFace documentation",
        # DeepFace: grey (OpenCV), resize to 48x48, x/255, NHWC.
        preprocess=Preprocess(size=(48, 48), color="gray_cv2", resize="cv2_linear", scale=1 / 255),
        output="softmax",
        classes=FER7,
        verified=False,
        notes="The upstream file holds weights only: rebuild DeepFace's Sequential CNN in Keras, load the .h5 "
        "weights (HDF5, no pickle), export it once to ONNX and put the file at the artifact path.",
        homepage="github.com/serengil/deepface",
    ),
    ModelCard(
        id="hf-vit-face-expression",
        name="ViT-base face expression (trpakov/vit-face-expression, ONNX export, 224 px)",
        family="vit",
        runtime="onnx",
        artifact=Artifact(
            path="huggingface/trpakov-vit-face-expression.onnx",
            sha256=None,
            upstream="huggingface.co/trpakov/vit-face-expression onnx/model.onnx (343 MB)",
            url="https://huggingface.co/trpakov/vit-face-expression/resolve/main/onnx/model.onnx",
        ),
        licence="not stated on the model card",
        training_data="FER2013 (fine-tuned from google/vit-base-patch16-224-in21k); the model card reports "
        "0.7116 test accuracy",
        # ViTImageProcessor: RGB, bilinear resize to 224, x/255, (x - 0.5) / 0.5, NCHW.
        preprocess=Preprocess(
            size=(224, 224),
            color="rgb",
            resize="pil_bilinear",
            scale=1 / 255,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            layout="NCHW",
        ),
        output="logits",
        classes=("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
        verified=False,
        input_name="pixel_values",
        homepage="huggingface.co/trpakov/vit-face-expression",
    ),
)
