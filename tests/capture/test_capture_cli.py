"""`pgc profile`: the stage table (golden), measured times, and its profile file feeding
`cost { profile = ... }` back into the compiler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, check_golden, run_pgc

from pgc.capture.pass_capture import PASS as TRACED
from pgc.cli import main
from pgc.frontend import load_program
from pgc.passes.partition import PASS as PARTITIONED

GOLDEN = ROOT / "tests/golden/capture"
SPECS = {
    "chain4": "examples/chain4.pgc",
    "ring": "examples/skippipe_ring.pgc",
    "gpt2_tied": "tests/capture/specs/gpt2_tied.pgc",
}


def _golden(name: str, text: str) -> None:
    check_golden(GOLDEN / f"{name}.txt", text)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_stage_table_golden(name: str, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["profile", SPECS[name], "--no-measure"]) == 0
    _golden(f"{name}_stage_table", capsys.readouterr().out)


def test_stage_table_shows_shared_groups() -> None:
    text = (GOLDEN / "gpt2_tied_stage_table.txt").read_text()
    assert "shared parameters\n  wte.weight: s0, s2\n" in text


def test_profile_measures_and_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    prof = tmp_path / "ring.profile.json"
    assert main(["profile", "examples/skippipe_ring.pgc", "-o", str(prof), "--repeat", "2"]) == 0
    assert "fwd ms" in capsys.readouterr().out
    data = json.loads(prof.read_text())
    assert data["version"] == 1
    assert set(data["segments"]) == {"origin.pro", "s1", "s2", "s3", "s4", "s5", "origin.epi"}
    assert sorted(data["blocks"]) == sorted(f"layers.{i}" for i in range(2, 12))
    assert all(b["fwd_time"] > 0 and b["bwd_time"] > 0 for b in data["blocks"].values())
    spec = (ROOT / "examples/skippipe_ring.pgc").read_text().replace(
        "cost { backward = 2x;", f'cost {{ profile = "{prof.name}"; backward = 2x;')
    spec = spec.replace('import "topologies/local7.pgc"',
                        f'import "{ROOT / "examples/topologies/local7.pgc"}"')
    (tmp_path / "ring.pgc").write_text(spec)
    program = PARTITIONED(TRACED(load_program(tmp_path / "ring.pgc")))
    assert program.segment("origin.pro").fwd_time == data["segments"]["origin.pro"]["fwd_time"]
    assert all(program.segment(f"s{i}").fwd_time for i in range(1, 6))
    assert program.notes[-1].startswith("partitioned ('layers[2:12]',) into 5 stages by flops")


def test_profile_reports_user_errors_with_exit_2(tmp_path: Path) -> None:
    """The real command line: a spec/model mismatch is a diagnostic and exit code 2."""
    spec = (ROOT / SPECS["gpt2_tied"]).read_text().replace("[ln_f, lm_head]", "[lm_head]")
    (tmp_path / "bad.pgc").write_text(spec)
    out = run_pgc("profile", str(tmp_path / "bad.pgc"), "--no-measure")
    assert out.returncode == 2
    assert "error: module `ln_f` (parameter `ln_f.weight`) is not selected by any stage" in out.stderr


@pytest.mark.parametrize("name", ["gpt2_tied", "ring"])
def test_emit_traced_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The IR after `traced` (what `pgc compile FILE --emit=traced` prints): per segment its
    parameters, FLOPs, boundary signatures, skippability; shared groups; block profiles."""

    from pgc.ir.printer import print_program
    from pgc.pipeline import run_passes

    monkeypatch.chdir(ROOT)
    program = run_passes(load_program(SPECS[name]), until="traced")
    text = print_program(program).replace(str(ROOT), "<root>")
    _golden(f"{name}_traced", text)
    out = run_pgc("compile", SPECS[name], "--emit=traced")
    assert out.returncode == 0, out.stderr
    assert out.stdout.replace(str(ROOT), "<root>").strip() == "// ----- after traced -----\n" + text.strip()
