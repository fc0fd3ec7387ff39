"""SkipPipe's geo-20 case: pgc's skip plan against DT-FM's full pipeline and pgc's best full
pipeline, all judged in this one run by the same simulator (order pass + pgc.sim).

Run: PYTHONPATH=. python bench/planner/bench_geo20.py   (about 2-3 minutes; the GA dominates)
Writes bench/results/planner_geo20.{json,md}.
"""

from __future__ import annotations

from dataclasses import replace

from bench.planner.common import Planned, plan, table, verdict_dict, write
from bench.planner.dtfm_ga import chains_program, run_ga
from pgc.passes.route_skippipe import route
from pgc.planner.judge import judge
from pgc.planner.routing import lower_bound, problem_of
from tests.planner.scenarios import geo20

SEEDS = range(5)


def main() -> None:
    skip = geo20()
    full = geo20(skip=(0, 1), swaps=0)
    ga = min((run_ga(full, seed) for seed in SEEDS), key=lambda r: r.cost)
    dtfm_full = chains_program(full, ga.groups)  # three chains, two origins idle
    # DT-FM sums its replica groups with the backend's ring all-reduce
    dtfm_verdict = judge(replace(dtfm_full, sync=replace(dtfm_full.sync, exchange="ring")))
    dtfm_skip = route(replace(skip, placement=dtfm_full.placement, auto_place=()))
    runs: dict[str, Planned] = {
        "pgc skip (placed for pipeline)": plan(skip, "pipeline"),
        "pgc skip (placed for iteration)": plan(skip, "iteration"),
        "pgc full (placed for pipeline)": plan(full, "pipeline"),
        "pgc full (placed for iteration)": plan(full, "iteration"),
    }
    head = runs["pgc skip (placed for pipeline)"]
    best_full = min((v for k, v in runs.items() if "full" in k), key=lambda p: p.verdict.pipeline)
    ratio_dtfm = head.verdict.pipeline / dtfm_verdict.pipeline
    ratio_full = head.verdict.pipeline / best_full.verdict.pipeline
    gap = head.verdict.pipeline / head.verdict.bound - 1
    # a second valid bound for the same placement (any routing; whole rounds of origin slots)
    own = lower_bound(problem_of(head.program))
    best_gap = head.verdict.pipeline / max(own, head.verdict.bound) - 1
    rows = [["DT-FM full pipeline (GA best of 5, 3 chains)", "-", *_cells(dtfm_verdict)],
            ["DT-FM placement + pgc skip routing", "-", *_cells(judge(dtfm_skip))]]
    rows += [[name, f"{p.seconds:.2f}", *_cells(p.verdict)] for name, p in runs.items()]
    md = ("# SkipPipe geo-20 (20 workers, ring [5,3,3,3,3,3], 1/3 skip, inflight 3, 30 "
          "microbatches, 1.5B profile)\n\n"
          + table(["plan", "plan time s", "pipeline s", "iteration s", "pipeline bound s", "gap"],
                  rows)
          + f"\nskip / DT-FM full pipeline: **{ratio_dtfm:.3f}** (target <= 0.40)  \n"
          f"skip / pgc best full pipeline: **{ratio_full:.3f}** (target <= 0.65)  \n"
          f"skip gap to its lower bound: **{gap:.1%}** (target <= 15%; planner's own bound for "
          f"this placement {own:.2f} s, gap to the better bound {best_gap:.1%})  \n"
          f"skip plan time: **{head.seconds:.2f} s** (target < 10 s)  \n"
          f"DT-FM GA best objective {ga.cost:.2f} (5 seeds x 4,900 trials)\n")
    payload = {
        "dtfm_full": verdict_dict(dtfm_verdict), "dtfm_ga_cost": ga.cost,
        "dtfm_placement_skip": verdict_dict(judge(dtfm_skip)),
        "runs": {k: {"plan_s": round(p.seconds, 3), **verdict_dict(p.verdict),
                     "placement": [list(g) for _, g in p.program.placement],
                     "notes": list(p.program.notes)} for k, p in runs.items()},
        "ratio_skip_vs_dtfm_full": round(ratio_dtfm, 4),
        "ratio_skip_vs_pgc_full": round(ratio_full, 4), "skip_gap": round(gap, 4),
        "skip_planner_bound_s": round(own, 3), "skip_gap_to_best_bound": round(best_gap, 4),
    }
    write("geo20", payload, md)


def _cells(v: object) -> list[str]:
    d = verdict_dict(v)  # type: ignore[arg-type]
    return [f"{d['pipeline_s']:.2f}", f"{d['iteration_s']:.2f}", f"{d['pipeline_bound_s']:.2f}",
            f"{d['gap']:.1%}" if d["gap"] is not None else "-"]


if __name__ == "__main__":
    main()
