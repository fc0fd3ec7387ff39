"""A compiled folder is portable and fails legibly: it trains after being moved (with its
project, or alone given the import root), refuses clearly when the model cannot be found, and
an exception inside one stage's forward ends every rank with one line naming where it
happened. Real `pgc compile`, real torchrun over gloo."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, check_golden, pgc_env, run_pgc
from tests.runtime.reference import read_log

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]

SPECS = Path(__file__).parent / "specs"
TEMPLATE_LINES = 3273  # train.py of examples/chain4.pgc when the runtime was one template


def bare_env(**extra: str) -> dict[str, str]:
    """The environment of a user without this checkout on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    return {**env, **extra}


def torchrun(script: Path, nproc: int, *args: str, env: dict[str, str], cwd: Path,
             timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           str(nproc), str(script), "--quiet", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_train_py_golden_and_size(tmp_path: Path) -> None:
    out = tmp_path / "c4"
    r = run_pgc("compile", str(ROOT / "examples" / "chain4.pgc"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = (out / "train.py").read_text()
    check_golden(ROOT / "tests" / "golden" / "runtime" / "chain4_train.py", text)
    assert len(text.splitlines()) <= TEMPLATE_LINES // 2
    # the README gives the generated script's length
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"`tests/golden/runtime/chain4_train.py`, {len(text.splitlines())} lines" in readme
    assert_no_machine_path(out, ROOT, tmp_path)


def assert_no_machine_path(out: Path, *paths: Path) -> None:
    """No file of the compiled folder (train.py, plan.json, the runtime's copy) names a
    folder of the compiling machine."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {"train.py", "plan.json"} <= {f.name for f in files} and len(files) > 10
    for f in files:
        body = f.read_text()
        assert not [str(p) for p in paths if str(p) in body], f


def test_moved_folder_trains(tmp_path: Path) -> None:
    # a user's project: the model package and the spec; the compiled folder inside it
    project = tmp_path / "project"
    (project / "mymodels").mkdir(parents=True)
    (project / "mymodels" / "__init__.py").touch()
    shutil.copy(ROOT / "examples" / "models" / "llama.py", project / "mymodels" / "llama.py")
    spec = (ROOT / "examples" / "chain4.pgc").read_text()
    (project / "chain4.pgc").write_text(spec.replace("examples.models.llama", "mymodels.llama"))
    r = run_pgc("compile", str(project / "chain4.pgc"), "-o", str(project / "build" / "c4"))
    assert r.returncode == 0, r.stderr
    assert_no_machine_path(project / "build" / "c4", project, ROOT)
    plan = json.loads((project / "build" / "c4" / "plan.json").read_text())
    assert plan["runtime"]["import_root"] == "../.."  # the project, from the folder
    moved = tmp_path / "elsewhere" / "copy"
    shutil.move(str(project), str(moved))
    script = moved / "build" / "c4" / "train.py"
    r = torchrun(script, 4, "--steps", "2", "--log-file", "moved.jsonl", env=bare_env(),
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [rec["step"] for rec in read_log(tmp_path / "moved.jsonl")] == [1, 2]
    # the folder alone, on a host where the model lives somewhere else
    alone = tmp_path / "alone"
    shutil.copytree(moved / "build" / "c4", alone)
    bad = subprocess.run([sys.executable, str(alone / "train.py")], cwd=tmp_path,
                         env=bare_env(), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert "cannot find the model module `mymodels.llama`" in bad.stderr
    assert "--import-root DIR or PGC_IMPORT_ROOT=DIR" in bad.stderr
    r = torchrun(alone / "train.py", 4, "--steps", "1", "--log-file", "alone.jsonl",
                 env=bare_env(PGC_IMPORT_ROOT=str(moved)), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert read_log(tmp_path / "alone.jsonl")[0]["loss"] == read_log(tmp_path / "moved.jsonl")[0]["loss"]


def test_an_exception_in_a_stage_ends_every_rank_naming_where(tmp_path: Path) -> None:
    out = tmp_path / "fault"
    r = run_pgc("compile", str(SPECS / "fault_chain.pgc"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    # n2 runs block 2 once per microbatch forward: its 10th call is step 2's microbatch 1
    stamp = tmp_path / "fault_time"
    r = torchrun(out / "train.py", 4, "--timeout", "120",
                 env=pgc_env() | {"PGC_TEST_FAULT_AT": "10", "PGC_TEST_FAULT_STAMP": str(stamp)},
                 cwd=out)
    elapsed = time.time() - float(stamp.read_text())
    assert r.returncode != 0
    # every rank ends on the failure's report, long before the 120 s wait timeout could fire
    assert elapsed < 60, f"the job took {elapsed:.0f} s to end after the fault"
    line = re.search(r"pgc: error: worker n2 \(rank 2\), step 2, action \d+ `F s2 m1` "
                     r"\(microbatch 1, segment s2 of stage s2\): RuntimeError: injected fault "
                     r"at call 10", r.stderr)
    assert line, r.stderr[-3000:]
    assert "fault_model.py" in r.stderr[line.end():]  # the original traceback follows
