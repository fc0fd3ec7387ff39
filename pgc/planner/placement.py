"""Network-aware placement: which workers form each replica group and which group holds
which stage, chosen to minimise the simulated iteration time.

Method. Start points: (a) *compact* groups, DT-FM's shape (Yuan et al. 2022): capacitated
k-medoids by link cost gives one tight cluster per stage, and the groups are ordered along
the pipeline by an exact TSP (Held-Karp) over bottleneck matchings between groups; (b) *lanes*:
for k = 2..max replicas the pool is split into k tight clusters and each cluster receives
replicas of every stage in proportion to its size (slots placed by linear assignment), so a
microbatch can travel its whole path inside one cluster; this is the shape routing exploits.
Each start is scored by routing it (the greedy constructor of `routing`), the fast simulator
and a ring all-reduce per group; the best is refined by local search over swaps of two
workers between groups (first improvement, seeded order) until no swap helps or the budget
ends. Never returns a placement worse than its best start by that score.

Under the iteration objective, when the caller routes candidates in full (`place_auto` for
SkipPipe schedules), `plan_placements` adds placements built from fast all-reduce groups
(`sync_starts`, one per first-stage group among the HEADS fastest of its size): the greedy
routing construction inside the placement score misjudges how well such groups route
(routing's local search is what brings their iteration down), so they are handed on for
routing to judge rather than entered in the swap search's comparison.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from pgc.diagnostics import error
from pgc.ir.types import Program
from pgc.planner.costs import Costs
from pgc.planner.graphs import bottleneck_matching, capacitated_clusters, symmetric, tsp_path
from pgc.planner.judge import judge
from pgc.planner.routing import (
    construct,
    dp_cost,
    judge_cost,
    message_matrices,
    problem_of,
    sim_cost,
    simulate,
    sync_steps,
    to_program,
)
from pgc.planner.search import Search
from pgc.sim.cost import group_sync_bytes

Assignment = dict[str, list[int]]  # stage -> worker indices


@dataclass
class Evaluator:
    """Scores placements: routed pipeline phase (fast simulator) + slowest group all-reduce."""

    program: Program
    costs: Costs
    msgm: dict[str, np.ndarray]
    lambdas: tuple[float, ...]
    search: Search
    objective: str = "iteration"  # or "pipeline": the pipeline phase alone
    evaluations: int = 0
    elites: list[tuple[float, int, Assignment]] = field(default_factory=list)
    keep: int = 4

    def placed(self, assign: Assignment) -> Program:
        """The program with this placement, each group in its all-reduce ring order."""
        names = self.costs.workers
        table = tuple((s.name, tuple(names[i] for i in self.ring(s.name, assign[s.name])))
                      for s in self.program.stages)
        return replace(self.program, placement=table, auto_place=())

    def ring(self, stage: str, members: list[int]) -> list[int]:
        return self.costs.ring_order(members, group_sync_bytes(self.program, stage))

    def score(self, assign: Assignment) -> tuple[float, float, float, float]:
        """(objective, pipeline phase, what a step that syncs adds to it, best lambda); the
        objective is the iteration time amortised over `sync { every = H }` steps (the fast
        simulator's pipeline, each group's all-reduce from its last member's end, the step:
        `routing.sync_measure`), or the pipeline phase alone."""
        self.evaluations += 1
        placed = self.placed(assign)
        prob = problem_of(placed, self.costs, self.msgm, self.objective)
        self.search.charge(len(self.lambdas) * (len(prob.origins) * dp_cost(prob) + sim_cost(prob)))
        value, lam, res = min(((prob.score(r), lam, r) for lam in self.lambdas
                               for r in [simulate(prob, construct(prob, lam))]),
                              key=lambda x: (x[0], x[1]))
        synced = sync_steps(placed, self.costs)(res)[1]
        self._remember(value, assign)
        return value, res.makespan, synced - res.makespan, lam

    def _remember(self, value: float, assign: Assignment) -> None:
        """Keep the `keep` best distinct placements for the simulator's final word."""
        if any(sorted(map(sorted, a.values())) == sorted(map(sorted, assign.values()))
               for _, _, a in self.elites):
            return
        self.elites.append((value, self.evaluations, {k: list(v) for k, v in assign.items()}))
        self.elites.sort(key=lambda e: (e[0], e[1]))
        del self.elites[self.keep:]

    def simulated(self, assign: Assignment) -> float:
        """The objective by the simulator (order pass + pgc.sim) for the best-lambda routes."""
        program = self.placed(assign)
        prob = problem_of(program, self.costs, self.msgm, self.objective)
        chosen = min((construct(prob, lam) for lam in self.lambdas),
                     key=lambda c: prob.score(simulate(prob, c)))
        self.search.charge(len(self.lambdas) * (len(prob.origins) * dp_cost(prob) + sim_cost(prob)))
        verdict = judge(to_program(program, prob, chosen), bound=False)
        self.search.charge(judge_cost(prob))
        return verdict.amortised if self.objective == "iteration" else verdict.pipeline


