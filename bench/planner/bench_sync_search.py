"""How far is pgc's every-step plan on geo-20 (`sync` default: every step, no compression, all-reduces
overlapping the pipeline) from the best placement this benchmark can find, and is the planner's
search or its bound the loose side? All judged in this one run by the same simulator (order
pass + pgc.sim) as `pgc plan`, against DT-FM's full iteration from bench_sync.py's results.

1. The planner as the compiler runs it, with larger placement budgets and other seeds.
2. Continent-local placements: every replica group inside one continent (Europe: BE DE NL UK,
   America: CA IA LA OR, Asia-Pacific: AU JP SG TW; 7, 7 and 6 workers), except one group of
   three that must straddle Europe and America. The origin group (5) takes 5 workers of Europe
   or America; the rest are split into groups of three every way. Group sets are ranked by
   their all-reduce seconds (origin + slowest other group), the best `SETS` are tried with all
   120 orders of the body groups under the planner's own placement score (routing's greedy
   constructor + fast simulator + overlapped ring all-reduces), and the best `JUDGED` distinct
   placements are routed by the compiler's routing pass at its default budget and at
   `ROUTE_X` times it, then judged.

Run: PYTHONPATH=. python bench/planner/bench_sync_search.py   (about 6 minutes)
Writes bench/results/planner_sync_search.{json,md}.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from datetime import date
from functools import cache

from bench.planner.common import RESULTS, plan, table, write
from pgc.ir.types import Program, SyncConfig
from pgc.passes.place_auto import PLACE_BUDGET_S
from pgc.passes.route_skippipe import POLISH_BUDGET_S, ROUTE_BUDGET_S, route
from pgc.planner.costs import Costs
from pgc.planner.judge import Verdict, judge
from pgc.planner.placement import Evaluator
from pgc.planner.routing import message_matrices
from pgc.planner.search import Search
from pgc.sim.cost import group_sync_bytes
from tests.planner.scenarios import GEO_REGIONS, geo20

CONTINENTS = {"Europe": ("BE", "DE", "NL", "UK"), "America": ("CA", "IA", "LA", "OR"),
              "Asia-Pacific": ("AU", "JP", "SG", "TW")}
SETS = 12
JUDGED = 8
ROUTE_X = 15
RUNS = [(1, 0), (4, 0), (4, 1), (4, 2), (10, 0)]  # (placement budget x default, seed)


def every_step() -> Program:
    return replace(geo20(), sync=SyncConfig(), objective="iteration")


def region(worker: str) -> str:
    return GEO_REGIONS[int(worker[1:]) % len(GEO_REGIONS)]  # SkipPipe's round-robin


def continent(worker: str) -> str:
    return next(c for c, regions in CONTINENTS.items() if region(worker) in regions)


def triples(workers: list[str]) -> list[list[list[str]]]:
    """Every split of `workers` (a multiple of 3) into unordered groups of three."""
    if not workers:
        return [[]]
    first, rest = workers[0], workers[1:]
    return [[[first, *pair], *more] for pair in itertools.combinations(rest, 2)
            for more in triples([w for w in rest if w not in pair])]


def group_sets(program: Program) -> list[tuple[list[str], list[list[str]]]]:
    """(origin group, five body groups) with every group inside a continent but one."""
    by: dict[str, list[str]] = {}
    for w in program.workers:
        by.setdefault(continent(w.name), []).append(w.name)
    out = []
    for home, away in (("Europe", "America"), ("America", "Europe")):
        for origin in itertools.combinations(by[home], 5):
            left = [w for w in by[home] if w not in origin]
            for guest in by[away]:
                rest = [w for w in by[away] if w != guest]
                for split in triples(rest):
                    for asia in triples(by["Asia-Pacific"]):
                        out.append((list(origin), [left + [guest], *split, *asia]))
    return out


def ranked_sets(program: Program, costs: Costs) -> list[tuple[list[str], list[list[str]]]]:
    nbytes = group_sync_bytes(program, "s1")

    @cache
    def seconds(group: frozenset[str]) -> float:
        ring = costs.ring_order([costs.index[w] for w in sorted(group)], nbytes)
        return costs.ring_allreduce(ring, nbytes)

    sets = group_sets(program)
    return sorted(sets, key=lambda s: seconds(frozenset(s[0]))
                  + max(seconds(frozenset(g)) for g in s[1]))


def placements(program: Program) -> list[tuple[float, list[list[str]]]]:
    """The best JUDGED placements by the planner's own score, one of each set that differs
    only by swapping workers of the same region (equal workers, equal links)."""
    costs = Costs.of(program)
    ev = Evaluator(program, costs, message_matrices(program, costs), (0.0, 0.2, 1.0),
                   Search("bench", float("inf")), "iteration")
    scored = []
    for origin, body in ranked_sets(program, costs)[:SETS]:
        for order in itertools.permutations(body):
            assign = {"origin": [costs.index[w] for w in origin]}
            assign |= {f"s{i + 1}": [costs.index[w] for w in g] for i, g in enumerate(order)}
            scored.append((ev.score(assign)[0], [origin, *order]))
    scored.sort(key=lambda x: x[0])
    out, seen = [], set()
    for value, groups in scored:
        key = json.dumps([sorted(map(region, g)) for g in groups])  # same links, same plan
        if key not in seen:
            seen.add(key)
            out.append((value, groups))
    return out[:JUDGED]


def routed(program: Program, groups: list[list[str]], x: float) -> tuple[Verdict, float]:
    names = [s.name for s in program.stages]
    placed = replace(program, placement=tuple(zip(names, map(tuple, groups))), auto_place=())
    start = time.perf_counter()
    done = route(placed, budget_s=x * ROUTE_BUDGET_S, polish_s=x * POLISH_BUDGET_S, longer=False)
    return judge(done), time.perf_counter() - start


def main() -> None:
    dtfm = json.loads((RESULTS / "planner_sync.json").read_text())["dtfm_full"]["iteration_s"]
    program = every_step()
    rows, payload = [], {"dtfm_full_iteration_s": dtfm, "planner": [], "continent_local": []}
    for times, seed in RUNS:
        p = plan(replace(program, train=replace(program.train, seed=seed)), "iteration",
                 place_s=times * PLACE_BUDGET_S)
        v = p.verdict
        rows.append([f"planner, placement budget {times}x, seed {seed}", f"{p.seconds:.1f}",
                     f"{v.pipeline:.2f}", f"{v.iteration:.2f}", f"{v.amortised_bound:.2f}",
                     f"{v.iteration / dtfm:.3f}"])
        payload["planner"].append({"budget_x": times, "seed": seed, "pipeline_s": v.pipeline,
                                   "sync_step_s": v.iteration, "bound_s": v.amortised_bound,
                                   "placement": [list(g) for _, g in p.program.placement]})
    best = (float("inf"), "")
    for k, (score, groups) in enumerate(placements(program), start=1):
        for x in (1, ROUTE_X):
            v, secs = routed(program, groups, x)
            name = f"continent-local #{k} (planner score {score:.2f}), route budget {x}x"
            rows.append([name, f"{secs:.1f}", f"{v.pipeline:.2f}", f"{v.iteration:.2f}",
                         f"{v.amortised_bound:.2f}", f"{v.iteration / dtfm:.3f}"])
            payload["continent_local"].append({"rank": k, "route_x": x, "placement": groups,
                                               "pipeline_s": v.pipeline,
                                               "sync_step_s": v.iteration,
                                               "bound_s": v.amortised_bound})
            best = min(best, (v.iteration, name))
    target = 0.40 * dtfm
    planner_best = min(r["sync_step_s"] for r in payload["planner"])  # type: ignore[index]
    md = (f"# Every-step sync on geo-20: the planner against continent-local placements "
          f"({date.today().isoformat()})\n\n"
          "Sync step = one iteration with the overlapped fp all-reduce (bf16 gradients, 536 MB "
          f"a stage); DT-FM's full iteration {dtfm:.2f} s (bench_sync.py), so 0.40x is "
          f"{target:.2f} s. Bounds are pgc.sim.lower_bound's for each placement and its paths."
          "\n\n"
          + table(["plan", "plan time s", "pipeline s", "sync step s", "bound s",
                   "/ DT-FM iteration"], rows)
          + f"\nBest sync step: {best[0]:.2f} s = {best[0] / dtfm:.3f}x ({best[1]}); the "
          f"planner's best {planner_best:.2f} s = {planner_best / dtfm:.3f}x. Target <= 0.40x "
          f"({target:.2f} s): {'reached' if best[0] <= target else 'not reached'}.\n")
    write("sync_search", payload, md)


if __name__ == "__main__":
    main()
