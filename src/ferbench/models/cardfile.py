"""Model cards as TOML files: one generic reader and writer driven by the card dataclasses' own fields.

The built-in zoo (``ferbench/models/cards/*.toml``) and a user's card go through the same :func:`parse_card`,
so the two cannot drift apart. Nothing here names a card field: the type hints of :class:`ModelCard`,
:class:`Artifact` and :class:`Preprocess` decide what a file may hold, so a field another change adds is
read, checked and written without new code. A problem is one :class:`CardError` line naming the card, the
field and the fix.

``artifact.path`` of a zoo card is relative to the model store; of a user's card, relative to the card file
(:func:`load_card_file` makes it absolute, so the store search finds it wherever the run starts).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import tomli_w

from ..errors import FerbenchError, ModelError
from ..hashing import sha256_file
from .cards import ModelCard

#: Placeholder ``ferbench models init`` writes where a person must decide; a card still holding it is refused.
DECIDE = "DECIDE"
#: Fields only the built-in zoo may set: a user's card is the user's own, never verified by ferbench.
ZOO_ONLY = ("verified", "reference_outputs", "reference_normalised")


class CardError(ModelError):
    """A card file (or card data) that cannot be used; the message names card, field and fix."""

    def __init__(self, source: str, field: str, problem: str, fix: str) -> None:
        super().__init__(f"card '{source}': field '{field}': {problem}; fix: {fix}")
        self.source, self.field = source, field


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
    if origin is dict:
        return f"a table of {_describe(get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"a [{getattr(tp, '__name__', str(tp)).lower()}] table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


class _Bad(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where, self.problem = where, problem


def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` (as TOML parsed it) as the Python value of type ``tp``, or :class:`_Bad`."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _Bad(where, f"expected {_describe(tp)}, got {value!r}")
        return _build(tp, value, where + ".")
    if origin in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not type(None)]
        problems = []
        for arm in arms:
            try:
                return _convert(value, arm, where)
            except _Bad as exc:
                problems.append(exc)
        raise problems[0] if len(problems) == 1 else _Bad(where, f"expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            close = difflib.get_close_matches(str(value), [str(a) for a in get_args(tp)], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Bad(where, f"{value!r} is not {_describe(tp)}{hint}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise _Bad(where, f"expected {_describe(tp)}, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Bad(where, f"expected {_describe(tp)}, got {len(value)} values")
        return tuple(
            _convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Bad(where, f"expected {_describe(tp)}, got {value!r}")
        _, vt = get_args(tp)
        return {str(k): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _Bad(where, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(where, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(where, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Bad(where, f"expected a string, got {value!r}")
        return value
    raise _Bad(where, f"card fields of type {tp!r} cannot be read from TOML")


def _build(cls: Any, data: Mapping[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = (
                f"did you mean '{prefix}{close[0]}'?" if close else f"remove it (known: {', '.join(fields)})"
            )
            raise _Bad(prefix + key, f"unknown field; {hint}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], prefix + name)
        elif _required(f):
            optional = type(None) in get_args(hints[name])
            if not optional:
                raise _Bad(prefix + name, f"required field is missing (expected {_describe(hints[name])})")
            kwargs[name] = None
    return cls(**kwargs)


def _placeholders(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return where if DECIDE in value else None
    items = (
        value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    )
    for k, v in items:
        found = _placeholders(v, f"{where}.{k}" if isinstance(value, Mapping) else where)
        if found:
            return found
    return None


def parse_card(data: Mapping[str, Any], source: str) -> ModelCard:
    """A :class:`ModelCard` from parsed TOML, checked field by field and as a whole (see module docstring)."""
    for key, value in data.items():
        where = _placeholders(value, key)
        if where:
            raise CardError(
                source, where, f"still holds the {DECIDE} placeholder `models init` wrote", "fill it in"
            )
    try:
        card: ModelCard = _build(ModelCard, data)
    except _Bad as exc:
        raise CardError(source, exc.where, exc.problem, _FIXES.get(exc.where, "correct the value")) from None
    _check_whole(card, source)
    return card


_FIXES = {
    "classes": "list the model's output classes in output order",
    "runtime": "name the runtime that opens the weight file",
    "preprocess.size": "give [height, width] in pixels",
}


def _check_whole(card: ModelCard, source: str) -> None:
    """Checks across fields (what the types alone cannot say)."""
    if not card.id or card.id != card.id.strip() or "," in card.id or "/" in card.id:
        raise CardError(
            source, "id", f"{card.id!r} is not a usable model id", "use letters, digits and dashes"
        )
    if not card.classes:
        raise CardError(source, "classes", "no classes", _FIXES["classes"])
    try:
        card.canonical_classes  # noqa: B018 - raises for a name ferbench cannot map
    except FerbenchError as exc:
        raise CardError(
            source, "classes", str(exc), "use ferbench's label names or map them in [label_overrides]"
        ) from None
    p = card.preprocess
    if min(p.size) <= 0:
        raise CardError(
            source, "preprocess.size", f"{list(p.size)} is not a positive size", _FIXES["preprocess.size"]
        )
    for name in ("mean", "std"):
        n = len(getattr(p, name))
        if n not in (1, p.channels):
            raise CardError(
                source,
                f"preprocess.{name}",
                f"{n} values for a {p.channels}-channel input ({p.color})",
                f"give 1 or {p.channels} values",
            )
    if 0.0 in p.std:
        raise CardError(
            source, "preprocess.std", "a zero divisor", "use the model's real standard deviations"
        )
    if card.class_columns is not None:
        a, b = card.class_columns
        if not 0 <= a < b or b - a != len(card.classes):
            raise CardError(
                source,
                "class_columns",
                f"{list(card.class_columns)} does not select {len(card.classes)} class columns",
                "give [start, stop) with stop - start equal to the number of classes",
            )


# --- writing -----------------------------------------------------------------------------------------------


def card_data(card: ModelCard) -> dict[str, Any]:
    """The card as TOML-ready data: every field, ``None`` left out (TOML has no null), tuples as lists."""
    out: dict[str, Any] = card_data_value(card)
    return out


def _scalar(v: Any) -> str:
    return tomli_w.dumps({"v": v}).split(" = ", 1)[1].strip()


def _key(k: str) -> str:
    return tomli_w.dumps({k: 0}).rsplit(" = ", 1)[0]


def _value(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    return _scalar(v)


def _defaults(cls: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def dumps_card(card: ModelCard, *, user: bool = False, full: bool = False) -> str:
    """The card as a TOML document: top-level fields, then one ``[table]`` per nested record or mapping.

    Fields equal to their default are left out unless ``full`` (the loader fills them in again, so the file
    reads back as the same card); ``user=True`` also leaves out the fields only the zoo may set
    (:data:`ZOO_ONLY`), so the output is a valid user card.
    """

    def rows(obj: Any) -> tuple[list[str], list[tuple[str, Any]]]:
        plain, tables = [], []
        defaults = _defaults(type(obj))
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if (
                v is None
                or (user and f.name in ZOO_ONLY)
                or (not full and f.name in defaults and defaults[f.name] == v)
            ):
                continue
            if dataclasses.is_dataclass(v) or isinstance(v, dict):
                tables.append((f.name, v))
            else:
                plain.append(f"{_key(f.name)} = {_value(card_data_value(v))}")
        return plain, tables

    plain, tables = rows(card)
    out = plain
    for name, v in tables:
        out += ["", f"[{name}]"]
        if isinstance(v, dict):
            out += [f"{_key(k)} = {_value(card_data_value(x))}" for k, x in v.items()]
        else:
            sub, deeper = rows(v)
            out += sub
            for dname, dv in deeper:  # a mapping inside a nested record (e.g. artifact.extra_files)
                out.append(f"{_key(dname)} = {_value(card_data_value(dv))}")
    return "\n".join(out) + "\n"


def card_data_value(v: Any) -> Any:
    """One field's value as TOML-ready data (tuples as lists, records as tables, ``None`` left out)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {
            f.name: card_data_value(getattr(v, f.name))
            for f in dataclasses.fields(v)
            if getattr(v, f.name) is not None
        }
    if isinstance(v, tuple | list):
        return [card_data_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): card_data_value(x) for k, x in v.items()}
    return v