def stage_sizes(program: Program, pool: list[int]) -> dict[str, int]:
    """Replica-group size of every auto stage: as requested, the rest of the pool split evenly."""
    auto = [program.stage(s) for s in program.auto_place]
    fixed = sum(s.replicas for s in auto if s.replicas)
    free = [s for s in auto if not s.replicas]
    if fixed + len(free) > len(pool) or (not free and fixed > len(pool)):
        raise error(auto[0].span, f"stages placed on auto need {fixed + len(free)} workers but "
                    f"only {len(pool)} are not placed explicitly")
    sizes = {s.name: int(s.replicas) for s in auto if s.replicas}
    spare = len(pool) - fixed
    for i, s in enumerate(free):
        sizes[s.name] = spare // len(free) + (1 if i < spare % len(free) else 0)
    return sizes


def compact_start(program: Program, dist: np.ndarray, pool: list[int],
                  sizes: dict[str, int], fixed: Assignment) -> Assignment:
    """One tight cluster per auto stage; equal-size clusters ordered along the pipeline by an
    open (chain) or closed (ring) TSP over bottleneck-matching distances between groups."""
    auto = [s for s in program.auto_place]
    spare = len(pool) - sum(sizes.values())  # workers no group asked for form a last cluster
    clusters = capacitated_clusters(dist, pool, [sizes[s] for s in auto] + ([spare] if spare else []))
    assign = dict(fixed) | dict(zip(auto, clusters))
    order = [s.name for s in program.stages]
    movable = [s for s in order[1:] if s in sizes]
    if len({sizes[s] for s in movable}) == 1 and len(movable) == len(order) - 1:
        groups = [assign[order[0]]] + [assign[s] for s in movable]
        between = np.array([[bottleneck_matching(dist[np.ix_(a, b)])[0] if a is not b else 0.0
                             for b in groups] for a in groups])
        _, tour = tsp_path(between, start=0, closed=program.layout == "ring")
        for stage, g in zip(movable, tour[1:]):
            assign[stage] = groups[g]
    return assign


