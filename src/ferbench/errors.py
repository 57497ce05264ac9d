"""Error types for ferbench.

User-facing problems (a missing folder, an unknown model, a tampered weight file) are raised as subclasses of
:class:`FerbenchError`; the CLI prints their message on one line and exits non-zero, without a traceback.
Messages name the file or id, the problem and, where there is one, what to do. Problems with a single sample
(one unreadable image) are *not* exceptions that end a run: the engine records them as a per-sample status.
"""

from __future__ import annotations


class FerbenchError(Exception):
    """Base class for errors caused by input the user can fix."""


class DatasetError(FerbenchError):
    """A dataset cannot be read: missing root, unknown name, unmapped label, malformed label file."""


class ModelError(FerbenchError):
    """A model cannot be used: unknown id, missing weights, missing runtime."""


class WeightsMismatch(ModelError):
    """A weight file's sha256 differs from the one its card (or lock file) pins."""


class SampleError(FerbenchError):
    """One sample cannot be used (unreadable image, no face). Recorded per sample; the run goes on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


UNKNOWN_MODEL = "unknown model id '{0}'. Known models: {1}. See `ferbench models list`."
UNKNOWN_DATASET = "unknown dataset '{0}'. Known datasets: {1}."
MISSING_DATA_ROOT = "data root '{0}' does not exist."
MISSING_WEIGHTS = (
    "model '{0}': weight file '{1}' not found. Point --model-store (or FERBENCH_MODEL_STORE) at the folder "
    "that holds it{2}."
)
SHA_MISMATCH = (
    "model '{0}': weight file '{1}' has sha256 {2}, expected {3}. The file is corrupt or not the one this "
    "adapter was verified on; replace it with the original."
)
