"""User label maps: how a folder of ``smiling/`` and ``frowning/`` faces, or a manifest's own label names, map
to canonical expression labels.

A label map is given as

* a mapping (Python API): ``{"smiling": "happy", "other": None}``;
* an inline string: ``"smiling=happy,frowning=sad,other=exclude"``;
* a file: ``.json`` (an object ``{"smiling": "happy", "other": null}``) or ``.csv``/``.tsv``/``.txt`` with
  two columns ``native,canonical`` (a header line ``native,canonical`` or ``label,canonical`` is optional).

The target is a canonical label or one of its synonyms (``angry`` → ``anger``), or ``exclude`` / ``-`` /
empty / ``null``, meaning: rows with that label are excluded and counted (``excluded_by_map``). Names not in
the map fall back to the synonym table of :mod:`ferbench.labels`; a name that maps nowhere is excluded with
reason ``unknown_label`` and reported. Keys are matched exactly first, then case-insensitively.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import DatasetError
from ..labels import LABEL_INDEX, SYNONYMS

EXCLUDE_WORDS = {"", "-", "exclude", "none", "null", "skip"}
LabelMapSpec = Mapping[str, str | None] | str | os.PathLike[str] | None


class LabelMap:
    """Resolved native-name → canonical-label map (``None`` = excluded on purpose)."""

    def __init__(self, entries: Mapping[str, str | None] | None = None, source: str = "") -> None:
        self.source = source
        self.entries: dict[str, str | None] = {}
        for native, target in (entries or {}).items():
            self.entries[str(native)] = self._target(str(native), target)
        self._lower = {k.strip().lower(): v for k, v in self.entries.items()}

    def _target(self, native: str, target: str | None) -> str | None:
        if target is None or str(target).strip().lower() in EXCLUDE_WORDS:
            return None
        key = str(target).strip().lower()
        if key in LABEL_INDEX:
            return key
        if key in SYNONYMS:
            return SYNONYMS[key]
        where = f" in {self.source}" if self.source else ""
        raise DatasetError(
            f"label map{where}: '{native}' -> '{target}' is not a canonical label "
            f"({', '.join(LABEL_INDEX)}) or 'exclude'"
        )

    def lookup(self, native: str) -> tuple[str | None, str]:
        """Return (canonical label or None, reason). Reasons: ``ok``, ``excluded_by_map``, ``unknown_label``."""
        if native in self.entries:
            target = self.entries[native]
        elif native.strip().lower() in self._lower:
            target = self._lower[native.strip().lower()]
        else:
            key = native.strip().lower()
            return (SYNONYMS[key], "ok") if key in SYNONYMS else (None, "unknown_label")
        return (target, "ok") if target is not None else (None, "excluded_by_map")


def _read_file(path: Path) -> dict[str, str | None]:
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: label map is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise DatasetError(f'{path}: label map JSON must be an object {{"native": "canonical"}}')
        return {str(k): (None if v is None else str(v)) for k, v in data.items()}
    text = path.read_text(encoding="utf-8-sig")
    delim = "\t" if "\t" in text else ","
    out: dict[str, str | None] = {}
    first = True
    for i, rec in enumerate(csv.reader(text.splitlines(), delimiter=delim), start=1):
        if not rec or not "".join(rec).strip() or rec[0].lstrip().startswith("#"):
            continue
        is_header = first and rec[0].strip().lower() in ("native", "label", "name") and len(rec) > 1
        first = False
        if is_header:
            continue
        if len(rec) != 2:
            raise DatasetError(f"{path}:{i}: expected 'native,canonical', found {len(rec)} fields")
        out[rec[0].strip()] = rec[1].strip()
    return out


def _parse_inline(spec: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise DatasetError(
                f"label map '{spec}': entry '{part.strip()}' is not native=canonical "
                "(or give a .json/.csv file)"
            )
        native, target = part.split("=", 1)
        out[native.strip()] = target.strip()
    return out


def load_label_map(spec: LabelMapSpec) -> LabelMap:
    """Resolve a label map given as a mapping, an inline ``a=b,c=d`` string, or a .json/.csv file path."""
    if spec is None:
        return LabelMap()
    if isinstance(spec, Mapping):
        return LabelMap(spec, "label map")
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return LabelMap(_read_file(path), str(path))
    if "=" in text:
        return LabelMap(_parse_inline(text), "--label-map")
    raise DatasetError(f"label map '{text}': no such file, and not an inline 'native=canonical,...' list")
