"""DT-FM's five 64-GPU scenarios (GPT3-XL, 8 stages x 8 replicas, full pipeline): pgc's
placement against DT-FM's genetic algorithm (best of 5 seeds, population 100, 4,900 trials),
on DT-FM's own objective and on simulated time, all in one run.

Run: PYTHONPATH=. python bench/planner/bench_dtfm.py [scenario ...]   (GA: ~1 min per seed)
Writes bench/results/planner_dtfm.{json,md}.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

from bench.planner.common import RESULTS, plan, table, verdict_dict, write
from bench.planner.dtfm_ga import chains_program, dtfm_cost_of, run_ga
from pgc.passes.route_skippipe import route
from pgc.planner.costs import Costs
from pgc.planner.judge import judge
from tests.planner.scenarios import dtfm

SEEDS = range(5)


def scenario(c: int) -> dict[str, object]:
    prog = dtfm(c)
    costs = Costs.of(prog)
    objective = dtfm_cost_of(prog, costs)
    start = time.perf_counter()
    runs = [run_ga(prog, seed, costs=costs) for seed in SEEDS]
    ga_s = time.perf_counter() - start
    ga = min(runs, key=lambda r: r.cost)
    ga_chains = judge(chains_program(prog, ga.groups))
    ga_placement = chains_program(prog, ga.groups).placement
    ga_routed = judge(route(replace(prog, placement=ga_placement, auto_place=())))
    mine = plan(prog, "iteration")
    groups = [[costs.index[w] for w in ws] for _, ws in mine.program.placement]
    return {
        "ga_costs": [round(r.cost, 4) for r in runs], "ga_best_cost": round(ga.cost, 4),
        "ga_seconds_5_seeds": round(ga_s, 1),
        "pgc_cost": round(objective(groups), 4), "pgc_plan_s": round(mine.seconds, 2),
        "ga_chains": verdict_dict(ga_chains), "ga_placement_pgc_routes": verdict_dict(ga_routed),
        "pgc": verdict_dict(mine.verdict), "pgc_notes": list(mine.program.notes),
    }


def main() -> None:
    """Scenarios given on the command line (default all) are run and merged into the recorded
    results, each written as soon as it is done."""
    chosen = [int(a) for a in sys.argv[1:]] or [1, 2, 3, 4, 5]
    path = RESULTS / "planner_dtfm.json"
    results = json.loads(path.read_text())["scenarios"] if path.exists() else {}
    for c in chosen:
        results[f"c{c}"] = scenario(c)
        _record(dict(sorted(results.items())))


def _record(results: dict[str, dict[str, object]]) -> None:
    rows = []
    for name, r in results.items():
        ga, mine, mixed = r["ga_chains"], r["pgc"], r["ga_placement_pgc_routes"]
        rows.append([name, r["ga_best_cost"], r["pgc_cost"], ga["iteration_s"],  # type: ignore[index]
                     mixed["iteration_s"], mine["iteration_s"], r["pgc_plan_s"]])  # type: ignore[index]
    md = ("# DT-FM scenarios: pgc placement vs DT-FM's GA (best of 5 seeds)\n\n"
          "GPT3-XL, 64 V100, 8 stages x 8 replicas, 64 microbatches of 1 x 2048 tokens; "
          "objective = DT-FM's DataP + 2 PipeP (lower is better); times are simulated "
          "iterations (pipeline + all-reduce) by the order pass + pgc.sim.\n\n"
          + table(["scenario", "GA objective", "pgc objective", "GA + DT-FM chains s",
                   "GA placement + pgc routes s", "pgc s", "pgc plan time s"], rows))
    write("dtfm", {"scenarios": results}, md)


if __name__ == "__main__":
    main()
