"""The package's layering: each unit of ``gapkit/`` (a subpackage or a top-level module) imports
only units of lower layers, counting lazy imports inside functions too, and no import cycle
exists between modules, inside a package or across packages, lazy imports included. The order is
the README's (Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "gapkit"

# Bottom first. A unit may import units of earlier layers only (not its own layer's other units).
LAYERS = [
    ("errors",),
    ("io", "_registry", "_options", "progress", "results", "streams"),
    ("records",),
    ("cache",),
    ("stats",),
    ("adapters",),
    ("plots",),
    ("worlds",),
    ("tinyclip",),
    ("encoders",),
    ("data",),
    ("metrics",),
    ("embed",),
    ("figures",),
    ("close",),
    ("ablate",),
    ("cli",),
    ("__main__", "__init__"),
]
LAYER = {unit: k for k, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module_level_only: bool = False) -> list[tuple[str, int]]:
    """The gapkit modules ``path`` imports (absolute names), with line numbers."""
    return _imports_of(path.read_text(), _module_name(path), path.name == "__init__.py", module_level_only)


def _imports_of(
    source: str, name: str, is_package: bool, module_level_only: bool = False
) -> list[tuple[str, int]]:
    tree = ast.parse(source)
    package = name if is_package else name.rpartition(".")[0]
    nodes = tree.body if module_level_only else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "gapkit":
                target = node.module
            else:
                continue
            # `from . import x` may name a submodule: record it as such when it is one
            subs = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            out += [(t, node.lineno) for t in (subs or [target])]
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "gapkit"]
    return out


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


FILES = sorted(ROOT.rglob("*.py"))


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(f)) for f in FILES}
    assert units <= set(LAYER), f"units without a layer: {sorted(units - set(LAYER))}"


def test_no_upward_or_sideways_import():
    bad = []
    for f in FILES:
        unit = _unit(_module_name(f))
        for target, line in _imports(f):
            other = _unit(target)
            if other != unit and LAYER[other] >= LAYER[unit]:
                bad.append(
                    f"{f.relative_to(ROOT.parent)}:{line} imports {target} ({unit} may not import {other})"
                )
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "with-lazy-imports"])
def test_no_import_cycle(module_level_only):
    """No circle between any two modules, inside a package or across packages, counting imports
    inside functions too (a lazy import only hides a circle from the interpreter)."""
    graph = {_module_name(f): {t for t, _ in _imports(f, module_level_only)} for f in FILES}
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if t not in graph:
                continue
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t) :] + [t]))
            if t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_walker_resolves_relative_and_lazy_imports():
    source = "from . import captions\n\ndef f():\n    from ...close.config import CloseConfig\n"
    found = _imports_of(source, "gapkit.worlds.shapes.vocab", is_package=False)
    assert found == [("gapkit.worlds.shapes.captions", 1), ("gapkit.close.config", 4)]
    assert LAYER[_unit(found[1][0])] > LAYER["worlds"]  # would be reported as upward
    assert _imports_of(source, "gapkit.worlds.shapes.vocab", False, module_level_only=True) == found[:1]
