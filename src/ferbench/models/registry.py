"""Look models up by id, list them, and create adapters. Nothing heavy happens at import time.

A model enters the registry from one of four places, recorded as its *origin*: ``zoo`` (the card files
shipped in the package), ``plugin DIST`` (a distribution's ``ferbench.models`` entry point, see
:mod:`ferbench.plugins`), ``card PATH`` (a user's TOML card named in ``--models``) or ``python`` (passed to
:func:`register_model`). Everything but the zoo is the user's own: reports mark it unverified.

Adapters are pluggable by runtime (:data:`ADAPTERS`): ``onnx`` and ``litert`` open a weight file,
``callable`` wraps a Python function (:class:`~ferbench.models.callable.CallableModel`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UNKNOWN_MODEL, ModelError
from .adapter import Adapter
from .callable import FUNCTIONS, CallableAdapter, CallableModel
from .cardfile import is_card_path, load_card_file
from .cards import ModelCard
from .store import StoreSpec, is_available, with_pinned_sha256
from .zoo import CARDS

_REGISTRY: dict[str, ModelCard] = {}
_ORIGIN: dict[str, str] = {}

AdapterFactory = Callable[..., Adapter]
#: runtime -> the adapter class (or factory ``(card, store, *, threads, device)``) that runs its cards.
ADAPTERS: dict[str, AdapterFactory] = {
    "onnx": Adapter,
    "litert": Adapter,
    "openvino": Adapter,
    "callable": CallableAdapter,
}

ModelLike = ModelCard | CallableModel | str | Path


def register_model(model: ModelLike, *, origin: str = "python") -> ModelCard:
    """Add a model to the registry and return its card; ids are unique.

    ``model`` is a :class:`ModelCard`, a :class:`CallableModel` or the path of a TOML card file. The same id
    may be registered again only with an equal card, or from the same origin (an edited card file, a
    callable model redefined in a notebook), which replaces it.
    """
    if isinstance(model, str | Path):
        card = load_card_file(model)
        origin = f"card {Path(model).resolve()}" if origin == "python" else origin
    elif isinstance(model, CallableModel):
        card = model.card
    elif isinstance(model, ModelCard):
        card = model
    else:
        raise ModelError(
            f"cannot register {model!r} as a model: give a ModelCard, CallableModel or card path"
        )
    if origin != "zoo" and card.verified:
        card = replace(card, verified=False)  # only the zoo's cards are checked against reference outputs
    old = _REGISTRY.get(card.id)
    if old is not None and old != card and _ORIGIN.get(card.id) != origin:
        raise ModelError(
            f"model id '{card.id}' is already registered ({_ORIGIN.get(card.id)}); choose another id for {origin}"
        )
    _REGISTRY[card.id] = card
    _ORIGIN[card.id] = origin
    if isinstance(model, CallableModel):
        FUNCTIONS[card.id] = model.fn
    return card


def register(card: ModelCard) -> ModelCard:
    """Older name of :func:`register_model` for a card (kept for existing callers)."""
    return register_model(card)


for _card in CARDS:
    register_model(_card, origin="zoo")

_plugins_loaded = False


def _load_plugins() -> None:
    """Register every ``ferbench.models`` entry point's models once (see :mod:`ferbench.plugins`)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from ..plugins import entry_point_objects

    for dist, name, obj in entry_point_objects("ferbench.models"):
        for model in _plugin_models(obj):
            register_model(model, origin=f"plugin {dist} ({name})")


def _plugin_models(obj: Any) -> list[ModelLike]:
    if callable(obj) and not isinstance(obj, CallableModel | ModelCard):
        obj = obj()
    if isinstance(obj, str | Path) and Path(obj).is_dir():
        return list[ModelLike](sorted(Path(obj).glob("*.toml")))
    if isinstance(obj, ModelCard | CallableModel | str | Path):
        return [obj]
    return [m for o in obj for m in _plugin_models(o)]


def reload_plugins() -> None:
    """Look the entry points up again (after installing a plugin into a running process)."""
    global _plugins_loaded
    from ..plugins import reset

    reset()
    _plugins_loaded = False
    _load_plugins()


def origin(model_id: str) -> str:
    """Where a registered model came from: ``zoo``, ``plugin DIST (NAME)``, ``card PATH`` or ``python``."""
    return _ORIGIN.get(model_id, "python")


def is_users_own(model_id: str) -> bool:
    """True for every model not shipped in ferbench's zoo: a user's card, plugin or callable."""
    return origin(model_id) != "zoo"


def list_models(*, verified_only: bool = False) -> list[ModelCard]:
    """All registered cards (zoo first, then plugins and the user's own), in registration order."""
    _load_plugins()
    return [c for c in _REGISTRY.values() if c.verified or not verified_only]


def get_card(model_id: str) -> ModelCard:
    if is_card_path(model_id):
        return register_model(model_id)
    _load_plugins()
    try:
        return _REGISTRY[model_id]
    except KeyError:
        raise ModelError(UNKNOWN_MODEL.format(model_id, ", ".join(_REGISTRY))) from None


def resolve_models(spec: str | Iterable[str | ModelLike], store: StoreSpec = None) -> list[ModelCard]:
    """Turn a ``--models`` value (comma list of ids and card files, ``all`` among them) into cards.

    Cards without a published sha256 get the digest their store's lock file pinned (see
    :func:`~ferbench.models.store.with_pinned_sha256`), so predictions and provenance name the exact file.
    ``all`` means every verified, recommended zoo model whose weights are available in the store; naming a
    model explicitly that is missing, unverified or not recommended is allowed and fails (missing) or is
    flagged (unverified) later. A ``.toml`` entry is loaded as a user's card, a :class:`CallableModel` or
    :class:`ModelCard` object is registered as given.
    """
    items: list[Any] = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [n for n in items if not isinstance(n, str) or n]
    if not items:
        raise ModelError("no models given")
    seen: list[ModelCard] = []
    for n in items:
        if n == "all":
            found = [c for c in list_models(verified_only=True) if c.recommended and is_available(c, store)]
            if not found:
                raise ModelError("`--models all`: no verified model's weights were found in the model store")
            cards = [c for c in found if not is_users_own(c.id)]
        elif isinstance(n, str) and not is_card_path(n):
            cards = [with_pinned_sha256(get_card(n), store)]
        else:
            cards = [register_model(n)]
        for card in cards:
            if card.id in {c.id for c in seen}:
                continue
            seen.append(card)
    return seen


def create_adapter(
    card: ModelCard, store: StoreSpec = None, *, threads: int = 0, device: str = "cpu", **options: Any
) -> Adapter:
    """The adapter for a card, chosen by its runtime (:data:`ADAPTERS`); ``options`` (``batch_size``,
    ``cache_dir``, ``litert_batched``) go to the adapter as they are."""
    try:
        factory = ADAPTERS[card.runtime]
    except KeyError:
        raise ModelError(f"model '{card.id}': no adapter for runtime '{card.runtime}'") from None
    return factory(card, store, threads=threads, device=device, **options)


def create(model_id: str, store: StoreSpec = None, **kwargs: Any) -> Adapter:
    """Load a model by id (or card path): verify its weights, open its runtime session."""
    return create_adapter(with_pinned_sha256(get_card(model_id), store), store, **kwargs)
