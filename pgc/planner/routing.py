"""SkipPipe path routing: choose, for every microbatch, which stages it visits (skips), in
which order (swaps) and on which replica, so that the simulated pipeline phase is short.

Method. SkipPipe (Gensyn 2025) searches paths with conflict-based search over agents and
re-ranks by an event simulator (about an hour for 20 workers). Here: (1) the legal stage
sequences ("templates") are enumerated once; (2) a greedy constructor routes microbatches in
admission order, each on the cheapest (template, replicas) by an exact layered shortest path
whose node cost is compute plus a load penalty lambda x (work already routed to the worker),
SWARM's earliest-virtual-finish idea (Ryabinin et al. 2023) - this loads replicas in proportion
to their speed; several lambdas are tried and the fast simulator keeps the best; (3) local
search re-routes one microbatch at a time (latest-finishing first), each candidate judged by
the simulator, until a pass brings nothing, the time budget ends, or the makespan is within
`tolerance` of a lower bound. Never returns routes worse (by the simulator) than its start.
Cost: O(M x T x S x R^2) per construction for M microbatches, T templates, S stages, R replicas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from pgc.diagnostics import error
from pgc.ir.types import Program
from pgc.planner.costs import Costs
from pgc.planner.fastsim import FastResult, Route, simulate_routes
from pgc.planner.search import Search

LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 2.0)
MAX_TEMPLATES = 2000


@dataclass(frozen=True)
class Problem:
    """A routing instance: stage i of `stages` is run by workers `groups[i]`."""

    costs: Costs
    ring: bool
    stages: tuple[str, ...]  # pipeline order; index 0 is the origin (ring) or first stage
    segs: tuple[str, ...]  # the segment each stage runs on the way in
    groups: tuple[np.ndarray, ...]
    templates: tuple[tuple[int, ...], ...]  # legal stage-index sequences, stage 0 first
    origins: tuple[int, ...]  # origin worker index of each microbatch
    inflight: int
    msgm: dict[str, np.ndarray]  # segment -> (W, W) message seconds of its boundary
    work: np.ndarray  # (S, W) forward + backward seconds of stage s on worker w
    origin_pos: dict[int, int]  # origin worker -> its position in groups[0]
    _pairs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, compare=False)

    def pair(self, a: int, b: int) -> np.ndarray:
        """(|groups[a]|, |groups[b]|) seconds of stage a's boundary sent a -> b and its
        gradient sent back: the cost of one edge of a path (cached)."""
        got = self._pairs.get((a, b))
        if got is None:
            seg = self.segs[a]
            m = self.msgm[seg][np.ix_(self.groups[a], self.groups[b])]
            got = self._pairs[(a, b)] = m + self.msgm[seg][np.ix_(self.groups[b], self.groups[a])].T
        return got

    def node_cost(self, load: np.ndarray, lam: float) -> list[np.ndarray]:
        """Per stage, per replica: compute seconds + lam x seconds already routed there."""
        return [self.work[s, g] + lam * load[g] for s, g in enumerate(self.groups)]


def problem_of(program: Program, costs: Costs | None = None,
               msgm: dict[str, np.ndarray] | None = None) -> Problem:
    """Build the routing instance of a placed program. Raises UserError when the skip ratio
    does not give a whole number of stages."""
    costs = costs or Costs.of(program)
    ring = program.layout == "ring"
    stages = tuple(s.name for s in program.stages)
    segs = tuple(program.stages[i].segments[0] for i in range(len(stages)))
    groups = tuple(np.array([costs.index[w] for w in program.replicas(s)], dtype=int)
                   for s in stages)
    origin_workers = groups[0]
    origins = tuple(int(origin_workers[m % len(origin_workers)])
                    for m in range(program.microbatches))
    work = np.zeros((len(stages), len(costs.workers)))
    for i, st in enumerate(program.stages):
        for seg in st.segments:
            work[i] += costs.fwd[seg] + costs.bwd[seg]
    if msgm is None:
        msgm = message_matrices(program, costs)
    return Problem(costs, ring, stages, segs, groups, legal_templates(program), origins,
                   program.inflight, msgm, work,
                   {int(w): i for i, w in enumerate(origin_workers)})


def message_matrices(program: Program, costs: Costs) -> dict[str, np.ndarray]:
    return {s.name: costs.msg_matrix(costs.boundary[s.name]) for s in program.segments}


def visits(program: Program) -> int:
    """Stages each path visits: S - k*S (DESIGN.md §4); k*S must be whole."""
    n_stages = len(program.stages)
    num, den = program.skip.ratio
    if (num * n_stages) % den:
        raise error(program.skip.span,
                    f"skip ratio {num}/{den} of {n_stages} stages is not a whole number of stages",
                    hint=f"use a multiple of 1/{n_stages}")
    return n_stages - num * n_stages // den


def legal_templates(program: Program) -> tuple[tuple[int, ...], ...]:
    """Every stage sequence the policy allows: stage 0 first, (chain) the last stage last,
    never-skip stages kept, only skippable stages skipped, at most `swap.max_swaps` swaps of
    adjacent stages j, j+1 that are both visited and both skippable. Sorted, deduplicated."""
    stages = program.stages
    n_stages = len(stages)

    def skippable(i: int) -> bool:
        st = stages[i]
        fixed = i == 0 or st.never_skip or st.name in program.skip.never
        fixed = fixed or (program.layout == "chain" and i == n_stages - 1)
        return not fixed and all(program.segment(s).skippable is not False for s in st.segments)

    optional = [i for i in range(n_stages) if skippable(i)]
    mandatory = [i for i in range(n_stages) if not skippable(i)]
    take = visits(program) - len(mandatory)
    if take < 0 or take > len(optional):
        raise error(program.skip.span, f"the skip policy leaves {visits(program)} stages per "
                    f"path but {len(mandatory)} stages may not be skipped")
    out: set[tuple[int, ...]] = set()
    for chosen in combinations(optional, take):
        base = tuple(sorted(mandatory + list(chosen)))
        out.update(_with_swaps(base, set(optional), program.swap.max_swaps))
        if len(out) > MAX_TEMPLATES:
            break
    return tuple(sorted(out))


def _with_swaps(base: tuple[int, ...], swappable: set[int], max_swaps: int) -> list[tuple[int, ...]]:
    """`base` plus every variant with up to max_swaps non-overlapping swaps of neighbours
    (j, j+1) that are consecutive in the model and both swappable."""
    spots = [p for p in range(len(base) - 1)
             if base[p + 1] == base[p] + 1 and base[p] in swappable and base[p + 1] in swappable]
    result = [base]
    for n in range(1, max_swaps + 1):
        for chosen in combinations(spots, n):
            if any(b - a < 2 for a, b in zip(chosen, chosen[1:])):
                continue
            seq = list(base)
            for p in chosen:
                seq[p], seq[p + 1] = seq[p + 1], seq[p]
            result.append(tuple(seq))
    return result


def best_path(prob: Problem, template: tuple[int, ...], origin: int,
              node: list[np.ndarray]) -> tuple[float, list[int]]:
    """Cheapest replicas for `template` from `origin`: exact layered shortest path where an
    edge costs the message both ways (forward activation, backward gradient) and a node costs
    node[stage][replica position]. Returns (cost, worker index per template stage)."""
    pos = prob.origin_pos[origin]
    first = template[0]
    cost = np.zeros(1)
    back: list[np.ndarray] = []
    prev = first
    for k, s in enumerate(template[1:]):
        edge = prob.pair(prev, s)
        if k == 0:
            cost = edge[pos] + node[s]
        else:
            total = cost[:, None] + edge
            arg = total.argmin(axis=0)
            cost = total[arg, np.arange(edge.shape[1])] + node[s]
            back.append(arg)
        prev = s
    if prob.ring:  # the epilogue runs back at the origin
        cost = cost + prob.pair(prev, 0)[:, pos]
    j = int(cost.argmin())
    best = float(cost[j])
    picks = [j]
    for arg in reversed(back):
        j = int(arg[j])
        picks.append(j)
    picks.reverse()
    workers = [origin] + [int(prob.groups[s][p]) for s, p in zip(template[1:], picks)]
    return best, workers


def path_cost(prob: Problem, template: tuple[int, ...], workers: list[int],
              node: list[np.ndarray]) -> float:
    """The cost best_path minimises, for a given choice of replicas."""
    pos = [int(np.flatnonzero(prob.groups[s] == w)[0]) for s, w in zip(template, workers)]
    cost = sum(float(node[s][p]) for s, p in zip(template[1:], pos[1:]))
    cost += sum(float(prob.pair(a, b)[pa, pb])
                for a, b, pa, pb in zip(template, template[1:], pos, pos[1:]))
    if prob.ring:
        cost += float(prob.pair(template[-1], 0)[pos[-1], pos[0]])
    return cost


def route_of(prob: Problem, template: tuple[int, ...], workers: list[int]) -> Route:
    """The hops of one path (ring: the epilogue back at the origin closes it)."""
    hops = [(prob.segs[s], w) for s, w in zip(template, workers)]
    if prob.ring:
        hops.append(("origin.epi", workers[0]))
    return tuple(hops)


def _path_work(prob: Problem, template: tuple[int, ...], workers: list[int]) -> list[tuple[int, float]]:
    """Seconds a path occupies each of its non-origin workers: compute, plus NIC time of the
    activation it sends on and the gradient it sends back (NICs congest as much as GPUs)."""
    costs = prob.costs
    ends = workers + ([workers[0]] if prob.ring else [])
    out = []
    for i in range(1, len(template)):
        w = workers[i]
        sec = float(prob.work[template[i], w])
        if i + 1 < len(ends):
            sec += costs.nic(prob.segs[template[i]], w, ends[i + 1])[0]
        sec += costs.nic(prob.segs[template[i - 1]], w, workers[i - 1])[0]
        out.append((w, sec))
    return out


def construct(prob: Problem, lam: float) -> list[tuple[tuple[int, ...], list[int]]]:
    """Greedy routing in admission order with load penalty `lam` x routed seconds."""
    load = np.zeros(prob.work.shape[1])
    chosen = []
    for origin in prob.origins:
        node = prob.node_cost(load, lam)
        best = min((best_path(prob, t, origin, node) + (t,) for t in prob.templates),
                   key=lambda x: x[0])
        _, workers, template = best
        for w, sec in _path_work(prob, template, workers):
            load[w] += sec
        chosen.append((template, workers))
    return chosen


def lower_bound(prob: Problem) -> float:
    """A bound on the pipeline phase valid for every routing of this placement (a relaxation:
    each term ignores the others). Per origin: its slots carry ceil(n / inflight) round trips
    of its cheapest path in sequence, and its own compute. Fluid: all body work over the body
    workers' total speed, and all messages (each holds one sender NIC for its whole time)
    over all placed workers' NICs."""
    zero = prob.node_cost(np.zeros(prob.work.shape[1]), 0.0)
    no_compute = [np.zeros_like(n) for n in zero]
    per_origin: dict[int, int] = {}
    for o in prob.origins:
        per_origin[o] = per_origin.get(o, 0) + 1
    bound = nic_total = 0.0
    for o, n in per_origin.items():
        trip = min(best_path(prob, t, o, zero)[0] for t in prob.templates)
        bound = max(bound, math.ceil(n / prob.inflight) * (trip + prob.work[0, o]),
                    n * prob.work[0, o])
        nic_total += n * min(best_path(prob, t, o, no_compute)[0] for t in prob.templates)
    placed = np.unique(np.concatenate(prob.groups))
    bound = max(bound, nic_total / len(placed))
    speed = prob.costs.speed
    body = np.unique(np.concatenate(prob.groups[1:])) if len(prob.groups) > 1 else placed[:0]
    if len(body):
        # work in fastest-worker seconds: a path's cheapest body work, over all paths
        unit = min(sum(float((prob.work[s, prob.groups[s]] * speed[prob.groups[s]]).min())
                       for s in t[1:]) for t in prob.templates)
        bound = max(bound, len(prob.origins) * unit / float(speed[body].sum()))
    return bound


