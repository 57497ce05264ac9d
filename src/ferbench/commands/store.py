"""``ferbench store info|prune RUN_DIR``: what the prediction store of a run folder holds, and clearing out rows
no current card or variant would produce.

"Current" is what the ledger (``RUN_DIR/store.json``) names: the model and variant fingerprints of the most
recent run into the folder, per model id and per variant name. After editing a card, re-run first: until a run
records the new fingerprint, the old rows are the current ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..cli import app, console
from ..engine.lock import RunLock
from ..engine.store import PredictionStore
from ..errors import FerbenchError

store_app = typer.Typer(
    help="Inspect a run folder's prediction store; prune rows no current card or variant would produce.",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")

RunDir = Annotated[Path, typer.Argument(help="A folder written by `ferbench run --out`.")]


def _store(run_dir: Path) -> PredictionStore:
    if not (run_dir / "parts").is_dir():
        raise FerbenchError(
            f"{run_dir}: no prediction store (parts/); give a folder written by `ferbench run`"
        )
    return PredictionStore(run_dir)


def _short(fp: str | None) -> str | None:
    """``model:ddbaba1d4ca5…``: enough to tell fingerprints apart in a table (``--json`` has them whole)."""
    if not fp:
        return None
    kind, _, h = fp.partition(":")
    return f"{kind}:{h[:12]}…"


@store_app.command("info")
def store_info(
    run_dir: RunDir,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rows per model, variant and fingerprint; stale ones (older cards, weights, settings) are never read."""
    entries = _store(run_dir).entries()
    if as_json:
        typer.echo(json.dumps([e.__dict__ for e in entries], indent=1))
        return
    t = Table(title=f"{run_dir}: prediction store", title_justify="left")
    for c in ("model", "variant", "model fingerprint", "variant fingerprint", "rows", "parts", "state"):
        t.add_column(c, justify="right" if c in ("rows", "parts") else "left", overflow="fold")
    for e in entries:
        t.add_row(
            e.model_id,
            e.variant,
            _short(e.model_fingerprint) or "(none: written before fingerprints)",
            _short(e.variant_fingerprint) or "(none)",
            str(e.rows),
            str(e.parts),
            "current" if e.current else "[yellow]stale[/yellow]",
        )
    console.print(t)
    stale = sum(e.rows for e in entries if not e.current)
    console.print(f"{sum(e.rows for e in entries)} rows, {stale} stale (`ferbench store prune` removes them)")


@store_app.command("prune")
def store_prune(
    run_dir: RunDir,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a run that holds the folder.")] = False,
) -> None:
    """Delete the stored rows no current card or variant would produce (holds the folder's run lock)."""
    store = _store(run_dir)
    with RunLock(run_dir, wait=wait, command="ferbench store prune"):
        rows, parts = store.prune()
    console.print(f"removed {rows} stale rows ({parts} part files deleted)")
