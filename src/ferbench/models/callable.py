"""A model that is a Python function: benchmark a PyTorch, JAX or Keras model without exporting it.

``fn`` receives the batch a card's :class:`~ferbench.models.cards.Preprocess` rules make (NumPy float32,
``layout`` NHWC or NCHW, the same code path as every ONNX model) and returns one row of scores per image, in
``classes`` order; ``output`` says what the scores are (``softmax``: probabilities, ``logits``: raw logits,
``sigmoid``: independent scores). The engine batches it like any other model.

Predictions are cached under the model's id, ``version`` and every output-changing card field, so a stored
prediction is reused only when the caller declares the same version; without a ``version`` nothing is ever
reused (ferbench cannot see that a function's code or weights changed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ModelError
from .adapter import Adapter
from .cards import Artifact, ModelCard, OutputKind, Preprocess
from .store import StoreSpec

ScoreFn = Callable[[np.ndarray], Any]


class CallableModel:
    """A function from a preprocessed batch to scores, with the card that describes it (``runtime="callable"``)."""

    def __init__(
        self,
        id: str,
        fn: ScoreFn,
        *,
        classes: Sequence[str],
        preprocess: Preprocess,
        version: str = "",
        output: OutputKind = "softmax",
        name: str = "",
        label_overrides: Mapping[str, str] | None = None,
        licence: str = "",
        training_data: str = "",
        notes: str = "",
    ) -> None:
        from .cardfile import _check_whole

        if not callable(fn):
            raise ModelError(f"CallableModel '{id}': fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.card = ModelCard(
            id=id,
            name=name or id,
            family="callable",
            runtime="callable",
            artifact=Artifact(path="", sha256=None, upstream=f"Python callable {_qualname(fn)}"),
            licence=licence or "the user's own",
            training_data=training_data or "not stated",
            preprocess=preprocess,
            output=output,
            classes=tuple(classes),
            verified=False,
            label_overrides=dict(label_overrides or {}),
            notes=notes,
            version=version,
        )
        _check_whole(self.card, f"CallableModel '{id}'")

    @property
    def id(self) -> str:
        return self.card.id

    def __repr__(self) -> str:
        return f"CallableModel({self.card.id!r}, version={self.card.version!r})"


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


#: The functions of registered callable models, by model id (the card itself lives in the model registry).
FUNCTIONS: dict[str, ScoreFn] = {}


class CallableAdapter(Adapter):
    """The adapter of a callable model: no weight file, ``fn`` instead of a runtime session."""

    def __init__(
        self,
        card: ModelCard,
        store: StoreSpec = None,
        *,
        threads: int = 0,
        device: str = "cpu",
        batch_size: int = 8,
        cache_dir: object = None,
        litert_batched: bool = False,
    ) -> None:
        # The batching options are the file-based adapters'; a Python function takes any batch it is given.
        try:
            self.fn = FUNCTIONS[card.id]
        except KeyError:
            raise ModelError(
                f"model '{card.id}' is a callable model that is not registered in this process; "
                "pass the CallableModel object itself (or register it with ferbench.register_model)"
            ) from None
        self.card = card
        self.weights = None  # type: ignore[assignment]
        self.sha256 = None  # type: ignore[assignment]
        self.notes: list[str] = []
        self.batch_verdict = None
        self.batch_sizes: tuple[int, ...] | None = None
        self._init_canonical()

    def run_raw(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self.fn(batch)
        except Exception as exc:
            raise ModelError(
                f"callable model '{self.card.id}': fn failed on a batch of shape {list(batch.shape)} "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        scores = np.asarray(out, dtype=np.float64)
        n, k = len(batch), len(self.card.classes)
        if scores.shape != (n, k):
            raise ModelError(
                f"callable model '{self.card.id}': fn returned shape {list(scores.shape)} for {n} images, "
                f"expected [{n}, {k}] (one score per class: {', '.join(self.card.classes)})"
            )
        if self.card.output != "logits" and (scores < 0).any():
            raise ModelError(
                f"callable model '{self.card.id}': fn returned negative scores with output='{self.card.output}'; "
                "pass output='logits' if it returns raw logits"
            )
        return scores
