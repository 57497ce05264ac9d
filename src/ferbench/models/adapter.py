"""The one adapter interface every FER model is used through.

``Adapter.predict`` takes BGR uint8 face crops and returns, per crop, a probability distribution over the
model's *own* classes in its own order; :meth:`Adapter.to_canonical` lays that out over the canonical
labels (NaN where the model has no such class). How raw outputs become a distribution is stated by the card:

* ``softmax``: used as is (renormalised only to remove float drift);
* ``logits``: raw logits, softmax applied here (HSEmotion, ONNX zoo FER+);
* ``sigmoid``: independent per-class sigmoids, divided by their sum. These are *uncalibrated scores*;
* ``yolo_head``: a detector head (box + per-class sigmoid per anchor); the anchor with the highest class
  score is taken and its class sigmoids are divided by their sum. Also uncalibrated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..hashing import sha256_file
from ..labels import CANONICAL_LABELS, LABEL_INDEX
from . import batching
from .cards import ModelCard
from .preprocess import preprocess_batch
from .runtime import LiteRTSession, OnnxSession, OpenVinoSession, Session
from .store import StoreSpec, folder_of, verified_weight_path

#: Bump whenever this module's code (or preprocess.py's, runtime.py's) changes what a model outputs for the
#: same card and weights (a new resize, another normalisation or head rule): every stored prediction is then
#: recomputed. Part of :attr:`~ferbench.models.cards.ModelCard.fingerprint`.
ADAPTER_VERSION = 1


class ScoresMismatch(ValueError):
    """A model's output width differs from the number of classes its card lists."""


