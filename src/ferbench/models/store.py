"""The model store: a search path of folders where weight files live, and their verification.

Weights are never copied into the project. A store may be read-only (this repository's development set-up
reads ``../shared/models``), so the store is a *search path*, in this order:

1. folders given explicitly (``--model-store``, repeatable; each value may hold several folders separated
   by ``os.pathsep``),
2. the folders in the ``FERBENCH_MODEL_STORE`` environment variable (``os.pathsep``-separated),
3. ``~/.cache/ferbench/models`` (:data:`DEFAULT_STORE`).

A weight file is read from the first folder that has it; ``ferbench models pull`` writes to the first folder
that is writable (or the one given with ``--into``). Every file is checked against a pinned sha256 before a
runtime sees a byte of it: the card's digest, or, for models whose digest nobody has verified yet, the digest
recorded in that folder's lock file (:data:`LOCK_NAME`) when the file was first pulled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ..errors import SHA_MISMATCH, ModelError, WeightsMismatch
from ..hashing import sha256_file
from .cards import Artifact, ModelCard


class WeightFile(Protocol):
    """Anything with an id and one pinned :class:`Artifact`: a model card, or a helper network's file."""

    @property
    def id(self) -> str: ...

    @property
    def artifact(self) -> Artifact: ...


ENV_VAR = "FERBENCH_MODEL_STORE"
DEFAULT_STORE = Path.home() / ".cache" / "ferbench" / "models"
LOCK_NAME = "ferbench.lock.json"

StoreSpec = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def _split(value: str | os.PathLike[str]) -> list[Path]:
    return [Path(p).expanduser() for p in os.fspath(value).split(os.pathsep) if p]


def store_paths(store: StoreSpec = None) -> list[Path]:
    """The folders searched for weight files, in order (see the module docstring), without duplicates."""
    folders: list[Path] = []
    if store is not None:
        values = [store] if isinstance(store, str | os.PathLike) else list(store)
        for v in values:
            folders.extend(_split(v))
    env = os.environ.get(ENV_VAR)
    if env:
        folders.extend(_split(env))
    folders.append(DEFAULT_STORE)
    seen: set[str] = set()
    out: list[Path] = []
    for f in folders:
        key = os.path.normcase(os.path.abspath(f))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def resolve_store(store: StoreSpec = None) -> Path:
    """The first folder of the search path (the one an explicit ``--model-store`` names, if any)."""
    return store_paths(store)[0]


def find_weight(card: WeightFile, store: StoreSpec = None) -> Path | None:
    """The card's weight file in the first store folder that has it, or None."""
    for folder in store_paths(store):
        p = folder / card.artifact.path
        if p.is_file():
            return p
    return None


def weight_path(card: ModelCard, store: StoreSpec = None) -> Path:
    """Where the card's weight file is read from: the first folder that has it, else where it is expected."""
    return find_weight(card, store) or resolve_store(store) / card.artifact.path


def _is_writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def writable_store(store: StoreSpec = None, into: str | os.PathLike[str] | None = None) -> Path:
    """The folder a pull writes to: ``into`` if given, else the first writable folder of the search path."""
    if into is not None:
        target = Path(into).expanduser()
        if not _is_writable(target):
            raise ModelError(f"model store '{target}' is not writable; choose another folder with --into")
        return target
    for folder in store_paths(store):
        if _is_writable(folder):
            return folder
    searched = ", ".join(str(f) for f in store_paths(store))
    raise ModelError(f"no writable model store among {searched}; give one with --into or --model-store")


# --- lock file -------------------------------------------------------------------------------------------


def read_lock(folder: Path) -> dict[str, dict[str, Any]]:
    """The lock entries of one store folder: artifact path -> {sha256, source, pulled_at}."""
    p = folder / LOCK_NAME
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"lock file '{p}' is not readable JSON ({exc}); fix or delete it") from None
    entries = data.get("artifacts", {}) if isinstance(data, dict) else {}
    return entries if isinstance(entries, dict) else {}


