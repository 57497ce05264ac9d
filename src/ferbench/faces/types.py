"""The one record every detector returns: a face box, its score and, when the detector gives them, 5 landmarks."""

from __future__ import annotations

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
