"""Each rule has one implementation, and every place that applies it says the same thing.

The skip-ratio rule (k x S whole, docs/design.md §4) is `pgc.runtime.rules`: `pgc check` applies
it to a spec's `skip { ratio }` and `eval { skip }`, the planner and the `routed` pass to a
Program built without the frontend, the IR verifier to every Program, and a compiled folder's
`train.py --eval --skip-ratio` to its flag. The path policy (count, never-skip, order, swaps)
is `pgc.ir.policy.path_problem`: the frontend applies it to a spec's explicit paths, the
`routed` pass to the paths it checks.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from pgc.diagnostics import UserError
from pgc.frontend import check_file, load_program
from pgc.ir.policy import stages_visited
from pgc.ir.verify import VerifyError, verify_program
from pgc.passes.route import visits_required
from pgc.planner.routing import visits
from pgc.runtime.evaluate import whole_stage_count
from pgc.runtime.plan import PlanError
from pgc.runtime.rules import skip_ratio_hint, skip_ratio_problem
from tests.conftest import ROOT, run_pgc

RING = ROOT / "examples" / "skippipe_ring.pgc"  # 6 stages, skip ratio 1/3


def _spec(tmp_path: Path, old: str, new: str) -> Path:
    text = RING.read_text().replace('import "topologies/', f'import "{ROOT}/examples/topologies/')
    assert old in text
    spec = tmp_path / "ring.pgc"
    spec.write_text(text.replace(old, new))
    return spec


def test_skip_ratio_message_is_the_same_at_compile_time_and_run_time(tmp_path: Path) -> None:
    want = skip_ratio_problem(Fraction(1, 4), 6)
    assert want == "skip ratio 1/4 of 6 stages skips 1.5 stages, not a whole number"
    # compile time: the spec's skip policy and its eval ratios
    with pytest.raises(UserError) as spec_error:
        check_file(_spec(tmp_path, "ratio = 1/3", "ratio = 1/4"))
    (d,) = spec_error.value.diagnostics
    assert d.message == want and d.hint == skip_ratio_hint(6)
    with pytest.raises(UserError) as eval_error:
        check_file(_spec(tmp_path, "skip = [0, 1/3, 1/2]", "skip = [0, 1/4]"))
    assert [d.message for d in eval_error.value.diagnostics] == [f"eval {want}"]
    # the planner, the `routed` pass and the verifier on a Program that skipped the frontend
    program = replace(load_program(RING), skip=replace(load_program(RING).skip, ratio=(1, 4)))
    for check in (visits, visits_required, stages_visited):
        with pytest.raises(UserError) as info:
            check(program)
        assert info.value.diagnostics[0].message == want, check
    with pytest.raises(VerifyError, match=want):
        verify_program(program)
    # run time: the generated script's --skip-ratio, in-process and through the CLI message
    with pytest.raises(PlanError) as run_error:
        whole_stage_count("1/4", 6)
    assert str(run_error.value) == f"--skip-ratio 1/4: {want} ({skip_ratio_hint(6)})"


def test_path_policy_message_is_the_same_in_the_spec_and_in_the_routed_pass(tmp_path: Path) -> None:
    """A path out of stage order, written in the spec (frontend) and handed to the `routed`
    pass in a Program built directly: one message."""
    spec = tmp_path / "paths.pgc"
    spec.write_text((ROOT / "tests" / "plan" / "specs" / "explicit_ring.pgc").read_text())
    lowered = load_program(spec)
    first = lowered.explicit_paths[0]
    assert len(first.hops) >= 4
    # swap the middle hops of mb0 twice over: out of order for any swap policy
    hops = list(first.hops)
    bad_hops = (hops[0], hops[2], hops[1], *hops[3:])
    bad = replace(lowered, swap=replace(lowered.swap, max_swaps=0),
                  explicit_paths=(replace(first, hops=bad_hops), *lowered.explicit_paths[1:]))
    from pgc.pipeline import run_passes

    with pytest.raises(UserError) as routed:
        run_passes(bad, start="placed", until="routed")
    message = routed.value.diagnostics[0].message
    assert message.startswith("path of m0 ")
    text = spec.read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("path mb0"))
    parts = [p.strip() for p in line.split("=", 1)[1].split("->")]
    swapped = " -> ".join([parts[0], parts[2], parts[1], *parts[3:]])
    spec.write_text(text.replace(line, line.split("=", 1)[0] + "= " + swapped)
                    .replace("swap { max = 1 }", "swap { max = 0 }"))
    done = run_pgc("check", str(spec))
    assert done.returncode == 2 and f"error: {message}" in done.stderr, done.stderr
