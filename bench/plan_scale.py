"""Benchmark: planning cost as the world grows, up to 1,024 workers and 4,096 microbatches.

Synthetic ring specs (tests/planner/scale_specs.py: origin on 2 workers, 5 body stages, skip
1/3, one swap, two regions' speeds) are planned as `pgc compile` plans them (parse, lower,
place, route, order, verify, simulate). Two sweeps, each point measured in CPU seconds of this
process (the machine is shared; wall time would measure the neighbours):

- workers: explicit placement, one microbatch per worker, so the microbatch count grows with
  the world (W = 16 .. 1024 body and origin workers, M = W);
- microbatches: 16 workers, M = 64 .. 4096 (per_origin = M / 2);
- one spec with 20,000 declared but unused workers next to the same spec without them.

Run: `python bench/plan_scale.py [--quick]` (writes bench/results/plan_scale.json/.md).
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "planner"))

from scale_specs import ring_spec  # noqa: E402

from pgc.frontend import load_program  # noqa: E402
from pgc.pipeline import run_passes  # noqa: E402

WORKERS = (16, 64, 256, 1024)
MICROBATCHES = (64, 256, 1024, 4096)


def measure(text: str, folder: Path, name: str) -> dict[str, Any]:
    spec = folder / f"{name}.pgc"
    spec.write_text(text)
    cpu = time.process_time()
    program = run_passes(load_program(spec), until="simulated")
    cpu = time.process_time() - cpu
    assert program.prediction is not None
    return {"workers": len(program.workers), "microbatches": program.microbatches,
            "cpu_s": round(cpu, 3), "pipeline_s": round(program.prediction.pipeline_time, 3),
            "actions": sum(len(a) for _, a in program.actions)}


def main(quick: bool = False) -> None:
    rows: dict[str, list[dict[str, Any]]] = {"workers": [], "microbatches": [], "unused": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for w in WORKERS[:2] if quick else WORKERS:
            rows["workers"].append(measure(ring_spec(w + 2, per_origin=w // 2), folder, f"w{w}"))
            print(rows["workers"][-1], flush=True)
        for m in MICROBATCHES[:2] if quick else MICROBATCHES:
            rows["microbatches"].append(measure(ring_spec(17, per_origin=m // 2), folder, f"m{m}"))
            print(rows["microbatches"][-1], flush=True)
        for unused in (0, 20000):
            rows["unused"].append(measure(ring_spec(12, unused=unused), folder, f"u{unused}"))
            print(rows["unused"][-1], flush=True)
    result = {"python": platform.python_version(), "machine": platform.machine(), **rows}
    out = ROOT / "bench" / "results"
    (out / "plan_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Planning cost as the world grows (CPU seconds, `bench/plan_scale.py`)", "",
             "Ring: origin on 2 workers, 5 body stages with explicit placement, skip 1/3, one "
             "swap; planned as `pgc compile` plans it (through `simulated`).", "",
             "| sweep | workers | microbatches | actions | CPU s | predicted pipeline s |",
             "|---|---|---|---|---|---|"]
    for sweep, points in rows.items():
        for r in points:
            lines.append(f"| {sweep} | {r['workers']} | {r['microbatches']} | {r['actions']} | "
                         f"{r['cpu_s']} | {r['pipeline_s']} |")
    (out / "plan_scale.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