def head_scores(
    raw: np.ndarray, kind: str, n_classes: int, class_columns: tuple[int, int] | None = None
) -> np.ndarray:
    """The per-class scores a model's head gives each image, before any normalisation.

    ``softmax``/``logits``/``sigmoid``: the output row (or its ``class_columns`` slice). ``yolo_head``: the
    (n, 4 + C, anchors) detector output; per image, the anchor whose highest class sigmoid is the largest is
    taken (what Ultralytics' top detection would be) and its C class sigmoids returned as they are. The
    YOLO reference outputs hold exactly these raw sigmoids (they sum to 0.95-1.0, not to 1).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if kind == "yolo_head":
        cls = raw[:, 4 : 4 + n_classes, :]
        best = cls.max(axis=1).argmax(axis=1)
        scores = cls[np.arange(cls.shape[0]), :, best]
    elif kind in ("softmax", "sigmoid", "logits"):
        scores = raw.reshape(raw.shape[0], -1)
        if class_columns is not None:
            scores = scores[:, class_columns[0] : class_columns[1]]
    else:
        raise ValueError(f"unknown output kind {kind!r}")
    if scores.shape[1] != n_classes:
        raise ScoresMismatch(f"model returned {scores.shape[1]} scores, card lists {n_classes} classes")
    return scores


def to_distribution(scores: np.ndarray, kind: str) -> np.ndarray:
    """Turn head scores into rows that sum to one by the card's documented rule (``cards.OUTPUT_RULES``)."""
    scores = np.asarray(scores, dtype=np.float64)
    if kind == "logits":
        z = np.exp(scores - scores.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    total = scores.sum(axis=1, keepdims=True)
    return scores / np.where(total > 0, total, 1.0)


def normalise_outputs(
    raw: np.ndarray, kind: str, n_classes: int, class_columns: tuple[int, int] | None = None
) -> np.ndarray:
    """Turn a batch of raw model outputs into rows that sum to one (see module docstring for the rules)."""
    return to_distribution(head_scores(raw, kind, n_classes, class_columns), kind)


class Adapter:
    """A loaded model: verified weights, a runtime session, and the card that explains both.

    A model exported with batch 1 (``fixed_batch=1``, every TFLite file) is lifted to a dynamic batch by
    :mod:`~ferbench.models.batching` when a CPU proof shows the lifted model gives every output bit of the
    original at the batch sizes it will be called with (``batch_size``, the run's images per call, and a few
    small sizes for tails); :attr:`batch_sizes` then lists those sizes and :meth:`run_raw` cuts every batch
    into them. When the proof fails the model runs one image per call and :attr:`notes` says why.

    TFLite files are lifted only with ``litert_batched=True``: LiteRT runs on the CPU only, where one invoke
    per image is faster than a resized interpreter (facex: 13.8 vs 15.2 ms of CPU per image at batch 8 on
    the 2-core benchmark machine, ``docs/performance.md``), so the engine leaves it off.
    """

    def __init__(
        self,
        card: ModelCard,
        store: StoreSpec = None,
        *,
        threads: int = 0,
        device: str = "cpu",
        batch_size: int = 8,
        cache_dir: str | Path | None = None,
        litert_batched: bool = False,
    ) -> None:
        self.card = card
        self.weights: Path = verified_weight_path(card, store)
        self.sha256: str = sha256_file(self.weights)
        self.notes: list[str] = []
        self.batch_verdict: batching.BatchVerdict | None = None
        # None: any batch size (the file's batch is dynamic); otherwise the only sizes a call may have.
        self.batch_sizes: tuple[int, ...] | None = (card.fixed_batch,) if card.fixed_batch else None
        self._litert_batched = litert_batched
        self._session: Session = self._open(threads, device, batch_size, cache_dir)
        self._init_canonical()

    def _init_canonical(self) -> None:
        self._canon_idx = np.array([LABEL_INDEX[c] for c in self.card.canonical_classes])

    def _proved(self, verdict: batching.BatchVerdict) -> bool:
        """Record a batching verdict: its sizes when it holds, one image per call and a note when not."""
        self.batch_verdict = verdict
        if verdict.ok:
            self.batch_sizes = verdict.sizes
            return True
        self.batch_sizes = (1,)
        self.notes.append(
            f"model '{self.card.id}': its batch-1 file was not lifted to a dynamic batch ({verdict.detail});"
            " running one image per call"
        )
        return False

    def _open(self, threads: int, device: str, batch_size: int, cache_dir: str | Path | None) -> Session:
        if self.card.runtime == "onnx":
            path = self.weights
            if self.card.fixed_batch == 1:
                lifted, verdict = batching.lifted_onnx(
                    self.weights, self.sha256, self.card.preprocess, batch_size, cache_dir
                )
                if self._proved(verdict) and lifted is not None:
                    path = lifted
            return OnnxSession(
                path,
                input_name=self.card.input_name,
                output_name=self.card.output_name,
                threads=threads,
                device=device,
                model_id=self.card.id,
            )
        if self.card.runtime == "openvino":
            folder = folder_of(self.card, self.weights)
            bins = [folder / rel for rel in self.card.artifact.extra_files if rel.endswith(".bin")]
            bin_file = bins[0] if bins else self.weights.with_suffix(".bin")
            dynamic = False
            if self.card.fixed_batch == 1 and bin_file.is_file():
                ov_verdict: batching.BatchVerdict | None
                try:
                    ov_verdict = batching.openvino_batch_verdict(
                        self.weights, bin_file, self.sha256, self.card.preprocess, batch_size, cache_dir
                    )
                except ImportError:  # no OpenVINO: the session below says, in one line, what to install
                    ov_verdict = None
                dynamic = ov_verdict is not None and self._proved(ov_verdict)
            # Like LiteRT, OpenVINO runs on the CPU whatever --device says (its GPU plugin is Intel-only).
            return OpenVinoSession(
                self.weights,
                weights=bin_file,
                output_name=self.card.output_name,
                threads=threads,
                model_id=self.card.id,
                dynamic_batch=dynamic,
            )
        if self.card.runtime == "litert":
            session = LiteRTSession(self.weights, threads=threads, model_id=self.card.id)
            if not self._litert_batched:
                return session  # one invoke per image; batch_sizes stays as the card says
            verdict = batching.litert_batch_verdict(
                session.factory, self.sha256, self.card.preprocess, batch_size, cache_dir
            )
            session.batched = self._proved(verdict)
            return session
        raise ValueError(f"unknown runtime {self.card.runtime!r}")

    def probe(self) -> None:
        """One forward pass on a blank image, so that an input size, layout or class count the model does not
        accept is one clear error before any work starts (and nothing is stored under this model)."""
        p = self.card.preprocess
        blank = np.full((*p.size, 3), 128, dtype=np.uint8)
        try:
            self.scores([blank])  # runtime + head, not infer(): what the run itself counts as model work
        except ScoresMismatch as exc:
            raise ModelError(
                f"model '{self.card.id}': field 'classes': {exc}; fix: list one class per output score, in output order"
            ) from None
        except ModelError:
            raise
        except Exception as exc:  # the runtime's own error, reduced to its first line
            expects = getattr(self._session, "input_shape", None)
            want = f" (the model expects input shape {expects})" if expects else ""
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"model '{self.card.id}': field 'preprocess.size': the model rejects a {p.size[0]}x{p.size[1]} "
                f"{p.color} {p.layout} input{want}: {first[:200]}; fix: set preprocess.size, color and layout "
                "to what the model was trained with"
            ) from None

    def prepare(self, images: list[np.ndarray]) -> np.ndarray:
        """Preprocess crops into one input batch (exposed so the engine can overlap it with inference)."""
        return preprocess_batch(images, self.card.preprocess)

    def run_raw(self, batch: np.ndarray) -> np.ndarray:
        """Run a prepared batch through the runtime at the batch sizes it may be called with; raw outputs."""
        if self.batch_sizes is None:
            return self._session.run(batch)
        pieces = batching.split_sizes(len(batch), self.batch_sizes)
        return np.concatenate([self._session.run(batch[i:j]) for i, j in pieces])

    def scores(self, images: list[np.ndarray]) -> np.ndarray:
        """Head scores before normalisation (what the YOLO reference outputs hold); see :func:`head_scores`."""
        raw = self.run_raw(self.prepare(images))
        return head_scores(raw, self.card.output, len(self.card.classes), self.card.class_columns)

    def extras(self, images: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Named extra output columns (e.g. valence and arousal of HSEmotion's multi-task model)."""
        if not self.card.extra_outputs:
            return {}
        raw = np.asarray(self.run_raw(self.prepare(images)), dtype=np.float64).reshape(len(images), -1)
        return {name: raw[:, col] for name, col in self.card.extra_outputs.items()}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a prepared batch and normalise the outputs into distributions."""
        raw = self.run_raw(batch)
        return normalise_outputs(raw, self.card.output, len(self.card.classes), self.card.class_columns)

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """Return an (n, n_classes) array of distributions over the model's own classes."""
        if not images:
            return np.zeros((0, len(self.card.classes)))
        return self.infer(self.prepare(images))

    def to_canonical(self, probs: np.ndarray) -> np.ndarray:
        """Lay native-order distributions out over the canonical labels; NaN marks classes the model lacks."""
        out = np.full((probs.shape[0], len(CANONICAL_LABELS)), np.nan)
        out[:, self._canon_idx] = probs
        return out
