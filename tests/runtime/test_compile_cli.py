"""`pgc compile`: IR dumps after any pass, printing between passes with verification, and the
files and launch line it writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_pgc
from tests.runtime.reference import load_script

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


def test_script_refuses_a_stale_plan_json_and_fractional_skip_counts(tmp_path: Path) -> None:
    """train.py compares its embedded plan with the plan.json beside it (plan.json calls the
    schema version `version`), and `--skip-ratio` must give whole stages (DESIGN.md §4)."""
    out = tmp_path / "out"
    assert run_pgc("compile", CHAIN4, "-o", str(out)).returncode == 0
    mod = load_script(out / "train.py")
    mod.check_plan(4)  # the plan.json written with it agrees
    plan = json.loads((out / "plan.json").read_text())
    for key, value in (("version", 999), ("spec_hash", "0" * 64)):
        (out / "plan.json").write_text(json.dumps({**plan, key: value}))
        with pytest.raises(mod.PlanError, match=f"{key} {value!r} differs from the embedded"):
            mod.check_plan(4)
    ratio = argparse.Namespace(skip_stages="", skip_ratio="1/3")
    with pytest.raises(mod.PlanError, match="1/3 of 4 stages is 1.33333 stages, not a whole"):
        mod.skipped_stages(ratio, 0)
    with pytest.raises(mod.PlanError, match="not a fraction"):
        mod.skipped_stages(argparse.Namespace(skip_stages="", skip_ratio="half"), 0)


def test_bad_spec_is_a_diagnostic(tmp_path: Path) -> None:
    spec = tmp_path / "bad.pgc"
    spec.write_text(Path(CHAIN4).read_text().replace("place s3 on n3", "place s3 on n9"))
    r = run_pgc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "bad.pgc:" in r.stderr and "Traceback" not in r.stderr
