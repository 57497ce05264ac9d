"""``ferbench sensitivity``: re-run the models under alternative protocols and show how far the numbers move."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .app import LabelMap, LoaderOptions, ModelStores, app, console, parse_options


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}%"


def print_sensitivity(r: dict[str, Any]) -> None:
    names = list(r["protocols"])
    t = Table(
        title=f"{r['dataset']} · {r['n_samples']} images · accuracy per protocol (baseline: {r['baseline']})"
    )
    t.add_column("model", justify="left")
    for n in names:
        t.add_column(n, justify="right")
    t.add_column("largest change (points)", justify="right")
    for mid, m in r["models"].items():
        lc = m["largest_change"]
        change = "–" if lc is None else f"{_pct(lc['change'], True)} ({lc['protocol']})"
        t.add_row(mid, *(_pct(m["accuracy"][n]) for n in names), change)
    t.add_row(
        "Fleiss' kappa",
        *("–" if r["fleiss_kappa"][n] is None else f"{r['fleiss_kappa'][n]:.3f}" for n in names),
        "",
    )
    console.print(t)
    for note in r["notes"]:
        console.print(f"note: {note}")


@app.command()
def sensitivity(
    dataset: Annotated[str, typer.Option(help="Dataset layout name (see `ferbench datasets list`).")],
    data_root: Annotated[Path, typer.Option(help="Folder holding the dataset as downloaded.")],
    out: Annotated[Path, typer.Option(help="Run folder: the prediction store and sensitivity.json.")],
    models: Annotated[str, typer.Option(help="Comma-separated model ids, or 'all'.")] = "all",
    faces: Annotated[
        str,
        typer.Option(
            help="Face detector for photos (yunet, rfb320, haar, dataset); none for pre-cropped faces, where "
            "margin and crop choice do not apply."
        ),
    ] = "none",
    multi_face: Annotated[
        str, typer.Option(help="largest, all or skip (as for `ferbench run`).")
    ] = "largest",
    split: Annotated[str | None, typer.Option(help="Split to evaluate.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use a seeded random subset of N samples.")] = None,
    model_store: ModelStores = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit's subset.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print sensitivity.json instead of the table.")
    ] = False,
    label_map: LabelMap = None,
    option: LoaderOptions = None,
) -> None:
    """Re-run the models under alternative protocols (crop margin 0 / 0.1 / 0.25, alignment on/off, each model's
    own crop vs one shared crop, detection at full resolution, restricted vs open label rule) and report each
    model's accuracy under each, the models' Fleiss kappa and the largest change. Predictions are cached per
    protocol in --out.
    """
    from ..sensitivity import sensitivity as run_sensitivity

    res = run_sensitivity(
        dataset,
        out=out,
        models=models,
        data_root=data_root,
        split=split,
        limit=limit,
        faces=faces,
        multi_face=multi_face,
        model_store=model_store,
        seed=seed,
        dataset_options=parse_options(option or [], label_map) or None,
    )
    if as_json:
        typer.echo(json.dumps(res.result, indent=1))
    else:
        print_sensitivity(res.result)
        console.print(f"wrote {res.out / 'sensitivity.json'}")
