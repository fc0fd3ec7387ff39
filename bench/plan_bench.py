"""Benchmark: order + verify + simulate (+ bound) for 256 workers x 1,024 microbatches.

Must-show of the plan core: under 10 s. Three shapes of the same size, measured side by side:
- `chain16x16`: 16 stages x 16 replicas (aligned columns), textbook 1F1B;
- `hetero16x16`: the same with every other worker at half speed, so replicas get shares by
  speed (weighted round robin) and the order comes from greedy list scheduling;
- `chain256` (only with `--stress`): 256 stages, one worker each: 1.6 million actions, far
  beyond the 10 s target in pure Python (recorded separately when run).

Run: `python bench/plan_bench.py [--stress]` (writes bench/results/plan_bench[_stress].json/.md).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgc.pipeline import run_passes  # noqa: E402
from pgc.sim import lower_bound, simulate  # noqa: E402
from pgc.sim.cost import cost_table  # noqa: E402
from tests.plan.builders import chain  # noqa: E402

M = 1024
SHAPES = {
    "chain16x16": lambda: chain(16, M, replicas=16, latency=0.01, nbytes=4 * 2**20,
                                bandwidth=2**30, inflight=16),
    "hetero16x16": lambda: chain(16, M, replicas=16, latency=0.01, nbytes=4 * 2**20,
                                 bandwidth=2**30, inflight=16,
                                 rates=tuple(1e12 if k % 2 else 5e11 for k in range(256))),
    "chain256": lambda: chain(256, M, latency=0.001, inflight=256),
}


class Clock:
    """CPU seconds of this process (what the code costs) and wall seconds (what a user waits;
    inflated when other processes share the cores)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def __call__(self, phase: str, fn: Any, *args: Any) -> Any:
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn(*args)
        self.cpu[phase] = time.process_time() - c0
        self.wall[phase] = time.perf_counter() - w0
        return out


def measure(name: str) -> dict[str, Any]:
    def one(name: str) -> Any:  # one pass through the driver, timed without the IR checks
        return lambda p: run_passes(p, start=name, until=name, verify=False)

    program = run_passes(SHAPES[name](), start="placed", until="routed")
    clock = Clock()
    program = clock("order", one("ordered"), program)
    clock("verify", one("verified"), program)
    costs = cost_table(program)
    result = clock("simulate", simulate, program, costs)
    bound = clock("bound", lower_bound, program, costs)
    times = clock.cpu
    total = times["order"] + times["verify"] + times["simulate"]
    wall = clock.wall["order"] + clock.wall["verify"] + clock.wall["simulate"]
    return {
        "shape": name,
        "workers": len(program.workers),
        "microbatches": program.microbatches,
        "actions": sum(len(a) for _, a in program.actions),
        "cpu_seconds": {k: round(v, 3) for k, v in times.items()},
        "order_verify_simulate": round(total, 3),
        "order_verify_simulate_wall": round(wall, 3),
        "under_10s": total < 10.0,
        "iteration_time": result.iteration_time,
        "lower_bound": bound.total,
    }


def main() -> None:
    stress = "--stress" in sys.argv
    names = ["chain256"] if stress else ["chain16x16", "hetero16x16"]
    rows = [measure(name) for name in names]
    stem = "plan_bench_stress" if stress else "plan_bench"
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "note": "CPU seconds of one process on 2 CPU cores shared with other jobs"}
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["# plan core: order + verify + simulate, 256 workers x 1,024 microbatches", "",
             f"{meta['note']} (load average {meta['load_average']}); Python "
             f"{meta['python']}.", "",
             "| shape | actions | order | verify | simulate | total (must be < 10 s) | wall | "
             "bound | simulated / bound |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["cpu_seconds"]
        lines.append(f"| {r['shape']} | {r['actions']:,} | {s['order']} | {s['verify']} | "
                     f"{s['simulate']} | **{r['order_verify_simulate']}** | "
                     f"{r['order_verify_simulate_wall']} | {s['bound']} | "
                     f"{r['iteration_time'] / r['lower_bound']:.3f} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
