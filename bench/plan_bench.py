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
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgc.passes import order, place, route, verify  # noqa: E402
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


def measure(name: str) -> dict[str, Any]:
    program = route.run(place.run(SHAPES[name]()))
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    program = order.run(program)
    times["order"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    verify.run(program)
    times["verify"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    costs = cost_table(program)
    result = simulate(program, costs)
    times["simulate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bound = lower_bound(program, costs)
    times["bound"] = time.perf_counter() - t0
    total = times["order"] + times["verify"] + times["simulate"]
    return {
        "shape": name,
        "workers": len(program.workers),
        "microbatches": program.microbatches,
        "actions": sum(len(a) for _, a in program.actions),
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "order_verify_simulate": round(total, 3),
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
            "note": "2 shared CPU cores; one process; wall-clock seconds"}
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["# plan core: order + verify + simulate, 256 workers x 1,024 microbatches", "",
             f"{meta['note']}; Python {meta['python']}.", "",
             "| shape | actions | order | verify | simulate | total (must be < 10 s) | bound |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["seconds"]
        lines.append(f"| {r['shape']} | {r['actions']:,} | {s['order']} | {s['verify']} | "
                     f"{s['simulate']} | **{r['order_verify_simulate']}** | {s['bound']} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
