"""The one record every detector returns (a face box, its score and, when the detector gives them, 5 landmarks),
and the per-model crops the face stage cuts from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    """One detected (or dataset-provided) face in image pixel coordinates.

    ``box`` is ``(x, y, w, h)`` as the detector returned it (before squaring or margins). ``score`` is the
    detector's own confidence; its scale depends on the detector (see ``docs/faces.md``: YuNet and RFB-320
    give probabilities, Haar gives the number of merged raw detections). ``landmarks`` is a (5, 2) array in
    the order image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner,
    or None. ``source`` says which pass found the face (e.g. Haar ``frontal`` or ``profile``). ``crop`` is
    filled by :func:`ferbench.faces.detect_and_crop`.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None
    source: str = ""
    index: int = 0
    crop: np.ndarray | None = field(default=None, repr=False)

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])


SHARED_CROP = ""


class Crops(dict[str, np.ndarray]):
    """Every crop the run's models need of one face: one detection, many crops.

    Keys are face-preparation keys (:func:`ferbench.faces.prep.crop_key`); :data:`SHARED_CROP` is the run's
    own crop, which models whose card declares no preparation of their own receive. An engine transform may
    return this instead of one image; the engine gives each model its key's crop.
    """

    def pick(self, key: str) -> np.ndarray:
        return self[key] if key in self else self[SHARED_CROP]

    def map(self, fn: Callable[[str, np.ndarray], np.ndarray]) -> Crops:
        """The same keys, each crop passed through ``fn`` (a perturbation applied to every model's crop)."""
        return Crops({k: fn(k, v) for k, v in self.items()})


def pick_crop(image: np.ndarray | Crops, key: str) -> np.ndarray:
    """The crop a model with crop key ``key`` sees, whether a transform gave one image or several."""
    return image.pick(key) if isinstance(image, Crops) else image