def lanes_start(program: Program, dist: np.ndarray, pool: list[int], sizes: dict[str, int],
                fixed: Assignment, lanes: int) -> Assignment:
    """Split the pool into `lanes` tight clusters; each holds replicas of every auto stage in
    proportion to its size (largest remainder, repaired to exact sizes by assignment)."""
    n = len(pool)
    cluster_sizes = [n // lanes + (1 if i < n % lanes else 0) for i in range(lanes)]
    clusters = capacitated_clusters(dist, pool, cluster_sizes)
    slots: list[tuple[str, int]] = []  # (stage, preferred cluster)
    for stage, size in sizes.items():
        share = np.array(cluster_sizes) * size / n
        take = np.floor(share).astype(int)
        for c in np.argsort(-(share - take), kind="stable")[: size - take.sum()]:
            take[c] += 1
        slots += [(stage, c) for c in range(lanes) for _ in range(take[c])]
    seats = [c for c in range(lanes) for _ in range(cluster_sizes[c])]
    cost = np.array([[0.0 if seat == pref else 1.0 for seat in seats] for _, pref in slots])
    rows, cols = linear_sum_assignment(cost)
    members = {c: list(cl) for c, cl in enumerate(clusters)}
    assign: Assignment = {s: list(v) for s, v in fixed.items()} | {s: [] for s in sizes}
    for r, col in sorted(zip(rows, cols), key=lambda rc: rc[0]):
        assign[slots[r][0]].append(members[seats[col]].pop())
    return assign


def local_search(ev: Evaluator, assign: Assignment, score: float, auto: list[str],
                 search: Search, rng: np.random.Generator) -> tuple[Assignment, float, int]:
    """First-improvement search over swaps of two workers between auto groups."""
    moves = 0
    improved = True
    while improved and not search.out_of_time():
        improved = False
        pairs = [(a, i, b, j) for ai, a in enumerate(auto) for b in auto[ai + 1:]
                 for i in range(len(assign[a])) for j in range(len(assign[b]))]
        for k in rng.permutation(len(pairs)):
            if search.out_of_time():
                break
            a, i, b, j = pairs[k]
            trial = {s: list(v) for s, v in assign.items()}
            trial[a][i], trial[b][j] = assign[b][j], assign[a][i]
            value = ev.score(trial)[0]
            if value < score - 1e-9:
                assign, score, improved = trial, value, True
                moves += 1
            search.tick(f"local search: {score:.2f} s ({moves} swaps, {ev.evaluations} scored)")
    return assign, score, moves


def fast_groups(costs: Costs, candidates: list[int], size: int, nbytes: float
                ) -> list[tuple[float, list[int]]]:
    """Groups of `size` of `candidates` with fast ring all-reduces of `nbytes`: one grown
    from every candidate in turn by the candidate whose slowest link (either way) to the
    members is fastest, each priced in its ring order (`Costs.ring_order`); the distinct
    groups as (seconds, sorted members), fastest first (ties in the order grown).
    O(candidates^2 x size + candidates x ring order)."""
    if size >= len(candidates):
        group = sorted(candidates)
        return [(costs.ring_allreduce(costs.ring_order(group, nbytes), nbytes), group)]
    link = symmetric(costs.msg_matrix(nbytes / max(1, size)))
    found: dict[tuple[int, ...], float] = {}
    for seed in candidates:
        group = [seed]
        while len(group) < size:
            rest = np.array([c for c in candidates if c not in group])
            to = link[np.ix_(rest, np.array(group))]  # each row reduced as link[c, group] alone would be
            group.append(int(rest[np.lexsort((rest, to.sum(axis=1), to.max(axis=1)))[0]]))
        key = tuple(sorted(group))
        if key not in found:
            found[key] = costs.ring_allreduce(costs.ring_order(list(key), nbytes), nbytes)
    return sorted(((t, list(g)) for g, t in found.items()), key=lambda x: x[0])  # stable


def fastest_group(costs: Costs, candidates: list[int], size: int, nbytes: float
                  ) -> list[int]:
    """The fastest of `fast_groups`."""
    return fast_groups(costs, candidates, size, nbytes)[0][1]


HEADS = 3  # first-stage groups tried, the fastest distinct ones


def sync_groups(program: Program, costs: Costs, pool: list[int], sizes: dict[str, int],
                ) -> list[list[list[int]]]:
    """Replica groups for the auto stages formed for fast all-reduces, before deciding which
    stage holds which: the first stage's group, when it is placed on auto, as one of the
    HEADS fastest groups of its size (`fast_groups`; its members run the iteration's last
    backward, so its all-reduce overlaps nothing), then the rest of the pool split into tight
    clusters by all-reduce seconds and balanced (`balanced`). First-stage groups of nearly
    equal all-reduce seconds differ in which workers they leave to the others, and the fast
    score cannot tell how well those route, so each is a variant. One list of groups per variant, in
    `program.auto_place` order."""
    auto = [s for s in program.auto_place if sizes.get(s)]
    nbytes = {s: group_sync_bytes(program, s) for s in auto}
    heads: list[list[int]] = [[]]
    if auto[0] == program.stages[0].name:
        heads = [g for _, g in fast_groups(costs, pool, sizes[auto[0]], nbytes[auto[0]])[:HEADS]]
    others = auto[1:] if heads[0] else auto
    mean = float(np.mean([nbytes[s] / sizes[s] for s in others]))
    link = symmetric(costs.msg_matrix(mean))
    variants = []
    for head in heads:
        rest = [i for i in pool if i not in head]
        spare = len(rest) - sum(sizes[s] for s in others)
        clusters = capacitated_clusters(link, rest, [sizes[s] for s in others]
                                        + ([spare] if spare else []))
        body = balanced(costs, clusters[:len(others)], [nbytes[s] for s in others])
        variants.append(([head] if head else []) + body)
    return variants


def balanced(costs: Costs, groups: list[list[int]], nbytes: list[float]) -> list[list[int]]:
    """`groups` improved by swaps of two workers between groups while the all-reduce seconds
    of the groups, slowest first, fall (lexicographically): the slowest group decides when
    the last of them is done. First improvement, in index order. O(passes x n^2 x ring)."""
    groups = [sorted(g) for g in groups]

    def seconds(g: list[int], k: int) -> float:
        return costs.ring_allreduce(costs.ring_order(g, nbytes[k]), nbytes[k])

    times = [seconds(g, k) for k, g in enumerate(groups)]
    improved = True
    while improved:
        improved = False
        for a, b in itertools.combinations(range(len(groups)), 2):
            for i, j in itertools.product(range(len(groups[a])), range(len(groups[b]))):
                ga, gb = list(groups[a]), list(groups[b])
                ga[i], gb[j] = gb[j], ga[i]
                ta, tb = seconds(sorted(ga), a), seconds(sorted(gb), b)
                new = list(times)
                new[a], new[b] = ta, tb
                if sorted(new, reverse=True) < [t - 1e-9 for t in sorted(times, reverse=True)]:
                    groups[a], groups[b], times, improved = sorted(ga), sorted(gb), new, True
                    break
    return groups


ORDER_LIMIT = 120  # body-group orders scored exhaustively (5 groups); beyond, the given order


def sync_starts(ev: Evaluator, program: Program, pool: list[int], sizes: dict[str, int],
                fixed: Assignment, search: Search, keep: int = 1
                ) -> list[tuple[float, Assignment]]:
    """Placements built from `sync_groups`: the first stage takes the variant's fast group,
    and the other groups go to the other stages in the order the placement score likes best
    (every order of groups of equal size when there are at most ORDER_LIMIT, scored at the
    best load weight of the given order). The `keep` best of each variant by that score, in
    variant order (the fastest first-stage group first)."""
    auto = [s for s in program.auto_place if sizes.get(s)]
    out: list[tuple[float, Assignment]] = []
    for groups in sync_groups(program, ev.costs, pool, sizes):
        base = dict(fixed) | {s: list(g) for s, g in zip(auto, groups)}
        lambdas = ev.lambdas
        value, _, _, lam = ev.score(base)
        mine = [(value, base)]
        ev.lambdas = (lam,)
        others = auto[1:] if auto[0] == program.stages[0].name else auto
        if 1 < math.factorial(len(others)) <= ORDER_LIMIT:
            for perm in itertools.permutations(range(len(others))):
                if list(perm) == sorted(perm):
                    continue
                trial = dict(base)
                for s, k in zip(others, perm):
                    trial[s] = base[others[k]]
                if any(len(trial[s]) != sizes[s] for s in others):
                    continue
                mine.append((ev.score(trial)[0], trial))
                search.tick(f"sync start orders: {min(v for v, _ in mine):.2f} s")
        ev.lambdas = lambdas
        mine.sort(key=lambda x: x[0])
        out += mine[:keep]
    return out


LANE_COUNTS = (2, 3, 4, 6, 8, 16, 32, 64)


def plan_placement(program: Program, search: Search, seed: int = 0,
                   objective: str = "iteration") -> Assignment:
    """The placement of every stage (explicit ones kept) with the lowest score found."""
    return plan_placements(program, search, seed, objective)[0]


def plan_placements(program: Program, search: Search, seed: int = 0,
                    objective: str = "iteration", routed: bool = False) -> list[Assignment]:
    """Placements of every stage (explicit ones kept), the search's pick first; with
    `routed` (the caller routes each and keeps the fastest), under the iteration objective
    with replica groups to sync, then the best placements built from fast all-reduce groups
    (`sync_starts`)."""
    costs = Costs.of(program)
    fixed: Assignment = {s: [costs.index[w] for w in ws] for s, ws in program.placement
                         if s not in program.auto_place}
    taken = {i for ws in fixed.values() for i in ws}
    pool = [i for i in range(len(costs.workers)) if i not in taken]
    sizes = stage_sizes(program, pool)
    mean_bytes = float(np.mean([b for b in costs.boundary.values() if b > 0] or [0.0]))
    dist = symmetric(costs.msg_matrix(mean_bytes))
    ev = Evaluator(program, costs, message_matrices(program, costs), (0.0, 0.2, 1.0), search,
                   objective)
    starts: dict[str, Assignment] = {"compact": compact_start(program, dist, pool, sizes, fixed)}
    for k in LANE_COUNTS:
        if k <= max(sizes.values()) and k <= len(pool) // max(1, len(sizes)):
            starts[f"lanes{k}"] = lanes_start(program, dist, pool, sizes, fixed, k)
    scored: list[tuple[float, str, Assignment, float]] = []
    for name, assign in starts.items():
        if scored and search.spent > search.budget_s / 2:
            search.note(f"start {name}: skipped, half the budget spent on starts")
            continue
        total, pipe, ar, lam = ev.score(assign)
        scored.append((total, name, assign, lam))
        search.note(f"start {name}: pipeline {pipe:.2f} s, a step that syncs {pipe + ar:.2f} s "
                    f"(fast simulator, lambda={lam})")
        search.tick(f"start {name}: {total:.2f} s")
    total, name, assign, lam = min(scored, key=lambda x: (x[0], x[1]))
    ev.lambdas = (lam,)  # the search compares swaps under the start's best load weight
    total = ev.score(assign)[0]
    auto = [s for s in program.auto_place if sizes.get(s)]
    searched, value, moves = local_search(ev, assign, total, auto, search,
                                          np.random.default_rng(seed))
    why = "work budget ended" if search.out_of_time() else "no swap improves"
    search.note(f"objective: {objective} time; best start {name}; swap search: {moves} swaps "
                f"accepted, {ev.evaluations} placements scored, {value:.2f} s, stopped: {why}")
    # the simulator has the last word among the best placements seen and the best start
    finalists = [a for _, _, a in ev.elites] + [assign]
    judged = [(ev.simulated(a), i, a) for i, a in enumerate(finalists)]
    sim_value, pick, best = min(judged, key=lambda x: (x[0], x[1]))
    search.note(f"simulator on {len(finalists)} finalists (incl. the best start at "
                f"{judged[-1][0]:.2f} s): kept #{pick + 1} at {sim_value:.2f} s")
    out = [best]
    if routed and objective == "iteration" and len(auto) > 1 and max(sizes[s] for s in auto) > 1:
        ev.lambdas = (0.0, 0.2, 1.0)
        synced = sync_starts(ev, program, pool, sizes, fixed, search)
        out += [a for _, a in synced]
        search.note("placements from fast all-reduce groups, for routing to judge: "
                    + ", ".join(f"{v:.2f} s" for v, _ in synced)
                    + f" (fast simulator, best of {ev.evaluations} scored in all)")
    return [{s: ev.ring(s, ws) if s in sizes else ws for s, ws in a.items()} for a in out]