def record_lock(folder: Path, artifact_path: str, sha256: str, source: str) -> None:
    """Add or confirm one entry in ``folder``'s lock file (written atomically)."""
    entries = read_lock(folder)
    old = entries.get(artifact_path)
    if old and old.get("sha256") != sha256:
        raise WeightsMismatch(
            f"lock file '{folder / LOCK_NAME}' pins '{artifact_path}' to sha256 {old.get('sha256')}, "
            f"refusing to record {sha256}; delete the entry only if you trust the new file"
        )
    if old:
        return
    entries[artifact_path] = {
        "sha256": sha256,
        "source": source,
        "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lock-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"version": 1, "artifacts": dict(sorted(entries.items()))}, f, indent=1)
            f.write("\n")
        os.replace(tmp, folder / LOCK_NAME)
    except OSError as exc:
        raise ModelError(
            f"cannot write lock file '{folder / LOCK_NAME}' ({exc.strerror}); pull into a writable folder with --into"
        ) from None


def folder_of(card: WeightFile, path: Path) -> Path:
    """The store folder a found weight file lives in (``path`` minus the card's relative artifact path)."""
    p = path
    for _ in Path(card.artifact.path).parts:
        p = p.parent
    return p


def pinned_sha256(card: WeightFile, folder: Path) -> str | None:
    """The digest a file of this card in ``folder`` must have: the card's, else the folder's lock entry."""
    if card.artifact.sha256:
        return card.artifact.sha256
    entry = read_lock(folder).get(card.artifact.path)
    return str(entry["sha256"]) if entry and entry.get("sha256") else None


def with_pinned_sha256(card: ModelCard, store: StoreSpec = None) -> ModelCard:
    """The card, with ``artifact.sha256`` filled in from the lock file when the card has none.

    Runs key stored predictions and record provenance by ``artifact.sha256``; for an unverified model that
    digest is the one its lock file pinned at the first pull, so this resolves it once, up front.
    """
    if card.artifact.sha256:
        return card
    path = find_weight(card, store)
    pin = pinned_sha256(card, folder_of(card, path)) if path is not None else None
    if pin is None:
        return card
    return replace(card, artifact=replace(card.artifact, sha256=pin))


# --- verification ----------------------------------------------------------------------------------------


def is_available(card: WeightFile, store: StoreSpec = None) -> bool:
    """True when the card's weight file (and every extra file beside it) is present and matches its pin."""
    path = find_weight(card, store)
    if path is None:
        return False
    folder = folder_of(card, path)
    pin = pinned_sha256(card, folder)
    if pin is None or sha256_file(path) != pin:
        return False
    extras = card.artifact.extra_files
    return all((folder / rel).is_file() and sha256_file(folder / rel) == sha for rel, sha in extras.items())


def check_extra_files(card: WeightFile, folder: Path) -> list[Path]:
    """Check the files that must sit beside the main weight file (an IR's ``.bin``) in the same store folder.

    They are looked up in the folder the main file came from, never elsewhere on the search path, because a
    runtime loads them by their place beside it.
    """
    out = []
    for rel, sha in card.artifact.extra_files.items():
        p = folder / rel
        if not p.is_file():
            raise ModelError(
                f"model '{card.id}': '{p}' is missing; '{card.artifact.path}' cannot be loaded without it. "
                f"Put both files of the pair in the same model-store folder ({folder})."
            )
        digest = sha256_file(p)
        if digest != sha:
            raise WeightsMismatch(SHA_MISMATCH.format(card.id, p, digest, sha))
        out.append(p)
    return out


def verified_weight_path(card: ModelCard, store: StoreSpec = None) -> Path:
    """Return the weight file's path after checking it exists and matches the pinned sha256.

    Raises :class:`ModelError` for a missing or unpinned file and :class:`WeightsMismatch` for a tampered one,
    before any byte of it reaches a runtime.
    """
    path = find_weight(card, store)
    if path is None:
        searched = os.pathsep.join(str(f) for f in store_paths(store))
        hint = f", or run `ferbench models pull {card.id}`" if card.artifact.pullable else ""
        raise ModelError(
            f"model '{card.id}': weight file '{card.artifact.path}' not found in the model store "
            f"(searched {searched}). Point --model-store (or {ENV_VAR}) at the folder that holds it{hint}."
        )
    folder = folder_of(card, path)
    pin = pinned_sha256(card, folder)
    if pin is None:
        raise ModelError(
            f"model '{card.id}': weight file '{path}' has no pinned sha256 (the card has none and "
            f"'{folder / LOCK_NAME}' has no entry); run `ferbench models pull {card.id}` to pin it"
        )
    digest = sha256_file(path)
    if digest != pin:
        raise WeightsMismatch(SHA_MISMATCH.format(card.id, path, digest, pin))
    check_extra_files(card, folder)
    return path
