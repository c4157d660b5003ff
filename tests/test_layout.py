"""The package layout, read from the import statements of every module.

* The core (``nasengine``) never imports the built-in plug-ins (``search_spaces``,
  ``controllers``, ``supernet``): it finds them through entry points like any plug-in.
* A plug-in never imports a private name (leading underscore) from another package.
* The project's modules import each other without cycles. Imports inside functions
  count: a lazy import hides a cycle from Python, not from the design. Imports under
  ``if TYPE_CHECKING:`` do not: they only name types for annotations and never run.

The graph links a module to the modules it names. ``from pkg import name`` links to
``pkg.name`` when that is a module, else to ``pkg``. The implicit import of a module's
parent packages is not an edge: every module would otherwise be in a cycle with a package
``__init__`` that re-exports it.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import nasengine
from nasengine.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
CORE = "nasengine"
PLUGINS = ("search_spaces", "controllers", "supernet")

@dataclass(frozen=True)
class Import:
    """One import statement's target, as written and as resolved to a module."""

    module: str  # the importing module
    line: int
    written: str  # the dotted target as written (after resolving relative imports)
    names: tuple[str, ...]  # the names a ``from`` import takes; empty for ``import x``
    target: str | None  # the project module it resolves to; None outside the project


def module_files() -> dict[str, Path]:
    """Dotted name -> file of every module of the core and the plug-ins."""
    found = {}
    for top in (CORE, *PLUGINS):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a project module."""
    parts = name.split(".")
    while parts:
        dotted = ".".join(parts)
        if dotted in modules:
            return dotted
        parts.pop()
    return None


def read_imports(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of ``module`` (at any depth of the file), resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, node.lineno, alias.name, (), _resolve(alias.name, modules)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                written = ".".join(base + ([node.module] if node.module else []))
            else:
                written = node.module or ""
            names = tuple(a.name for a in node.names)
            submodules = [f"{written}.{n}" for n in names if f"{written}.{n}" in modules]
            for target in submodules or [_resolve(written, modules)]:
                found.append(Import(module, node.lineno, written, names, target))
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) with no ``else``."""
    if not isinstance(node, ast.If) or node.orelse:
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    modules = module_files()
    return [imp for name, path in modules.items() for imp in read_imports(name, path, modules)]


def _top(dotted: str) -> str:
    return dotted.split(".")[0]


def _where(imp: Import) -> str:
    names = f" ({', '.join(imp.names)})" if imp.names else ""
    return f"{imp.module}:{imp.line} imports {imp.written}{names}"


def test_the_core_does_not_import_the_plugins(imports):
    offending = [imp for imp in imports if _top(imp.module) == CORE and _top(imp.written) in PLUGINS]
    unexpected = [_where(imp) for imp in offending]
    assert not unexpected, "the core imports built-in plug-ins:\n" + "\n".join(unexpected)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package(module: str, modules: dict[str, Path]) -> str:
    """The package a module belongs to (a package ``__init__`` belongs to itself)."""
    path = modules.get(module)
    return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]


def private_imports(imports: list[Import], modules: dict[str, Path]) -> list[Import]:
    """Imports of plug-in modules that take a private name from outside their own package."""
    return [
        imp for imp in imports
        if _top(imp.module) in PLUGINS
        and _package(imp.target or imp.written, modules) != _package(imp.module, modules)
        and (any(_private(part) for part in imp.written.split(".")) or any(_private(n) for n in imp.names))
    ]


def test_plugins_import_no_private_names_of_other_packages(imports):
    offending = [_where(imp) for imp in private_imports(imports, module_files())]
    assert not offending, "plug-ins import private names of other packages:\n" + "\n".join(offending)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components, key=len, reverse=True)


def import_cycles(imports: list[Import]) -> list[str]:
    """One line per cycle: its modules and the imports that close it."""
    graph: dict[str, set[str]] = {name: set() for name in module_files()}
    for imp in imports:
        if imp.target is not None and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    report = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        edges = sorted({_where(i) for i in imports if i.module in members and i.target in members})
        report.append(f"cycle {' <-> '.join(component)}:\n    " + "\n    ".join(edges))
    return report


def test_strongly_connected_finds_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]


def test_relative_and_submodule_imports_resolve(tmp_path):
    modules = {"pkg": tmp_path / "__init__.py", "pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"}
    modules["pkg.a"].write_text("def f():\n    from . import b\n    from .b import thing\n    import pkg.b.c\n")
    targets = [imp.target for imp in read_imports("pkg.a", modules["pkg.a"], modules)]
    assert targets == ["pkg.b", "pkg.b", "pkg.b"]


def test_type_checking_imports_are_not_edges(tmp_path):
    modules = {"pkg": tmp_path / "__init__.py", "pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py",
               "pkg.c": tmp_path / "c.py"}
    modules["pkg.a"].write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n"
                                "def f():\n    from pkg import c\n")
    assert [imp.target for imp in read_imports("pkg.a", modules["pkg.a"], modules)] == [None, "pkg.c"]


def test_private_names_from_another_package_are_found(tmp_path):
    modules = {"nasengine.util": tmp_path / "util.py", "search_spaces.a": tmp_path / "a.py",
               "search_spaces.b": tmp_path / "b.py"}
    modules["search_spaces.a"].write_text("from nasengine.util import _helper, public\nfrom search_spaces.b import _own\n")
    found = private_imports(read_imports("search_spaces.a", modules["search_spaces.a"], modules), modules)
    assert [(imp.written, imp.names) for imp in found] == [("nasengine.util", ("_helper", "public"))]


def test_no_import_cycles(imports):
    cycles = import_cycles(imports)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# --- the public surface -------------------------------------------------------------------
def _subpackages() -> list[str]:
    return sorted(f"{CORE}.{m.name}" for m in pkgutil.iter_modules(nasengine.__path__) if m.name != "__main__")


def test_registries_are_not_shadowed_by_submodules():
    for name in _subpackages():
        importlib.import_module(name)
    for name in ("SPACES", "CONTROLLERS", "EVALUATORS"):
        assert isinstance(getattr(nasengine, name), Registry), f"nasengine.{name} was replaced"
    shadowed = [n for n in nasengine.__all__ if isinstance(getattr(nasengine, n), types.ModuleType)]
    assert not shadowed, f"public names replaced by submodules: {shadowed}"


@pytest.mark.parametrize("name", sorted(nasengine._LAZY))
def test_public_surface_resolves(name):
    assert name in nasengine.__all__ and name in dir(nasengine)
    value = getattr(nasengine, name)
    assert value is getattr(importlib.import_module(nasengine._LAZY[name]), name)


def test_unknown_public_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nasengine.nope  # noqa: B018
