"""Golden files for the frontend's textual outputs: IR dumps, AST dump, rendered diagnostics.
`PGC_ACCEPT=1 pytest tests/frontend/test_golden.py` rewrites them after a reviewed change."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import check_golden as golden

from pgc.diagnostics import UserError
from pgc.frontend import check_file, format_ast, load_program, parse_file
from pgc.ir.printer import print_program
from pgc.ir.types import Action, Hop, MemoryEstimate, Prediction
from pgc.ir.types import Path as IRPath

GOLDEN = ROOT / "tests" / "golden" / "frontend"


def check_golden(name: str, text: str) -> None:
    golden(GOLDEN / name, text)


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # file names in the dumps are relative to the checkout


@pytest.mark.parametrize("spec", ["chain4", "skippipe_ring", "skippipe_geo20"])
def test_ir_dump(spec: str) -> None:
    check_golden(f"{spec}.ir.txt", print_program(load_program(f"examples/{spec}.pgc")))


def test_ast_dump() -> None:
    module = parse_file("examples/chain4.pgc")
    check_golden("chain4.ast.txt", format_ast(module))


def test_dump_prints_later_pass_fields_generically() -> None:
    p = load_program("examples/chain4.pgc")
    hops = tuple(Hop(f"s{i}", f"n{i}") for i in range(4))
    p = replace(
        p,
        paths=tuple(IRPath(m, "n0", hops) for m in range(p.microbatches)),
        actions=(("n0", (Action("F", "s0", 0), Action("SEND_F", mb=0, peer="n1"), Action("STEP"))),),
        prediction=Prediction(2.5, 3.0, 2.0, 1.5, busy=(("n0", 1.25),), memory=(("n0", MemoryEstimate(1.0, 1.0, 2.0, 0.5)),)),
    )
    check_golden("chain4.later.txt", print_program(p))


def test_rendered_diagnostics(tmp_path: Path) -> None:
    spec = Path("examples/chain4.pgc").read_text().replace("inflight = 4", "inflite = 4\n  schedule onef1b")
    bad = tmp_path / "chain4.pgc"
    bad.write_text(spec)
    with pytest.raises(UserError) as info:
        check_file(bad)
    check_golden("chain4.errors.txt", info.value.render().replace(str(tmp_path) + "/", ""))
