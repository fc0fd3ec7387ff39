"""A case neither paper covers: the eight DT-FM world regions x {H100, A100, RTX 4090, T4}
(32 workers), ring of 8 stages x 4 replicas; skip (1/4) and full plans from pgc, with the load
each worker carries next to its speed. One run.

Run: PYTHONPATH=. python bench/planner/bench_hetero.py   Writes bench/results/planner_hetero.*
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from bench.planner.common import Planned, plan, table, verdict_dict, write
from bench.planner.scenarios import hetero_world
from pgc.ir.types import Program


def loads(program: Program) -> list[dict[str, object]]:
    """Per worker: microbatch visits, compute seconds routed to it, its speed."""
    visits = Counter(h.worker for p in program.paths for h in p.hops)
    top = max(w.rate for w in program.workers)
    out = []
    for stage, group in program.placement:
        for w in group:
            worker = program.worker(w)
            out.append({"stage": stage, "worker": w, "gpu": w.split("_")[1],
                        "speed": round(worker.rate / top, 3), "visits": visits[w]})
    return out


def share_correlation(rows: list[dict[str, object]]) -> float:
    """Pearson correlation, over body-stage workers, of the share of its group's visits a
    worker takes and its share of the group's speed (1 = load exactly proportional)."""
    xs, ys = [], []
    for stage in {r["stage"] for r in rows} - {"origin"}:
        group = [r for r in rows if r["stage"] == stage]
        total_v = sum(int(r["visits"]) for r in group) or 1  # type: ignore[call-overload]
        total_s = sum(float(r["speed"]) for r in group)  # type: ignore[arg-type]
        xs += [float(r["speed"]) / total_s for r in group]  # type: ignore[arg-type]
        ys += [int(r["visits"]) / total_v for r in group]  # type: ignore[call-overload]
    return float(np.corrcoef(xs, ys)[0, 1]) if len(set(ys)) > 1 else 0.0


def main() -> None:
    runs: dict[str, Planned] = {"skip 1/4": plan(hetero_world()),
                                "full": plan(hetero_world(skip=(0, 1)))}
    payload: dict[str, object] = {}
    md = "# Heterogeneous world: 8 DT-FM regions x {H100, A100, RTX 4090, T4}\n\n"
    for name, p in runs.items():
        rows = loads(p.program)
        corr = share_correlation(rows)
        payload[name] = {"plan_s": round(p.seconds, 2), **verdict_dict(p.verdict),
                         "load": rows, "visit_share_vs_speed_share_corr": round(corr, 3),
                         "notes": list(p.program.notes)}
        md += (f"## {name}: pipeline {p.verdict.pipeline:.2f} s, iteration "
               f"{p.verdict.iteration:.2f} s, bound {p.verdict.bound:.2f} s, plan time "
               f"{p.seconds:.2f} s; correlation of visit share and speed share within each "
               f"body group: {corr:.2f}\n\n"
               + table(["stage", "worker", "gpu", "speed", "microbatch visits"],
                       [[r["stage"], r["worker"], r["gpu"], r["speed"], r["visits"]]
                        for r in rows]) + "\n")
    write("hetero", payload, md)


if __name__ == "__main__":
    main()
