"""The measured side against the real runtime: compile chain4, train two steps under torchrun
with `--trace`, and build the report from those traces. Every action of the plan must be found
in the measurement by its id."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, pgc_env, run_pgc


@pytest.mark.torchrun
@pytest.mark.xdist_group("torchrun")
@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")
def test_report_aligns_a_real_traced_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_pgc("compile", str(ROOT / "examples/chain4.pgc"), "-o", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    trace = tmp_path / "trace"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
         str(out / "train.py"), "--steps", "2", "--trace", str(trace), "--timeout", "60"],
        cwd=out, env=pgc_env(), capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in trace.iterdir()) == ["n0.json", "n1.json", "n2.json", "n3.json"]
    report = tmp_path / "report.html"
    done = run_pgc("viz", str(ROOT / "examples/chain4.pgc"), "--what", "report", "-o",
                   str(report), "--measured", str(trace), timeout=300)
    assert done.returncode == 0, done.stderr
    html = report.read_text()
    m = re.search(r"<td>actions</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>"
                  r"<td>(\d+) matched, 0 only predicted, 0 only measured</td>", html)
    assert m is not None, "every predicted action is found in the measured last step"
    assert m.group(1) == m.group(2) == m.group(3)
    assert html.count("<svg") == 4  # graph, paths, predicted and measured timelines
