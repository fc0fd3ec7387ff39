"""Rehearsal benchmark (issue 5, bench b): a SkipPipe plan against its full-pipeline plan on a
time-scaled geo topology, run for real under torchrun with --emulate-network --emulate-compute,
and each measured iteration time against the simulator's prediction (target: within 10%).

    python bench/runtime_emulate.py [--steps 6] [--time-scale 0.5]

Writes bench/results/runtime_emulate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"skip": ROOT / "bench/specs/geo_skip.pgc", "full": ROOT / "bench/specs/geo_full.pgc"}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def measure(spec: Path, work: Path, steps: int, scale: float) -> dict[str, float]:
    out = work / spec.stem
    subprocess.run([sys.executable, "-m", "pgc", "compile", str(spec), "-o", str(out)],
                   check=True, env=env(), capture_output=True)
    plan = json.loads((out / "plan.json").read_text())
    nproc = plan["world_size"]
    subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         str(nproc), str(out / "train.py"), "--quiet", "--steps", str(steps), "--emulate-network",
         "--emulate-compute", "--time-scale", str(scale), "--log-file", "log.jsonl"],
        check=True, env=env(), cwd=out, capture_output=True,
    )
    times = [json.loads(line)["time"] for line in (out / "log.jsonl").read_text().splitlines()]
    measured = sum(times[1:]) / len(times[1:]) / scale  # first step warms up; back to spec time
    predicted = plan["prediction"]["iteration_time"]
    return {"workers": nproc, "measured_s": measured, "predicted_s": predicted,
            "error": measured / predicted - 1.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--time-scale", type=float, default=0.5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {k: measure(spec, Path(tmp), args.steps, args.time_scale) for k, spec in SPECS.items()}
    result = {
        "time_scale": args.time_scale,
        "steps": args.steps,
        "plans": rows,
        "skip_over_full_measured": rows["skip"]["measured_s"] / rows["full"]["measured_s"],
        "skip_over_full_predicted": rows["skip"]["predicted_s"] / rows["full"]["predicted_s"],
        "within_10pct": all(abs(r["error"]) <= 0.10 for r in rows.values()),
    }
    for k, r in rows.items():
        print(f"{k:5} measured {r['measured_s']:.3f} s  predicted {r['predicted_s']:.3f} s  "
              f"error {r['error']:+.1%}")
    print(f"skip / full: measured {result['skip_over_full_measured']:.3f}, "
          f"predicted {result['skip_over_full_predicted']:.3f}")
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/runtime_emulate.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
