"""``ferbench compare RUN_DIR...``: several runs side by side (datasets or model sets), as the study compared
its four datasets: per run the models' accuracy and the agreement among them, with intervals where stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import FerbenchError
from .app import app, console


def load_runs(run_dirs: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    runs = []
    for d in run_dirs:
        path = d / "metrics.json" if d.is_dir() else d
        if not path.is_file():
            raise FerbenchError(f"{path}: no metrics.json; give folders written by `ferbench run --out`")
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FerbenchError(f"{path}: not a readable metrics.json ({exc})") from None
        if "models" not in m or "agreement" not in m:
            raise FerbenchError(f"{path}: lacks the 'models' and 'agreement' sections of a ferbench run")
        runs.append((d.name if d.is_dir() else d.parent.name, m))
    names = [n for n, _ in runs]
    if len(set(names)) != len(names):  # same folder names in different places: use the full paths
        runs = [(str(d), m) for d, (_, m) in zip(run_dirs, runs, strict=True)]
    return runs


def _stat(block: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(block, dict):
        return None
    return {k: block.get(k) for k in ("value", "ci_low", "ci_high")}


def comparison(runs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """JSON-ready table: per run its dataset, size, agreement statistics and per-model accuracy."""
    models = sorted({mid for _, m in runs for mid in m["models"]})
    rows = []
    for name, m in runs:
        a = m["agreement"]
        levels = m.get("agreement_levels", {}).get("levels", {})
        rows.append(
            {
                "run": name,
                "dataset": m.get("dataset"),
                "split": m.get("split"),
                "n_samples": m.get("n_samples"),
                "n_models": len(m["models"]),
                "fleiss_kappa": _stat(a.get("fleiss_kappa")),
                "krippendorff_alpha": _stat(a.get("krippendorff_alpha")),
                "percent_agreement": a.get("percent_agreement"),
                "polarity_fleiss_kappa": _stat(levels.get("polarity", {}).get("fleiss_kappa")),
                "accuracy": {
                    mid: m["models"][mid].get("accuracy") if mid in m["models"] else None for mid in models
                },
                "macro_f1": {
                    mid: m["models"][mid].get("macro_f1") if mid in m["models"] else None for mid in models
                },
            }
        )
    return {"models": models, "runs": rows}


def _fmt(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "–"
    if e.get("ci_low") is None:
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


@app.command("compare")
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders (each with metrics.json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Put several runs side by side: accuracy per model and agreement (kappa) per run."""
    table = comparison(load_runs(run_dirs))
    if as_json:
        typer.echo(json.dumps(table, indent=1, allow_nan=False))
        return
    t = Table(title="Runs side by side: agreement among models (95% bootstrap intervals)")
    for col in (
        "run",
        "dataset",
        "samples",
        "models",
        "Fleiss' kappa",
        "Krippendorff's alpha",
        "polarity kappa",
    ):
        t.add_column(col, justify="left" if col in ("run", "dataset") else "right")
    for r in table["runs"]:
        ds = r["dataset"] + (f" ({r['split']})" if r["split"] else "")
        t.add_row(
            r["run"], ds, str(r["n_samples"]), str(r["n_models"]),
            _fmt(r["fleiss_kappa"]), _fmt(r["krippendorff_alpha"]), _fmt(r["polarity_fleiss_kappa"]),
        )  # fmt: skip
    console.print(t)
    acc = Table(title="Accuracy per model and run")
    acc.add_column("model")
    for r in table["runs"]:
        acc.add_column(r["run"], justify="right")
    for mid in table["models"]:
        acc.add_row(
            mid,
            *(
                "–" if r["accuracy"][mid] is None else f"{100 * r['accuracy'][mid]:.1f}%"
                for r in table["runs"]
            ),
        )
    console.print(acc)
