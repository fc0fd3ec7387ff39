"""Plan time and plan quality from 16 to 256 workers (geo regions, ring of 8 stages, 1/4 skip),
and the plan time of DT-FM's 64-worker world-wide case; one run.

Quality: the simulated pipeline phase against its lower bound (same placement and paths), and
against plancore's 1F1B full pipeline (round-robin replicas) on the same placement.
Run: PYTHONPATH=. python bench/planner/bench_scaling.py   Writes bench/results/planner_scaling.*
"""

from __future__ import annotations

from dataclasses import replace

from bench.planner.common import plan, table, verdict_dict, write
from pgc.passes.route import full_paths
from pgc.planner.judge import judge
from pgc.planner.routing import lower_bound, problem_of
from tests.planner.scenarios import dtfm, scaled_geo

SIZES = (16, 32, 64, 128, 256)


def main() -> None:
    rows, payload = [], {}
    for n in SIZES:
        planned = plan(scaled_geo(n))
        placed = planned.program
        one_f_one_b = replace(placed, schedule="1f1b", skip=replace(placed.skip, ratio=(0, 1)))
        reference = judge(replace(one_f_one_b, paths=full_paths(one_f_one_b)))
        v = verdict_dict(planned.verdict)
        # a second valid bound: the planner's own, for any routing of this placement; it counts
        # whole rounds of an origin's slots (ceil(n / inflight) trips), which pgc.sim's fluid
        # slot bound does not; the larger of two lower bounds is a lower bound
        own = lower_bound(problem_of(placed))
        best = max(own, planned.verdict.bound)
        payload[str(n)] = {"plan_s": round(planned.seconds, 2), **v,
                           "planner_bound_s": round(own, 3),
                           "gap_to_best_bound": round(planned.verdict.pipeline / best - 1, 4),
                           "one_f_one_b_same_placement": verdict_dict(reference)}
        rows.append([n, len(placed.paths), f"{planned.seconds:.2f}", v["pipeline_s"],
                     v["pipeline_bound_s"], f"{v['gap']:.1%}", f"{own:.2f}",
                     f"{planned.verdict.pipeline / best - 1:.1%}", f"{reference.pipeline:.2f}",
                     f"{planned.verdict.pipeline / reference.pipeline:.2f}"])
    world = plan(dtfm(5))
    payload["dtfm_c5_64"] = {"plan_s": round(world.seconds, 2), **verdict_dict(world.verdict)}
    md = ("# Planner scaling (geo regions round robin, ring of 8 stages, 1/4 skip, 4 "
          "microbatches per origin)\n\n"
          + table(["workers", "microbatches", "plan time s", "pipeline s", "pgc.sim bound s",
                   "gap", "planner bound s", "gap to best bound", "1F1B full, same placement s",
                   "ratio"], rows)
          + f"\nDT-FM world-wide, 64 workers (8 x 8 chain): plan time {world.seconds:.2f} s "
          f"(target < 30 s), pipeline {world.verdict.pipeline:.2f} s, iteration "
          f"{world.verdict.iteration:.2f} s\n")
    write("scaling", payload, md)


if __name__ == "__main__":
    main()
