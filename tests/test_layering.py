"""The import graph of ``ferbench``: data flows one way, so no two parts import each other (even lazily)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ferbench"


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ferbench module ``path`` imports, at module level or inside functions, except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("ferbench"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("ferbench"):
                out.add(target)
                out.update(f"{target}.{a.name}" for a in node.names)
    return out


def graph(depth: int) -> nx.DiGraph:
    """Imports between parts of ferbench, each module named by its first ``depth`` dotted components."""
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    g = nx.DiGraph()

    def part(name: str) -> str:
        return ".".join(name.split(".")[:depth])

    for mod, path in modules.items():
        for target in _imports(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and part(target) != part(mod):
                g.add_edge(part(mod), part(target))
    return g


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ferbench.report", "ferbench.api"),
        ("ferbench.evaluate", "ferbench.analysis"),
        ("ferbench.cli", "ferbench.commands"),
    ],
)
def test_named_layers_do_not_import_each_other(a: str, b: str) -> None:
    g = graph(2)
    assert not (g.has_edge(a, b) and g.has_edge(b, a)), f"{a} and {b} import each other"


def test_no_import_cycles_between_top_level_parts() -> None:
    cycles = list(nx.simple_cycles(graph(2)))
    assert cycles == [], cycles
