"""Golden tests of `pgc plan` and `pgc compile --emit=ordered` on real spec files.

`PGC_ACCEPT=1 pytest tests/plan/test_golden.py` rewrites tests/golden/plan/ after a reviewed
change. The plan time (wall clock) is the only line masked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, check_golden, run_pgc

GOLDEN = ROOT / "tests" / "golden" / "plan"
SPECS = "tests/plan/specs"


def _golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


def _ok(*args: str) -> str:
    done = run_pgc(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("spec", ["synthetic_chain", "explicit_ring"])
def test_plan_table(spec: str) -> None:
    out = _ok("plan", f"{SPECS}/{spec}.pgc")
    assert re.search(r"^plan time: \d+\.\d{3} s$", out, re.M)
    _golden(f"{spec}.plan.txt", re.sub(r"(?m)^plan time: .*$", "plan time: <masked>", out))


def test_plan_explain() -> None:
    out = _ok("plan", f"{SPECS}/explicit_ring.pgc", "--explain")
    _golden("explicit_ring.explain.txt", re.sub(r"(?m)^plan time: .*$", "plan time: <masked>", out))
    assert "why this plan (objective: iteration time):" in out


def test_plan_json() -> None:
    report = json.loads(_ok("plan", f"{SPECS}/explicit_ring.pgc", "--json"))
    assert report["plan_time"] > 0
    report["plan_time"] = "<masked>"
    rows = {r["schedule"]: r for r in report["schedules"]}
    assert set(rows) == {"explicit (spec)", "gpipe", "1f1b"}
    for r in rows.values():  # every prediction stands next to a bound it respects
        assert r["lower_bound"] <= r["iteration_time"]
    # the critical path's parts add up to the iteration; the binding bounds are the largest
    cp = report["bottlenecks"]["critical_path"]
    spec_row = rows["explicit (spec)"]
    assert cp["compute"] + cp["messages"] + cp["allreduce"] + cp["waiting"] == \
        pytest.approx(spec_row["iteration_time"], rel=1e-9)
    bounds = report["bound"]
    assert report["bottlenecks"]["iteration"]["seconds"] == max(
        b["seconds"] for b in bounds.values())
    assert report["bottlenecks"]["pipeline"]["seconds"] == max(
        b["seconds"] for k, b in bounds.items() if k != "allreduce") == \
        spec_row["pipeline_lower_bound"]
    # placement (stage -> workers with region) and one path per microbatch, as the spec wrote
    assert report["placement"] == [
        {"stage": "origin", "workers": [{"name": "n0", "region": "east"},
                                        {"name": "n1", "region": "east"}]},
        {"stage": "s1", "workers": [{"name": "n2", "region": "west"}]},
        {"stage": "s2", "workers": [{"name": "n3", "region": "west"}]},
        {"stage": "s3", "workers": [{"name": "n4", "region": "west"}]}]
    assert [p["route"] for p in report["paths"]] == [
        "n0 -> s1@n2 -> s2@n3 -> n0", "n1 -> s2@n3 -> s3@n4 -> n1",
        "n0 -> s2@n3 -> s1@n2 -> n0", "n1 -> s1@n2 -> s3@n4 -> n1"]
    assert report["paths"][0]["hops"] == [["origin.pro", "n0"], ["s1", "n2"], ["s2", "n3"],
                                          ["origin.epi", "n0"]]
    _golden("explicit_ring.plan.json", json.dumps(report, indent=2) + "\n")


@pytest.mark.parametrize("spec", ["synthetic_chain", "explicit_ring"])
def test_emit_ordered(spec: str) -> None:
    out = _ok("compile", f"{SPECS}/{spec}.pgc", "--emit=ordered")
    assert out.startswith("// ----- after ordered -----\nProgram\n") and "\n  prediction: none\n" in out
    # the golden holds what routing and ordering add (paths, actions), so the earlier passes'
    # own goldens, not this one, follow their changes
    _golden(f"{spec}.ordered.txt", out[out.index("\n  paths:\n") + 1 :])


def test_gpipe_over_the_inflight_cap_is_a_located_error(tmp_path: Path) -> None:
    text = (ROOT / SPECS / "synthetic_chain.pgc").read_text().replace(
        "schedule 1f1b", "schedule gpipe").replace("inflight = 4", "inflight = 2")
    spec = tmp_path / "gpipe.pgc"
    spec.write_text(text)
    done = run_pgc("plan", str(spec))
    assert done.returncode == 2, done.stderr
    assert f"{spec}:10:1: error: `n0` at `F s0 m4` (action 4): would hold 3 microbatches; " \
           "inflight = 2" in done.stderr
    assert "hint: gpipe runs every forward first; use `schedule 1f1b` or inflight = 8" \
        in done.stderr
    assert "Traceback" not in done.stderr
