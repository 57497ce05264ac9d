"""``ferbench models init WEIGHTS`` and ``ferbench models check CARD``: bring one's own model in as a card file.

``init`` reads the weight file's own input/output signature and writes a card with everything it can infer
filled in and every field a person must decide holding a ``DECIDE`` placeholder (which the loader refuses,
so a half-finished card cannot run). ``check`` validates the card, pins the weights' sha256 in
``ferbench.lock.json`` beside it (the card itself is never rewritten), runs one forward pass, and on a folder
of faces prints each face's top labels; on a class-folder tree (``DIR/happy/*.png``) also the accuracy and
the confusion matrix, where a wrong class order shows as an empty diagonal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from ..errors import FerbenchError, ModelError
from ..models.cardfile import DECIDE, LOCK_NAME, _key, _value
from .app import ModelStores, console, models_app

RESIZE_HINT = "how the model was trained to resize: cv2_linear, pil_bilinear, pil_lanczos, tf_legacy_bilinear, letterbox, skimage_aa"


def signature(weights: Path) -> dict[str, Any]:
    """Input shape, input/output names and output width of an ONNX or TFLite file."""
    suffix = weights.suffix.lower()
    if suffix == ".onnx":
        import onnxruntime as ort

        try:
            sess = ort.InferenceSession(str(weights), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types for unreadable graphs
            raise ModelError(f"'{weights}': not a readable ONNX file ({str(exc).splitlines()[0]})") from None
        inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
        return {
            "runtime": "onnx",
            "input": [d if isinstance(d, int) else None for d in inp.shape],
            "output": [d if isinstance(d, int) else None for d in out.shape],
            "n_inputs": len(sess.get_inputs()),
            "n_outputs": len(sess.get_outputs()),
        }
    if suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        from ..models.runtime import quiet_litert

        with quiet_litert():
            it = Interpreter(model_path=str(weights))
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        return {
            "runtime": "litert",
            "input": [int(d) for d in inp["shape"]],
            "output": [int(d) for d in out["shape"]],
            "n_inputs": 1,
            "n_outputs": 1,
        }
    raise ModelError(
        f"'{weights}': ferbench reads .onnx and .tflite weight files; export the model to ONNX first"
    )


def card_template(weights: Path, card_path: Path) -> str:
    """The text of a new card for ``weights`` (see module docstring)."""
    sig = signature(weights)
    shape = sig["input"]
    if len(shape) != 4:
        raise ModelError(
            f"'{weights}': input shape {shape} is not an image batch (N, H, W, C) or (N, C, H, W)"
        )
    nchw = shape[1] in (1, 3) and shape[3] not in (1, 3)
    c, h, w = (shape[1], shape[2], shape[3]) if nchw else (shape[3], shape[1], shape[2])
    width = sig["output"][-1] if sig["output"] else None
    rel = os.path.relpath(os.path.abspath(weights), os.path.abspath(card_path.parent))
    mark = f"  # <- {DECIDE}"
    top: list[tuple[str, Any, str]] = [
        ("id", weights.stem.lower().replace("_", "-").replace(" ", "-"), "  # what you type in --models"),
        ("name", weights.stem, ""),
        ("family", "cnn", ""),
        ("runtime", sig["runtime"], ""),
        ("licence", f"{DECIDE}: the weights' licence", mark),
        ("training_data", f"{DECIDE}: what the model was trained on", mark),
        ("output", f"{DECIDE}: softmax, logits or sigmoid", mark + " (what the output row holds)"),
        (
            "classes",
            [f"{DECIDE}: class {i}" for i in range(width or 1)],
            mark + f" ({width or 'unknown'} output scores: name each, in output order)",
        ),
    ]
    if sig["runtime"] == "onnx" and sig["n_inputs"] > 1:
        top.append(("input_name", f"{DECIDE}: the image input's name", mark))
    color = "gray_cv2" if c == 1 else f"{DECIDE}: rgb, bgr or gray3_cv2"
    pre: list[tuple[str, Any, str]] = [
        ("size", [h or f"{DECIDE}: height", w or f"{DECIDE}: width"], "  # [height, width] from the file"),
        ("color", color, "" if c == 1 else mark),
        ("resize", "cv2_linear", f"  # check: {RESIZE_HINT}"),
        ("scale", f"{DECIDE}: e.g. 0.00392156862745098 (x/255) or 1.0", mark + " applied before mean/std"),
        ("mean", [0.0] * (c or 1), "  # check: per-channel mean subtracted after scale"),
        ("std", [1.0] * (c or 1), "  # check: per-channel divisor"),
        ("layout", "NCHW" if nchw else "NHWC", "  # from the file"),
    ]
    lines = [
        f"# ferbench model card for {weights.name}, written by `ferbench models init`.",
        f"# Replace every {DECIDE} value (the card is refused until then), check the '# check' lines, then run",
        f"# `ferbench models check {card_path.name} --faces FOLDER`. Fields: docs/extending.md.",
        *(f"{_key(k)} = {_value(v)}{note}" for k, v, note in top),
        "",
        "[artifact]",
        f"path = {_value(rel)}  # relative to this card; the sha256 is pinned in {LOCK_NAME} by `models check`",
        f"upstream = {_value('DECIDE: where the weights come from')}{mark}",
        "",
        "[preprocess]",
        *(f"{_key(k)} = {_value(v)}{note}" for k, v, note in pre),
    ]
    return "\n".join(lines) + "\n"


@models_app.command("init")
def models_init(
    weights: Annotated[Path, typer.Argument(help="An .onnx or .tflite weight file.")],
    out: Annotated[
        Path | None, typer.Option(help="Card file to write (default: WEIGHTS with .toml).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing card file.")] = False,
) -> None:
    """Write a model card for a weight file, from its input/output signature; DECIDE marks what you fill in."""
    if not weights.is_file():
        raise FerbenchError(f"'{weights}': no such weight file")
    card_path = out or weights.with_suffix(".toml")
    if card_path.exists() and not force:
        raise FerbenchError(f"'{card_path}' exists; choose another --out or pass --force")
    text = card_template(weights, card_path)
    card_path.write_text(text)
    n = text.count(f"<- {DECIDE}")
    console.print(
        f"wrote {card_path}: fill in the {n} {DECIDE} field(s), then `ferbench models check {card_path}`"
    )


def pin_card(card_path: Path) -> str:
    """Pin the card's weight file in the lock file beside it (unless the card states a sha256); its digest."""
    from ..hashing import sha256_file
    from ..models.cardfile import check_card_weights, load_card_file
    from ..models.store import record_lock

    card = load_card_file(card_path, check_weights=False)
    weights = Path(card.artifact.path)
    if not weights.is_file():
        check_card_weights(card, str(card_path))  # raises: names the field and the fix
    if card.artifact.sha256 is None:
        import tomllib

        rel = tomllib.loads(card_path.read_text())["artifact"]["path"]
        record_lock(card_path.parent, rel, sha256_file(weights), f"ferbench models check {card_path.name}")
    card = load_card_file(card_path)  # now pinned: checks the digest against card or lock
    assert card.artifact.sha256 is not None
    return card.artifact.sha256


