"""The Typer apps of the ``ferbench`` command line and the options several commands share.

:mod:`ferbench.cli` defines ``run`` and the basic ``models``/``datasets`` commands; each module of
:mod:`ferbench.commands` adds its own. All of them import the apps from here, so no command module imports
the CLI entry point (and the entry point imports every command module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ..errors import DatasetError

app = typer.Typer(
    help="Measure how far facial expression recognition models can be trusted. Models predict expression "
    "labels (what a face shows), not felt emotions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="List and inspect the model zoo; pull weights that are not in the store.", no_args_is_help=True
)
datasets_app = typer.Typer(
    help="List dataset layouts and check a dataset folder before a run.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(datasets_app, name="datasets")

console = Console()
err = Console(stderr=True)


ModelStores = Annotated[
    list[Path] | None,
    typer.Option(
        "--model-store",
        help="Folder with model weights; repeat it (or join folders with the OS path separator) to search "
        "several. Searched before $FERBENCH_MODEL_STORE and ~/.cache/ferbench/models.",
        show_default=False,
    ),
]

LabelMap = Annotated[
    str | None,
    typer.Option(
        help="Label map for image-folder/manifest/emognition: a .json/.csv file or 'a=happy,b=exclude'."
    ),
]
LoaderOptions = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="Loader option key=value, e.g. images=original (repeatable)."),
]


def parse_options(options: list[str], label_map: str | None) -> dict[str, Any]:
    """``key=value`` loader options; ``true``/``false`` become booleans, digits integers."""
    out: dict[str, Any] = {}
    for opt in options:
        if "=" not in opt:
            raise DatasetError(f"--option '{opt}' is not key=value")
        key, value = (s.strip() for s in opt.split("=", 1))
        low = value.lower()
        out[key] = (
            True if low == "true" else False if low == "false" else int(value) if value.isdigit() else value
        )
    if label_map is not None:
        out["label_map"] = label_map
    return out
