"""`pgc compile`: IR dumps after any pass, printing between passes with verification, and the
files and launch line it writes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_pgc

CHAIN4 = str(ROOT / "examples" / "chain4.pgc")


def test_emit_prints_ir_after_a_pass_and_between_passes() -> None:
    r = run_pgc("compile", CHAIN4, "--emit=routed", "--print-between-passes", "--debug")
    assert r.returncode == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line.startswith("// ----- after")]
    assert heads == [f"// ----- after {p} -----" for p in
                     ("ir", "traced", "partitioned", "placed", "routed")]
    ir = run_pgc("compile", CHAIN4, "--emit=ir")
    assert ir.returncode == 0 and "chain4" in ir.stdout
    assert "after" not in ir.stdout


def test_compile_writes_script_plan_and_command(tmp_path: Path) -> None:
    r = run_pgc("compile", CHAIN4, "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert f"torchrun --nproc-per-node 4 {tmp_path / 'out' / 'train.py'}" in r.stdout
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    script = (tmp_path / "out" / "train.py").read_text()
    assert plan["world_size"] == 4 and plan["spec_hash"] in script
    assert "class Stage_s0(torch.nn.Module):" in script


def test_bad_spec_is_a_diagnostic(tmp_path: Path) -> None:
    spec = tmp_path / "bad.pgc"
    spec.write_text(Path(CHAIN4).read_text().replace("place s3 on n3", "place s3 on n9"))
    r = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "bad.pgc:" in r.stderr and "Traceback" not in r.stderr