def class_folder_faces(folder: Path) -> list[tuple[Path, str | None]]:
    """Every image under ``folder`` with its label when its parent folder names an expression (else None)."""
    from ..labels import to_canonical
    from .predict import collect_images

    out = []
    for p in collect_images(folder):
        label = None
        if p.parent != folder:
            try:
                label = to_canonical(p.parent.name)
            except FerbenchError:
                label = None
        out.append((p, label))
    return out


@models_app.command("check")
def models_check(
    card_path: Annotated[Path, typer.Argument(help="A model card file (.toml).")],
    faces: Annotated[
        Path | None,
        typer.Option(
            help="Folder of face crops to label; a class-folder tree (DIR/happy/...) adds accuracy."
        ),
    ] = None,
    model_store: ModelStores = None,
    show: Annotated[int, typer.Option(help="Faces to list one by one (the rest are only counted).")] = 20,
) -> None:
    """Validate a card, pin its weights' sha256 beside it, run a forward pass, and label some faces."""
    import cv2

    from ..labels import CANONICAL_LABELS
    from ..models.registry import create_adapter, register_model

    sha = pin_card(card_path)
    card = register_model(card_path)
    from ..engine.runner import probe

    adapter = create_adapter(card, model_store)
    probe(adapter)
    p = card.preprocess
    console.print(
        f"[bold]{card.id}[/bold]: card ok, weights sha256 {sha[:16]}… pinned, forward pass ok "
        f"({p.size[0]}x{p.size[1]} {p.color} {p.layout} -> {len(card.classes)} {card.output} scores)",
        highlight=False,
    )
    if faces is None:
        return
    items = class_folder_faces(faces)
    t = Table(title=f"{card.id} on {faces} ({len(items)} faces)")
    for col in ("face", "label", "top labels"):
        t.add_column(col, overflow="fold")
    y_true, y_pred = [], []
    for i, (path, label) in enumerate(items):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            t.add_row(str(path.relative_to(faces)), label or "", "[red]unreadable[/red]")
            continue
        probs = adapter.to_canonical(adapter.predict([img]))[0]
        order = [j for j in np.argsort(-np.nan_to_num(probs, nan=-1.0)) if not np.isnan(probs[j])][:3]
        top = ", ".join(f"{CANONICAL_LABELS[j]} {probs[j]:.2f}" for j in order)
        if i < show:
            t.add_row(str(path.relative_to(faces)), label or "", top)
        if label is not None:
            y_true.append(label)
            y_pred.append(CANONICAL_LABELS[order[0]])
    console.print(t)
    if y_true:
        _print_confusion(y_true, y_pred, card.canonical_classes)


def _print_confusion(y_true: list[str], y_pred: list[str], model_labels: tuple[str, ...]) -> None:
    from ..labels import ordered
    from ..metrics.classification import classification_summary

    labels = list(ordered(set(y_true) | set(y_pred)))
    s = classification_summary(y_true, y_pred, labels=labels)
    console.print(
        f"accuracy {100 * s['accuracy']:.1f}% over {s['n']} labelled faces (macro-F1 {s['macro_f1']:.3f}); "
        "rows: folder label, columns: the model's top label. A wrong class order shows as an empty diagonal.",
        highlight=False,
    )
    t = Table()
    t.add_column("true \\ pred")
    for lab in labels:
        t.add_column(lab[:5], justify="right")
    for lab, row in zip(labels, s["confusion"], strict=True):
        t.add_row(lab, *(str(v) for v in row))
    console.print(t)
