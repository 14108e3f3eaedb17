"""The package keeps its layers (atentlib.layers): no module imports from a higher layer, and no import cycle joins
modules. Imports are read from the source with ast (those inside functions too: they run when called; those under
`if TYPE_CHECKING:` do not run and are skipped)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from atentlib.layers import LAYERS, ORDER, layer_of

PACKAGE = Path(__file__).resolve().parent.parent / "atentlib"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """{module name relative to the package: file}; a package is named by its folder, the root one `__init__`."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking_only(node):
            yield from (n for child in node.orelse for n in _imports_of(child))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def imported_modules(name: str, source: str, modules: set[str]) -> set[str]:
    """The package's modules that module `name` imports, and the packages above them that Python runs on the way
    (its own enclosing packages excepted: importing a sibling does not re-enter them)."""
    is_package = name in modules and any(m.startswith(name + ".") for m in modules)
    here = name.split(".") if name != "__init__" else []
    package = here if is_package else here[:-1]
    found: set[str] = set()
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "atentlib"]
        elif node.level == 0:
            if not (node.module or "").startswith("atentlib"):
                continue
            base = node.module.split(".")[1:]
            targets = [base + [a.name] if ".".join(base + [a.name]) in modules else base for a in node.names]
        else:
            base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            targets = [base + [a.name] if ".".join(base + [a.name]) in modules else base for a in node.names]
        for parts in targets:
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                if target in modules and target != name and not (name + ".").startswith(target + "."):
                    found.add(target)
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    modules = set(sources)
    return {name: imported_modules(name, src, modules) for name, src in sources.items()}


def upward_imports(graph: dict[str, set[str]], layer=layer_of) -> list[str]:
    return sorted(f"{a} ({layer(a)}) imports {b} ({layer(b)})" for a, targets in graph.items() for b in targets
                  if ORDER.index(layer(b)) > ORDER.index(layer(a)))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph({name: path.read_text() for name, path in module_names().items()})


def test_every_module_has_a_layer(graph):
    for name in graph:
        layer_of(name)  # KeyError naming the module otherwise
    assert not set().union(*LAYERS.values()) - {n.split(".")[0] for n in graph}, "a layer names a missing module"


def test_no_module_imports_from_a_higher_layer(graph):
    assert upward_imports(graph) == []


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_the_graph_sees_the_imports_that_matter(graph):
    """Relative, absolute, in-function and parent-package imports are all read (the checks above rely on it)."""
    assert {"attacks", "checkpoint", "curves", "masking"} <= graph["evaluate"]
    assert "attacks.pgd" in graph["defenses.pgd_at"] and "attacks" in graph["defenses.pgd_at"]
    assert "defenses" not in graph["defenses.pgd_at"]  # its own package: not re-entered
    assert "train" in graph["__main__"]  # imported inside a function
    assert "train" not in graph["evaluate"]  # evaluation does not need the training engine


def test_the_checks_catch_an_upward_import_and_a_cycle():
    sources = {"threat": "from .train import fit\n", "train": "from . import threat\n",
               "attacks": "", "attacks.pgd": "from ..threat import Ball\nfrom . import fgsm\n",
               "attacks.fgsm": "import atentlib.attacks.pgd\n"}
    graph = import_graph(sources)
    assert upward_imports(graph) == ["threat (core) imports train (engine)"]
    assert sorted(cycles(graph)) == [["attacks.fgsm", "attacks.pgd"], ["threat", "train"]]
    checked = import_graph({"samplers": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from .defenses import Defense\n", "defenses": ""})
    assert checked["samplers"] == set()