def simulate(prob: Problem, chosen: list[tuple[tuple[int, ...], list[int]]]) -> FastResult:
    return simulate_routes(prob.costs, [route_of(prob, t, w) for t, w in chosen], prob.inflight)


Chosen = list[tuple[tuple[int, ...], list[int]]]  # per microbatch: (template, workers)


@dataclass(frozen=True)
class Solution:
    starts: tuple[tuple[float, Chosen], ...]  # (lambda, greedy construction) for each lambda
    start: Chosen  # the best construction by the fast simulator
    final: Chosen  # after local search (never worse than `start` by the fast simulator)
    start_time: float
    final_time: float
    bound: float


def solve(prob: Problem, search: Search, tolerance: float = 0.03,
          lambdas: tuple[float, ...] = LAMBDAS) -> Solution:
    """Construct with each lambda, keep the best by simulation, then improve locally."""
    bound = lower_bound(prob)
    starts = []
    best, best_res, best_lam = None, None, 0.0
    for lam in lambdas:
        chosen = construct(prob, lam)
        starts.append((lam, chosen))
        res = simulate(prob, chosen)
        if best_res is None or res.makespan < best_res.makespan:
            best, best_res, best_lam = chosen, res, lam
        search.tick(f"construct lambda={lam}: {res.makespan:.2f} s")
    assert best is not None and best_res is not None
    search.note(f"{len(prob.templates)} legal stage sequences, {len(prob.origins)} microbatches; "
                f"lower bound {bound:.2f} s (fast simulator's model, any routing)")
    search.note(f"greedy construction, load weights {list(lambdas)}: best lambda={best_lam} "
                f"-> {best_res.makespan:.2f} s (fast simulator)")
    improved, res, why = improve(prob, best, best_res, best_lam, bound, tolerance, search)
    search.note(f"local search (fast simulator): {res.makespan:.2f} s, {why}")
    return Solution(tuple(starts), best, improved, best_res.makespan, res.makespan, bound)


