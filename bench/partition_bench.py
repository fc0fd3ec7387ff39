"""Automatic-partition benchmark: 96 blocks into 16 stages over three speed classes with
memory limits that bind (pgc.passes.partition, chain DP of docs/design.md §8 "Partitioning").

Checks, side by side in one run:
* the chain DP against bisection (independent algorithm) on the big instance;
* the DP against brute force on 300 random instances of up to 10 blocks;
* that memory binds (the unconstrained optimum does not fit);
* the DP's wall time (must stay under 1 s).

Run: `python bench/partition_bench.py` (writes bench/results/partition_bench.json).
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgc.passes.partition import (  # noqa: E402
    INF,
    ChainProblem,
    bisect_partition,
    bottleneck,
    brute_force,
    chain_partition,
)

GIB = 1024**3


def big_instance() -> ChainProblem:
    """Llama-like blocks (an MoE-ish heavy block every 4th), 16 stages: 4 fast / 24 GiB,
    6 medium / 80 GiB, 6 slow / 16 GiB (TFLOP/s: 160, 100, 40), in a fixed chain order."""
    rng = random.Random(7)
    flops = [(3.0 if i % 4 == 3 else 1.0) * rng.uniform(0.9, 1.1) * 1e12 for i in range(96)]
    memory = [(6.0 if i % 4 == 3 else 2.5) * GIB for i in range(96)]
    kinds = ["fast"] * 4 + ["medium"] * 6 + ["slow"] * 6
    rng.shuffle(kinds)
    speed = {"fast": 160e12, "medium": 100e12, "slow": 40e12}
    cap = {"fast": 24 * GIB, "medium": 80 * GIB, "slow": 16 * GIB}
    return ChainProblem(tuple(flops), tuple(memory), tuple(speed[k] for k in kinds),
                        tuple(cap[k] for k in kinds))


def random_small(rng: random.Random) -> ChainProblem:
    n = rng.randint(1, 10)
    s = rng.randint(1, min(n, 6))
    return ChainProblem(
        tuple(float(rng.randint(1, 30)) for _ in range(n)),
        tuple(float(rng.randint(1, 6)) for _ in range(n)),
        tuple(float(rng.choice([1, 2, 5])) for _ in range(s)),
        tuple(float(rng.randint(3, 25)) for _ in range(s)),
    )


def main() -> dict[str, object]:
    p = big_instance()
    t0 = time.perf_counter()
    cost, cuts = chain_partition(p)
    dp_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bis_cost, _ = bisect_partition(p)
    bis_s = time.perf_counter() - t0
    free_cost, free_cuts = chain_partition(replace(p, capacity=(INF,) * len(p.speeds)))
    rng = random.Random(0)
    small = [random_small(rng) for _ in range(300)]
    mismatches = sum(chain_partition(q)[0] != brute_force(q)[0] for q in small)
    result = {
        "instance": "96 blocks -> 16 stages, speed classes 160/100/40 TFLOP/s, memory 24/80/16 GiB",
        "bottleneck_s": cost,
        "cuts": list(cuts),
        "dp_seconds": round(dp_s, 4),
        "bisection_bottleneck_s": bis_cost,
        "bisection_seconds": round(bis_s, 4),
        "dp_equals_bisection": abs(bis_cost - cost) <= 1e-9 * cost,
        "unconstrained_bottleneck_s": free_cost,
        "memory_binds": bottleneck(p, free_cuts) == INF and cost > free_cost,
        "brute_force_instances": len(small),
        "brute_force_mismatches": mismatches,
    }
    assert result["dp_equals_bisection"] and result["memory_binds"] and mismatches == 0
    assert dp_s < 1.0, f"DP took {dp_s:.2f} s"
    return result


if __name__ == "__main__":
    out = main()
    print(json.dumps(out, indent=2))
    (ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench/results/partition_bench.json").write_text(json.dumps(out, indent=2) + "\n")
