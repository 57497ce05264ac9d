"""One-off converter: Python ``ModelCard`` constructors -> one TOML card file per model.

The zoo's cards moved from ``zoo.py`` into ``src/ferbench/models/cards/*.toml``. This stays runnable so that
cards still written as Python (a branch that added ``ModelCard(...)`` blocks in parallel) can be converted the
same way::

    PYTHONPATH=src python tools/zoo_to_toml.py some.module:CARDS src/ferbench/models/cards

It writes ``<id>.toml`` per card (refusing to overwrite a different existing file unless ``--force``) and then
reads every written file back with the package's own loader and checks it equals the dataclass exactly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ferbench.models.cardfile import dumps_card, load_zoo_card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="module:attribute holding a sequence of ModelCard")
    ap.add_argument("out", type=Path, help="folder to write <id>.toml into")
    ap.add_argument("--force", action="store_true", help="overwrite existing files that differ")
    args = ap.parse_args(argv)
    module, _, attr = args.source.partition(":")
    cards = getattr(importlib.import_module(module), attr or "CARDS")
    args.out.mkdir(parents=True, exist_ok=True)
    for card in cards:
        path = args.out / f"{card.id}.toml"
        text = dumps_card(card)
        if path.exists() and path.read_text() != text and not args.force:
            print(f"{path}: exists and differs; use --force", file=sys.stderr)
            return 1
        path.write_text(text)
        back = load_zoo_card(path)
        if back != card:
            print(f"{path}: read back differs from the dataclass", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
