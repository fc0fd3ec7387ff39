"""`bench/gpu/run.sh --cpu`: the GPU check's steps, shrunk, on CPU processes (one worker
against a plain loop in fp32 and bf16, MFU, 4 workers sharing the device against CPU
processes, peak memory next to the plan's prediction, pgc 1f1b against torch's Schedule1F1B on 2
processes with the same weights and data)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]


def test_gpu_check_runs_on_cpu(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(["bash", str(ROOT / "bench" / "gpu" / "run.sh"), "--cpu", "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=480, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["device"] == "cpu"
    assert set(report["one_worker"]) == {"fp32", "bf16"}
    for row in report["one_worker"].values():
        assert row["pgc_tokens_per_s"] > 0 and row["plain_tokens_per_s"] > 0
        assert 0.2 < row["ratio"] < 5, row  # same work on both sides
    assert 0 < report["mfu"]["bf16"] < 1
    four = report["four_workers"]
    assert len(four["losses_device"]) == report["sizes"]["steps"]
    assert four["max_rel_diff"] == 0.0  # on the CPU both runs are CPU processes
    memory = report["memory"]["workers"]
    assert list(memory) == ["n0", "n1", "n2", "n3"]
    for m in memory.values():  # the shrunk model is a few MiB: only the report's shape holds
        assert m["predicted_bytes"] > 0 and m["measured_bytes"] > 0
        assert m["ratio"] == m["measured_bytes"] / m["predicted_bytes"]
    e = report["schedule1f1b"]  # 2 CPU processes over gloo at the shrunk sizes
    assert (e["workers"], e["backend"], e["cuts"]) == (2, "gloo", [[0, 1], [1, 2]])
    assert e["pgc_tokens_per_s"] > 0 and e["schedule1f1b_tokens_per_s"] > 0
    assert 0.1 < e["ratio"] < 10, e  # same work on both sides; a loaded machine is noisy
    assert len(e["losses_pgc"]) == len(e["losses_schedule1f1b"]) == report["sizes"]["steps"]
    # same initial weights and data: fp32 rounding apart, the same losses (measured: 6e-8)
    assert e["max_rel_loss_diff"] < 1e-5, e
    assert e["losses_pgc"][-1] < e["losses_pgc"][0]  # and both train
    seconds = report["seconds"]
    assert list(seconds) == ["a_one_worker", "b_mfu", "c_four_workers", "d_memory",
                             "e_schedule1f1b", "total"]
    assert 0 < sum(v for k, v in seconds.items() if k != "total") <= seconds["total"] < 480
    text = (tmp_path / "gpu_check.md").read_text()
    assert "| fp32 |" in text and "| n3 |" in text and "Wall seconds: a_one_worker" in text
    assert "| Schedule1F1B |" in text and "Ratio pgc / Schedule1F1B" in text
