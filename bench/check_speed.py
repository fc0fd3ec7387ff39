"""Whole-process wall time of `pgc check` on a generated 200-worker, 64-stage spec.

Writes bench/results/check_speed.json and .md; target: median of 5 runs under 0.5 s.
Run from the checkout root: `python bench/check_speed.py`.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REGIONS = ("AU", "BE", "CA", "DE", "IA", "JP", "LA", "NL", "OR", "SG", "TW", "UK")
WORKERS, STAGES, REPLICAS, RUNS, TARGET = 200, 64, 3, 5, 0.5


def generate_spec(one_line_per_worker: bool = False) -> str:
    """200 workers over 12 regions (two GPU kinds per region, every region pair linked), a
    64-stage chain of a 64-layer model, 3 replicas per stage placed explicitly, 1F1B. Workers
    are written as name ranges, or (`one_line_per_worker`) one `node` line each."""
    lines = ['model big = "examples.models.llama:build" { layers = 64; dim = 64; heads = 4 }', ""]
    start = 0
    for r, region in enumerate(REGIONS):
        size = WORKERS // len(REGIONS) + (1 if r < WORKERS % len(REGIONS) else 0)
        half = size // 2
        for lo, hi, rate, mem in ((start, start + half - 1, 312, 40), (start + half, start + size - 1, 989, 80)):
            props = f'{{ rate = {rate} TFLOPS; memory = {mem} GiB; region = "{region}" }}'
            names = [f"n{i}" for i in range(lo, hi + 1)] if one_line_per_worker else [f"n[{lo}..{hi}]"]
            lines += [f"node {name} {props}" for name in names]
        start += size
    assert start == WORKERS
    lines.append("link intra { latency = 1 ms; bandwidth = 10 Gbps }")
    for a in range(len(REGIONS)):
        for b in range(a + 1, len(REGIONS)):
            lines.append(f"link region {REGIONS[a]} <-> {REGIONS[b]} {{ latency = {10 + a + b} ms; bandwidth = {100 + 10 * a} Mbps }}")
    sels = [f"layers[{i}:{i + 1}]" for i in range(STAGES)]
    sels[0], sels[-1] = f"[embed, {sels[0]}]", f"[{sels[-1]}, norm, head]"
    lines += ["", "pipeline big {", "  model = big", "  layout = chain", f"  stages s[0..{STAGES - 1}] = ["]
    lines += [f"    {s}," for s in sels]
    lines += ["  ]", f"  place s[0..{STAGES - 1}] on n[0..{STAGES * REPLICAS - 1}]"]
    lines += ["  microbatch { size = 4; seq = 512; count = 256 }", "  inflight = 8", "  schedule 1f1b", "}"]
    return "\n".join(lines) + "\n"


def time_check(spec: Path, pycache: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of `python -m pgc check SPEC`. Bytecode goes to a private cache (written by
    a warm-up run), as it would be for an installed package; the warm-up also writes lark's
    table cache and warms the OS file cache."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "pgc", "check", str(spec)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def python_startup() -> float:
    """Median wall time of a bare `python -c pass`, for context (same machine, same run)."""
    runs = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def measure(spec: Path, pycache: Path) -> dict[str, object]:
    walls, cpus = time_check(spec, pycache)
    return {
        "bytes": spec.stat().st_size,
        "runs_s": [round(t, 4) for t in walls],
        "median_s": round(statistics.median(walls), 4),
        "cpu_runs_s": [round(t, 4) for t in cpus],
        "cpu_median_s": round(statistics.median(cpus), 4),
    }


def main() -> int:
    variants = {"name ranges (24 node lines)": False, "one node line per worker": True}
    measured: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, per_worker in variants.items():  # measured side by side in one run
            spec = Path(tmp) / f"big_{int(per_worker)}.pgc"
            spec.write_text(generate_spec(per_worker))
            measured[label] = measure(spec, Path(tmp) / "pycache")
    headline = measured["name ranges (24 node lines)"]
    result = {
        "bench": "pgc check, whole process",
        "spec": {"workers": WORKERS, "stages": STAGES, "link_rules": 1 + len(REGIONS) * (len(REGIONS) - 1) // 2},
        "variants": measured,
        "median_s": headline["median_s"],
        "python_startup_s": round(python_startup(), 4),
        "target_s": TARGET,
        "meets_target": all(float(m["median_s"]) < TARGET for m in measured.values()),  # type: ignore[arg-type]
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "check_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "".join(
        f"| {label} | {m['bytes']} | {float(m['median_s']):.3f} s | {', '.join(f'{t:.3f}' for t in m['runs_s'])} "  # type: ignore[arg-type, attr-defined]
        f"| {float(m['cpu_median_s']):.3f} s |\n"  # type: ignore[arg-type]
        for label, m in measured.items()
    )
    (RESULTS / "check_speed.md").write_text(
        "# pgc check speed\n\n"
        f"Generated spec (`bench/check_speed.py`): {WORKERS} workers, {STAGES} stages, "
        f"{result['spec']['link_rules']} link rules (every region pair). Whole-process wall time of "
        f"`python -m pgc check`, {RUNS} runs each after a warm-up (bytecode and lark's table cache "
        f"written); target: median under {TARGET} s.\n\n"
        "| workers written as | bytes | median wall | runs | median CPU (user+sys) |\n|---|---|---|---|---|\n"
        f"{rows}\n"
        f"Python start-up alone: {result['python_startup_s']:.3f} s. Machine: {result['machine']}; load "
        f"average at the end {result['load_average']} (a shared machine: wall time grows with the load, "
        "CPU time much less).\n"
    )
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
