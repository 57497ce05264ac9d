"""``ferbench humans``: how much people agree on a dataset's faces, from its annotator votes alone.

Needs no images and no models: ``ferbench humans --dataset ferplus --data-root DIR`` reads FER+'s vote file
and prints the annotators' agreement (overall and per split) with bootstrap intervals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from ..errors import DatasetError
from ..labels import CANONICAL_LABELS
from .app import app, console

SPLIT_ORDER = ("Training", "PublicTest", "PrivateTest")


def vote_table(dataset: str, data_root: Path) -> pd.DataFrame:
    """The per-face vote table of a dataset (``votes_<label>`` columns and ``split``)."""
    if dataset == "ferplus":
        from ..datasets.ferplus import load_ferplus_votes

        return load_ferplus_votes(data_root)
    from ..datasets import load_dataset

    df = load_dataset(dataset, data_root).samples
    if not any(c.startswith("votes_") for c in df.columns):
        raise DatasetError(
            f"dataset '{dataset}' at {data_root} carries no annotator votes (votes_<label> columns)"
        )
    return df


def human_report(
    df: pd.DataFrame, *, split: str | None = None, seed: int = 0, n_resamples: int = 1000
) -> dict[str, Any]:
    """Human agreement over all faces and per split; JSON-ready."""
    from ..metrics.humans import human_agreement

    labels = [lab for lab in CANONICAL_LABELS if f"votes_{lab}" in df.columns]
    if split:
        if split not in set(df["split"]):
            raise DatasetError(f"no split '{split}'; splits: {', '.join(sorted(set(df['split'])))}")
        df = df[df["split"] == split]
    votes = df[[f"votes_{lab}" for lab in labels]].to_numpy(dtype=np.int64)
    out: dict[str, Any] = {
        "labels": labels,
        "overall": human_agreement(votes, labels, seed=seed, n_resamples=n_resamples, key="humans:all"),
        "splits": {},
    }
    if "split" in df.columns and not split:
        for sp in [s for s in SPLIT_ORDER if s in set(df["split"])] + sorted(
            set(df["split"]) - set(SPLIT_ORDER)
        ):
            sel = (df["split"] == sp).to_numpy()
            out["splits"][sp] = human_agreement(
                votes[sel], labels, seed=seed, n_resamples=n_resamples, key=f"humans:{sp}"
            )
    extra = [c for c in ("votes_unknown", "votes_nf") if c in df.columns]
    out["non_expression_votes"] = {c[6:]: int(df[c].sum()) for c in extra}
    return out


def _ci(e: dict[str, Any], pct: bool = False) -> str:
    if e.get("value") is None:
        return "–"
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.3f}")
    if e.get("ci_low") is None:
        return f(e["value"])
    return f"{f(e['value'])} [{f(e['ci_low'])}, {f(e['ci_high'])}]"


@app.command("humans")
def humans(
    dataset: Annotated[str, typer.Option(help="Dataset with annotator votes, e.g. ferplus.")] = "ferplus",
    data_root: Annotated[Path, typer.Option(help="Folder holding the vote file(s).")] = Path("."),
    split: Annotated[str | None, typer.Option(help="Only this split (e.g. PrivateTest).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap intervals.")] = 0,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples (0: no intervals).")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """How much human annotators agree on a dataset's faces (Fleiss' kappa, Krippendorff's alpha, shares)."""
    rep = human_report(vote_table(dataset, data_root), split=split, seed=seed, n_resamples=resamples)
    rep["dataset"] = dataset
    if as_json:
        typer.echo(json.dumps(rep, indent=1, allow_nan=False))
        return
    t = Table(title=f"{dataset}: agreement among human annotators (95% bootstrap intervals)")
    cols = [("all", rep["overall"])] + list(rep["splits"].items())
    t.add_column("statistic")
    for name, _ in cols:
        t.add_column(name, justify="right", min_width=len(name))
    t.add_row("faces", *(str(r["n_items"]) for _, r in cols))
    t.add_row(
        "votes per face", *(f"{r['votes_per_face']:.2f}" if r["votes_per_face"] else "–" for _, r in cols)
    )
    for label, key, pct in (
        ("Fleiss' kappa", "fleiss_kappa", False),
        ("Krippendorff's alpha", "krippendorff_alpha", False),
        ("pair agreement", "percent_agreement", True),
        ("all agree", "share_all_agree", True),
        ("majority agrees", "share_majority", True),
    ):
        t.add_row(label, *(_ci(r[key], pct).replace(" [", "\n[") for _, r in cols))
    console.print(t)
    pc = Table(title="Per-label Fleiss' kappa (this label vs any other) and plurality counts")
    for col in ("label", "kappa", "faces (plurality)"):
        pc.add_column(col, justify="left" if col == "label" else "right")
    for lab in rep["labels"]:
        pc.add_row(
            lab,
            _ci(rep["overall"]["fleiss_kappa_per_class"][lab]),
            str(rep["overall"]["plurality_counts"][lab]),
        )
    console.print(pc)
    o = rep["overall"]
    console.print(
        f"{o['n_without_votes']} face(s) without any expression vote left out; {o['n_tied']} tied for first place; "
        f"non-expression votes: {rep['non_expression_votes']}"
    )
