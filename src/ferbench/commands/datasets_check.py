"""``ferbench datasets check NAME --data-root DIR``: counts, exclusions and every problem file, before a run.

Exit status: 0 when nothing is wrong, 1 when the check found problems (unmapped labels, missing, unreadable
or duplicate files, an empty dataset), 2 when the dataset cannot be loaded at all (one-line error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..cli import LabelMap, LoaderOptions, console, datasets_app, parse_options

SHOW = 20


def _rows(title: str, items: list[dict[str, Any]], cols: list[str], show: int) -> None:
    if not items:
        return
    t = Table(title=f"{title} ({len(items)})", title_justify="left")
    for c in cols:
        t.add_column(c, overflow="fold")
    for it in items[:show]:
        t.add_row(*(str(it.get(c, "")) for c in cols))
    console.print(t)
    if len(items) > show:
        console.print(f"  … and {len(items) - show} more (--show N or --json lists them)")


@datasets_app.command("check")
def datasets_check(
    name: Annotated[str, typer.Argument(help="Dataset layout name (see `ferbench datasets list`).")],
    data_root: Annotated[
        Path, typer.Option(help="Folder (or manifest file) holding the dataset as downloaded.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    label_map: LabelMap = None,
    option: LoaderOptions = None,
    decode: Annotated[
        bool, typer.Option(help="Decode every image (--no-decode: only read and hash).")
    ] = True,
    show: Annotated[int, typer.Option(help="Rows listed per problem kind in the table output.")] = SHOW,
) -> None:
    """Check a dataset: counts per split and class, unmapped labels, missing, unreadable and duplicate files."""
    from ..datasets.check import check

    rep = check(name, data_root, decode=decode, **parse_options(option or [], label_map))
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), indent=1, default=str))
        raise typer.Exit(1 if rep.problems else 0)
    console.print(f"[bold]{rep.dataset}[/bold] at {rep.root}: {rep.n_samples} samples")
    if rep.empty:
        console.print(f"[red]empty dataset:[/red] {rep.message}", highlight=False)
    if rep.counts:
        labels = sorted({lab for c in rep.counts.values() for lab in c})
        t = Table(title="samples per split and expression label", title_justify="left")
        t.add_column("split")
        for lab in labels:
            t.add_column(lab, justify="right")
        t.add_column("total", justify="right")
        for split, c in rep.counts.items():
            t.add_row(split, *(str(c.get(lab, 0)) for lab in labels), str(sum(c.values())))
        console.print(t)
    if rep.excluded:
        console.print("excluded entries: " + ", ".join(f"{k} {v}" for k, v in rep.excluded.items()))
    if rep.modes:
        console.print("colour modes: " + ", ".join(f"{k} {v}" for k, v in rep.modes.items()))
    for note in rep.notes:
        console.print(f"note: {note}", highlight=False)
    _rows("unmapped labels", rep.unmapped, ["where", "reason", "orig_label", "detail"], show)
    _rows("skipped: named like images but not files", rep.skipped, ["where", "detail"], show)
    _rows("missing files listed in label files", rep.missing_files, ["sample_id", "path"], show)
    _rows("unreadable files", rep.unreadable, ["sample_id", "reason", "detail"], show)
    dups = [
        {
            "labels": ",".join(d["labels"]),
            "n": len(d["sample_ids"]),
            "samples": " = ".join(d["sample_ids"][:3]) + (" = …" if len(d["sample_ids"]) > 3 else ""),
        }
        for d in rep.duplicates
    ]
    _rows("duplicate files (same content)", dups, ["labels", "n", "samples"], show)
    if rep.problems:
        console.print("[red]problems:[/red] " + ", ".join(f"{k} {v}" for k, v in rep.problems.items()))
        raise typer.Exit(1)
    console.print("[green]no problems found[/green]")