def _key(res: FastResult) -> tuple[float, float]:
    """Makespan first; total finish time breaks ties so the search crosses plateaus."""
    return (round(res.makespan, 9), float(res.finish.sum()))


def improve(prob: Problem, chosen: Chosen, res: FastResult, lam: float, bound: float,
            tolerance: float, search: Search) -> tuple[Chosen, FastResult, str]:
    """Re-route one microbatch at a time (latest finish first); accept strict improvements of
    (makespan, total finish). O(passes x M x candidates x simulation)."""
    chosen = list(chosen)
    moves = passes = 0
    while True:
        if res.makespan <= bound * (1 + tolerance):
            return chosen, res, (f"stopped within {tolerance:.0%} of the bound after {passes} "
                                 f"passes, {moves} moves")
        passes += 1
        gained = False
        for mb in np.argsort(-res.finish, kind="stable"):
            if search.out_of_time():
                return chosen, res, f"stopped at the time budget after {moves} moves"
            for cand in alternatives(prob, chosen, int(mb), lam):
                trial = chosen[:int(mb)] + [cand] + chosen[int(mb) + 1:]
                trial_res = simulate(prob, trial)
                if _key(trial_res) < _key(res):
                    chosen, res, gained = trial, trial_res, True
                    moves += 1
                    break
            search.tick(f"local search pass {passes}: {res.makespan:.2f} s ({moves} moves)")
        if not gained:
            return chosen, res, f"stopped: pass {passes} found no improving move ({moves} moves)"


def alternatives(prob: Problem, chosen: Chosen, mb: int, lam: float) -> Chosen:
    """Per template, the best replicas for microbatch mb given everyone else's load and given
    none; the 12 cheapest by the loaded cost, without the current path."""
    load = np.zeros(prob.work.shape[1])
    for i, (t, ws) in enumerate(chosen):
        if i != mb:
            for w, sec in _path_work(prob, t, ws):
                load[w] += sec
    loaded = prob.node_cost(load, max(lam, 0.05))
    bare = prob.node_cost(load, 0.0)
    origin = prob.origins[mb]
    options: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}
    for t in prob.templates:
        for node in (loaded, bare):
            _, ws = best_path(prob, t, origin, node)
            options.setdefault((t, tuple(ws)), path_cost(prob, t, ws, loaded))
    current = (chosen[mb][0], tuple(chosen[mb][1]))
    ranked = sorted((c, k) for k, c in options.items() if k != current)
    return [(t, list(ws)) for _, (t, ws) in ranked[:12]]
