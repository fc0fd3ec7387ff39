"""`pgc profile` against the FLOP model: each stage's share of measured CPU forward+backward
time next to its share of forward FLOPs, on bench/partition_profile.pgc (matrix products
dominate there). Passes when every share is within 25% of the FLOP model's.

Run: `OMP_NUM_THREADS=1 python bench/partition_profile_ratios.py`
(writes bench/results/partition_profile_ratios.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgc.commands.profile import measure  # noqa: E402
from pgc.frontend import load_program  # noqa: E402
from pgc.pipeline import run_passes  # noqa: E402

SPEC = ROOT / "bench/partition_profile.pgc"
TOLERANCE = 0.25


def main(repeat: int = 10) -> dict[str, object]:
    program = run_passes(load_program(SPEC), until="partitioned")
    args = argparse.Namespace(warmup=1, repeat=repeat, seed=0, file=str(SPEC))
    data = measure(program, args)
    segs = data["segments"]
    total_t = sum(s["fwd_time"] + s["bwd_time"] for s in segs.values())
    total_f = sum(s["flops"] for s in segs.values())
    rows = {}
    for name, s in segs.items():
        t_share = (s["fwd_time"] + s["bwd_time"]) / total_t
        f_share = s["flops"] / total_f
        rows[name] = {"fwd_ms": round(1e3 * s["fwd_time"], 2), "bwd_ms": round(1e3 * s["bwd_time"], 2),
                      "time_share": round(t_share, 4), "flop_share": round(f_share, 4),
                      "rel_error": round(abs(t_share / f_share - 1), 4)}
    worst = max(r["rel_error"] for r in rows.values())
    return {"spec": str(SPEC.relative_to(ROOT)), "threads": data["threads"], "stages": rows,
            "max_rel_error": worst, "tolerance": TOLERANCE, "ok": worst <= TOLERANCE}


if __name__ == "__main__":
    out = main()
    print(json.dumps(out, indent=2))
    (ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench/results/partition_profile_ratios.json").write_text(json.dumps(out, indent=2) + "\n")
    sys.exit(0 if out["ok"] else 1)
