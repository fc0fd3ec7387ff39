"""The package graph is layered: every import inside pgc (module level or inside a function)
goes from a layer to the same or a lower one, and no two packages import each other. The
layers, lowest first:

    runtime            what a compiled folder runs (standard library and torch only)
    ir                 IR types, verifier, printer/reader, policy rules, queries; diagnostics
    frontend, capture  spec -> IR; model -> profiles and stage code
    sim                cost model, discrete-event simulator, bounds
    sched              per-worker operation order (the `ordered` pass's library)
    planner            placement and routing searches
    passes             the passes that are not a library's entry point
    codegen, viz       compiled folders; pictures and reports
    driver             the pass driver (pgc.pipeline), plan files read back, baselines
    commands           the CLI
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.conftest import ROOT

LAYERS: tuple[tuple[str, ...], ...] = (
    ("runtime",),
    ("ir",),
    ("frontend", "capture"),
    ("sim",),
    ("sched",),
    ("planner",),
    ("passes",),
    ("codegen", "viz"),
    ("pipeline", "plan_file", "baselines"),
    ("commands", "cli", "__main__", "__init__"),
)
RANK = {unit: i for i, units in enumerate(LAYERS) for unit in units}
PGC = ROOT / "pgc"


def _unit(module: str) -> str:
    """The layer unit of a dotted pgc module: its package, or the top-level module's name."""
    parts = module.split(".")
    return _same(parts[1] if len(parts) > 1 else "__init__")


def _unit_of_file(path: Path) -> str:
    rel = path.relative_to(PGC).parts
    return _same(rel[0] if len(rel) > 1 else rel[0].removesuffix(".py"))


def _same(unit: str) -> str:
    return "ir" if unit == "diagnostics" else unit  # spans and diagnostics belong with the IR


@cache
def _imports() -> tuple[tuple[str, str, str], ...]:
    """(importing unit, imported unit, file:line) for every import of a pgc module (parsed
    once for all the tests here)."""
    out: list[tuple[str, str, str]] = []
    for path in sorted(PGC.rglob("*.py")):
        src = _unit_of_file(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            out += [(src, _unit(name), f"{path.relative_to(ROOT)}:{node.lineno}")
                    for name in names if name.startswith("pgc.") and _unit(name) in RANK]
    return tuple(out)


def test_every_package_has_a_layer() -> None:
    units = {_unit_of_file(p) for p in PGC.rglob("*.py")}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_no_import_goes_up_a_layer() -> None:
    up = [f"{where}: {a} imports {b}" for a, b, where in _imports() if RANK[b] > RANK[a]]
    assert up == []


def test_the_package_graph_has_no_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for a, b, _ in _imports():
        if a != b:
            edges.setdefault(a, set()).add(b)
    done: set[str] = set()

    def visit(unit: str, trail: tuple[str, ...]) -> None:
        assert unit not in trail, "import cycle: " + " -> ".join((*trail, unit))
        if unit not in done:
            for nxt in sorted(edges.get(unit, ())):
                visit(nxt, (*trail, unit))
            done.add(unit)

    for unit in sorted(edges):
        visit(unit, ())


def test_the_check_sees_an_upward_import() -> None:
    """The walk finds imports inside functions too: pgc.ir.verify's docstring names the
    driver, but no code of the IR layer imports it, while commands do."""
    found = _imports()
    assert any(a == "commands" and b == "pipeline" for a, b, _ in found)
    assert any(where.startswith("pgc/sim/engine.py") for _, _, where in found)


def test_the_runtime_imports_nothing_of_pgc() -> None:
    assert [where for a, _, where in _imports() if a == "runtime"] == []
    for path in (PGC / "runtime").rglob("*.py"):
        text = path.read_text()
        assert "import pgc" not in text and "from pgc" not in text, path


def test_the_readme_layout_names_every_runtime_module() -> None:
    """The README's architecture section shows the compiled folder's runtime, module by module."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("DIR/pgc_runtime/\n"):]
    layout = layout[: layout.index("```")]
    modules = {p.name for p in (PGC / "runtime").glob("*.py")} - {"__init__.py"}
    assert sorted(m for m in modules if f"{m} (" not in layout) == []