def card_sha256(card: ModelCard) -> str:
    """A content hash of the card (its canonical JSON), independent of the file's comments and layout."""
    blob = json.dumps(card_data(card), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


# --- files ---------------------------------------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ModelError(f"card '{path}': file not found; fix: give the path of a .toml card") from None
    except tomllib.TOMLDecodeError as exc:
        raise CardError(str(path), "-", f"not valid TOML ({exc})", "correct the TOML syntax") from None


def load_zoo_card(path: Path) -> ModelCard:
    """A built-in card shipped in the package (``artifact.path`` relative to the model store)."""
    return parse_card(read_toml(path), path.name)


LOCK_NAME = "ferbench.lock.json"


def load_card_file(path: str | Path, *, check_weights: bool = True) -> ModelCard:
    """A user's card: parsed, weights path made absolute, sha256 taken from the card or the lock file beside it.

    With ``check_weights`` the weight file must exist and match its pin (the card's ``artifact.sha256``, else
    the entry ``ferbench models check`` wrote in ``ferbench.lock.json`` beside the card).
    """
    from dataclasses import replace

    from .store import read_lock

    path = Path(path)
    data = read_toml(path)
    src = str(path)
    for key in ZOO_ONLY:
        if key in data:
            raise CardError(src, key, "only ferbench's own zoo cards set this", f"remove the '{key}' line")
    card = parse_card({**data, "verified": False}, src)
    if card.runtime == "callable":
        raise CardError(
            src, "runtime", "a callable model has no weight file", "use ferbench.CallableModel from Python"
        )
    weights = Path(os.path.abspath(path.parent / card.artifact.path))
    pin = card.artifact.sha256 or read_lock(path.parent).get(card.artifact.path, {}).get("sha256")
    changes: dict[str, Any] = {"path": str(weights), "sha256": pin}
    extras = getattr(card.artifact, "extra_files", None)  # files beside the main one (an IR's .bin)
    if extras:
        changes["extra_files"] = {os.path.abspath(path.parent / rel): sha for rel, sha in extras.items()}
    card = replace(card, artifact=replace(card.artifact, **changes))
    if check_weights:
        check_card_weights(card, src)
    return card


def check_card_weights(card: ModelCard, source: str) -> None:
    """The weight file exists and matches its pin; else one line naming the card, the field and the fix."""
    weights = Path(card.artifact.path)
    if not weights.is_file():
        raise CardError(
            source,
            "artifact.path",
            f"weight file '{weights}' not found",
            "give the path relative to the card file",
        )
    if card.artifact.sha256 is None:
        raise CardError(
            source,
            "artifact.sha256",
            f"weight file '{weights}' is not pinned",
            f"run `ferbench models check {source}` (pins it in {LOCK_NAME} beside the card) or set artifact.sha256",
        )
    digest = sha256_file(weights)
    if digest != card.artifact.sha256:
        raise CardError(
            source,
            "artifact.sha256",
            f"weight file '{weights}' has sha256 {digest}, pinned {card.artifact.sha256}",
            "restore the pinned file, or delete its lock entry / change artifact.sha256 if you trust the new one",
        )
    for extra, sha in (getattr(card.artifact, "extra_files", None) or {}).items():
        if not Path(extra).is_file():
            raise CardError(
                source, "artifact.extra_files", f"'{extra}' not found", "put it beside the weight file"
            )
        if sha256_file(Path(extra)) != sha:
            raise CardError(
                source,
                "artifact.extra_files",
                f"'{extra}' has sha256 {sha256_file(Path(extra))}, the card pins {sha}",
                "restore the pinned file or correct the card",
            )


def is_card_path(spec: str) -> bool:
    """True when a ``--models`` entry names a card file rather than a model id."""
    return spec.endswith(".toml")
