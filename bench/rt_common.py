"""Shared plumbing of the runtime benchmarks (bench/runtime_*.py): compile a spec with
`python -m pgc compile`, launch a script under torchrun, read the JSON-lines log the generated
script writes, and record results with a note on the machine's load.

The benchmarks run from the checkout root without installing pgc (PYTHONPATH = the checkout),
with OMP_NUM_THREADS=1 so that every worker process uses one core.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SPECS = ROOT / "bench" / "specs"


def env() -> dict[str, str]:
    """The environment of every subprocess: this checkout importable, one thread per process."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out["OMP_NUM_THREADS"] = "1"
    return out


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 900) -> str:
    """Run `cmd`, fail loudly with its output tail if it fails; return its stdout."""
    r = subprocess.run(cmd, cwd=cwd or ROOT, env=env(), capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        # torchrun's own report fills the tail; the workers' errors are the useful part
        errors = [ln for ln in r.stderr.splitlines() if "Error" in ln or "pgc:" in ln]
        raise SystemExit(f"failed ({r.returncode}): {shown(cmd)}\n{r.stdout[-2000:]}\n"
                         + "\n".join(errors[:20]))
    return r.stdout


def compile_spec(spec: Path, out: Path) -> dict[str, Any]:
    """`python -m pgc compile SPEC -o OUT`; returns the plan.json it wrote."""
    run([sys.executable, "-m", "pgc", "compile", str(spec), "-o", str(out)])
    plan: dict[str, Any] = json.loads((out / "plan.json").read_text())
    return plan


def torchrun_cmd(script: Path, nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            str(nproc), str(script), *args]


def shown(cmd: list[str]) -> str:
    """A command line as a user would type it (`torchrun ...`, `python ...`)."""
    if cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]:
        cmd = ["torchrun", *cmd[3:]]
    return " ".join("python" if c == sys.executable else c for c in cmd)


def torchrun(script: Path, nproc: int, *args: str, timeout: float = 900) -> str:
    """Launch `script` on `nproc` local processes (gloo on CPU); its working directory is the
    script's own, so relative log files land next to it."""
    return run(torchrun_cmd(script, nproc, *args), cwd=script.parent, timeout=timeout)


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished children. Under a
    noisy load, CPU time per run is a steadier measure of work done than wall time."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def median(xs: list[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def machine() -> dict[str, Any]:
    """What the numbers were measured on. The machine is shared by several engineers (2 cores),
    so the load average before and after is part of every result."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
    }


LOAD_NOTE = (
    "Measured on a shared 2-core machine that other engineers' tests and benchmarks load at the "
    "same time (load averages below), so absolute numbers are noisy; the compared runs are "
    "interleaved in one invocation so that both sides see the same load."
)


def write_results(name: str, data: dict[str, Any], markdown: list[str]) -> None:
    """bench/results/NAME.json and NAME.md; also prints the markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    text = "\n".join(markdown) + "\n"
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
