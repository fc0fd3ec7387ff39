"""A plan with explicit skip and swap paths runs to the end on real torchrun and gloo.

The spec is tests/plan/specs/explicit_ring.pgc with its synthetic cost block removed, so the
real model is captured and every worker builds its stage. Two origins, one microbatch swapping
two stages, every microbatch skipping one: the verifier's deadlock-freedom claim meets the
real rendezvous transport.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pgc.runtime.schema import validate_plan
from tests.conftest import ROOT, pgc_env, run_pgc


@pytest.mark.torchrun
@pytest.mark.xdist_group("torchrun")
def test_explicit_skip_and_swap_paths_train_under_torchrun(tmp_path: Path) -> None:
    text = (ROOT / "tests/plan/specs/explicit_ring.pgc").read_text()
    text = re.sub(r"cost \{ seconds_per_sample_per_layer = [^;]*; ", "cost { ", text)
    spec = tmp_path / "ring.pgc"
    spec.write_text(text)
    out = tmp_path / "out"
    done = run_pgc("compile", str(spec), "-o", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    plan = json.loads((out / "plan.json").read_text())
    validate_plan(plan)  # what `pgc compile` wrote matches the schema
    hops = {p["mb"]: [w for _, w in p["hops"]] for p in plan["paths"]}
    assert hops[2] == ["n0", "n3", "n2", "n0"]  # the swapped path survived compilation
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "5",
         str(out / "train.py"), "--steps", "2", "--timeout", "60"],
        cwd=out, env=pgc_env(), capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"step\s+\d+/2\s+loss (\S+)", run.stdout)]
    assert len(losses) == 2, run.stdout
    assert all(0 < x < 100 for x in losses)  # finite, not NaN
