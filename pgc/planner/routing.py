"""SkipPipe path routing: choose, for every microbatch, which stages it visits (skips), in
which order (swaps) and on which replica, so that the simulated pipeline phase is short.

Method. SkipPipe (Gensyn 2025) searches paths with conflict-based search over agents and
re-ranks by an event simulator (about an hour for 20 workers). Here: (1) the legal stage
sequences ("templates") are enumerated once; (2) a greedy constructor routes microbatches in
admission order, each on the cheapest (template, replicas) by an exact layered shortest path
whose node cost is compute plus a load penalty lambda x (work already routed to the worker),
SWARM's earliest-virtual-finish idea (Ryabinin et al. 2023) - this loads replicas in proportion
to their speed; several lambdas are tried; a second constructor pins each origin's
microbatches to one path and keeps origins apart (no collisions between origins); (3) local
search re-routes one microbatch at a time (latest-finishing first), each candidate judged by
the fast simulator, until a pass brings nothing, the work budget ends, or the makespan is
within `tolerance` of a lower bound; it never returns routes worse than its start. The pass
(pgc.passes.route_skippipe) then lets the real simulator choose and polish.
Cost: O(M x T x L x R^2) per construction for M microbatches, T templates of L stages, groups
of at most R replicas, in O(M x L) numpy steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np

from pgc.diagnostics import error
from pgc.ir.policy import stages_visited
from pgc.ir.queries import collective_groups
from pgc.ir.types import Hop, Path, Program
from pgc.planner.costs import Costs
from pgc.planner.fastsim import FastResult, Route, simulate_routes, step_times
from pgc.planner.search import Search
from pgc.sim.bound import slot_rounds
from pgc.sim.cost import group_sync_bytes, outer_sync_seconds, step_seconds

LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 2.0)
Chosen = list[tuple[tuple[int, ...], list[int]]]  # per microbatch: (template, workers)
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
    caps: np.ndarray  # (S,) most microbatches per iteration that may visit each stage
    members: np.ndarray  # (T, S) template t visits stage s
    row: dict[tuple[int, ...], int]  # template -> its index in `templates`
    # what the searches minimise: the pipeline phase (makespan), or with the iteration
    # objective the step time amortised over `sync { every = H }` (`sync_measure`)
    measure: Callable[[FastResult], float] | None = field(default=None, compare=False)
    _pairs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, compare=False)
    _batch: list[Batch] = field(default_factory=list, compare=False)

    def pair(self, a: int, b: int) -> np.ndarray:
        """(|groups[a]|, |groups[b]|) seconds of stage a's boundary sent a -> b and its
        gradient sent back: the cost of one edge of a path (cached)."""
        got = self._pairs.get((a, b))
        if got is None:
            seg = self.segs[a]
            m = self.msgm[seg][np.ix_(self.groups[a], self.groups[b])]
            got = self._pairs[(a, b)] = m + self.msgm[seg][np.ix_(self.groups[b], self.groups[a])].T
        return got

    def node_cost(self, load: np.ndarray, lam: float) -> np.ndarray:
        """(S, R) per stage and replica position: compute seconds + lam x seconds already
        routed to the worker; inf in the padding of groups smaller than the largest."""
        b = self.batch()
        return np.where(b.valid, self.work[b.stage_of_row, b.members] + lam * load[b.members],
                        np.inf)

    def score(self, res: FastResult) -> float:
        """The searches' objective of a fast simulation (`measure`; default the makespan)."""
        if self.measure is None or res.makespan == float("inf"):
            return res.makespan
        return self.measure(res)

    def batch(self) -> Batch:
        if not self._batch:
            self._batch.append(_build_batch(self))
        return self._batch[0]


@dataclass(frozen=True)
class Batch:
    """The templates as padded arrays, so one numpy step advances all of them at once."""

    stage_at: np.ndarray  # (T, L) stage index at each position of each template
    members: np.ndarray  # (S, R) worker index of each replica position (0 in the padding)
    valid: np.ndarray  # (S, R) real replica positions
    stage_of_row: np.ndarray  # (S, 1) stage index of each row, for broadcasting
    edges: tuple[np.ndarray, ...]  # per step k >= 1: (T, R, R) edge cost position k-1 -> k
    back: np.ndarray | None  # ring: (T, R, R) edge cost last position -> origin


def _build_batch(prob: Problem) -> Batch:
    width = max(len(g) for g in prob.groups)
    n_stages = len(prob.groups)
    members = np.zeros((n_stages, width), dtype=int)
    valid = np.zeros((n_stages, width), dtype=bool)
    for s, g in enumerate(prob.groups):
        members[s, :len(g)] = g
        valid[s, :len(g)] = True
    stage_at = np.array(prob.templates, dtype=int)
    padded: dict[tuple[int, int], np.ndarray] = {}

    def edge(a: int, b: int) -> np.ndarray:
        if (a, b) not in padded:
            m = np.full((width, width), np.inf)
            pair = prob.pair(a, b)
            m[:pair.shape[0], :pair.shape[1]] = pair
            padded[(a, b)] = m
        return padded[(a, b)]

    steps = tuple(np.stack([edge(t[k - 1], t[k]) for t in prob.templates])
                  for k in range(1, stage_at.shape[1]))
    back = np.stack([edge(t[-1], 0) for t in prob.templates]) if prob.ring else None
    return Batch(stage_at, members, valid, np.arange(n_stages)[:, None], steps, back)


def all_paths(prob: Problem, origin: int, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every template at once, the cheapest replicas from `origin`: an exact layered
    shortest path where an edge costs the message both ways (forward activation, backward
    gradient) and a node costs node[stage, position]. Returns (cost per template, (T, L)
    worker indices). O(T x L x R^2) in a few numpy steps."""
    b = prob.batch()
    n_templates, length = b.stage_at.shape
    pos = prob.origin_pos[origin]
    rows = np.arange(n_templates)
    cost = np.zeros((n_templates, 1))
    args = []
    for k, step in enumerate(b.edges, start=1):
        if k == 1:
            cost = step[:, pos, :] + node[b.stage_at[:, 1]]
            continue
        total = cost[:, :, None] + step
        arg = total.argmin(axis=1)
        cost = np.take_along_axis(total, arg[:, None, :], axis=1)[:, 0, :] + node[b.stage_at[:, k]]
        args.append(arg)
    if b.back is not None and length > 1:
        cost = cost + b.back[:, :, pos]
    j = cost.argmin(axis=1)
    best = cost[rows, j]
    picks = [j]
    for arg in reversed(args):
        j = arg[rows, j]
        picks.append(j)
    workers = np.full((n_templates, length), origin)
    for k, p in enumerate(reversed(picks), start=1):
        if k < length:
            workers[:, k] = b.members[b.stage_at[:, k], p]
    return best, workers


def sync_measure(program: Program, costs: Costs) -> Callable[[FastResult], float]:
    """The iteration time of a placed program's fast simulation, amortised over `sync {
    every = H }` steps (`sync_steps`)."""
    steps = sync_steps(program, costs)
    return lambda res: program.sync.amortised(*steps(res))


def sync_steps(program: Program, costs: Costs) -> Callable[[FastResult], tuple[float, float]]:
    """(a step without sync, a step that syncs) of a placed program's fast simulation, as
    pgc.sim.engine.sync_steps prices them: synchronous modes all-reduce each collective group
    (the order pass's, in its order) over the placement's ring order from its last member's
    end, then every worker steps (`fastsim.step_times`); outer steps sync after every
    worker's step (`pgc.sim.cost.outer_sync_seconds`)."""
    named = []
    for name, members in collective_groups(program):
        ring = [costs.index[w] for w in members]
        named.append((name, members, ring,
                      costs.ring_allreduce(ring, group_sync_bytes(program, name))))
    groups = [(ring, seconds) for _, _, ring, seconds in named]
    outer = outer_sync_seconds([(members, seconds) for _, members, _, seconds in sorted(named)])
    step = np.zeros(len(costs.workers))
    for stage, members in program.placement:
        for w in members:
            step[costs.index[w]] = step_seconds(program, stage, program.worker(w))
    if program.sync.synchronous:
        return lambda res: step_times(res, groups, step)
    return lambda res: _outer(res, step, outer)


def _outer(res: FastResult, step: np.ndarray, outer: float) -> tuple[float, float]:
    """Outer steps: the step, then the outer sync's `outer` seconds."""
    no_sync = step_times(res, [], step)[0]
    return no_sync, no_sync + outer


def problem_of(program: Program, costs: Costs | None = None,
               msgm: dict[str, np.ndarray] | None = None, objective: str = "pipeline") -> Problem:
    """Build the routing instance of a placed program; its searches minimise the pipeline
    phase or, with `objective="iteration"`, the amortised iteration (`sync_measure`). Raises
    UserError when the skip ratio does not give a whole number of stages."""
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
    templates = legal_templates(program)
    members = np.zeros((len(templates), len(stages)), dtype=bool)
    for t, template in enumerate(templates):
        members[t, list(template)] = True
    return Problem(costs, ring, stages, segs, groups, templates, origins,
                   program.inflight, msgm, work,
                   {int(w): i for i, w in enumerate(origin_workers)},
                   visit_caps(program), members, {t: i for i, t in enumerate(templates)},
                   sync_measure(program, costs) if objective == "iteration" else None)


def visit_caps(program: Program) -> np.ndarray:
    """Most microbatches per iteration that may visit each stage: SkipPipe's stage-load
    constraint (its "type 2"), the conditions its convergence results were obtained under.
    The planner alone, chasing time, starves stages (geo-20: one stage got 2 of 30
    microbatches, so it trains on a fifteenth of the data the others see). A small-model
    measurement (bench/runtime_skip_balance.py) found no loss from starving one stage at 300
    steps, so this is a conservative default, not a measured gain; `balance = off` drops it.
    A skippable stage gets at most ceil((1 + balance) x M x k / n) visits, k skippable stages
    per path out of n; the others are visited by every path anyway. From the policy, not the
    template list."""
    m = program.microbatches
    caps = np.full(len(program.stages), m, dtype=int)
    optional, _, take = skip_sets(program)
    balance = program.skip.balance
    if balance is None or not optional or take == len(optional):
        return caps
    share = m * take / len(optional)
    caps[optional] = min(m, math.ceil(share * (1 + balance) - 1e-9))
    return caps


def stage_counts(prob: Problem, chosen: Chosen) -> np.ndarray:
    """(S,) microbatches visiting each stage."""
    return prob.members[[prob.row[t] for t, _ in chosen]].sum(axis=0)


def within_caps(prob: Problem, chosen: Chosen) -> bool:
    return bool((stage_counts(prob, chosen) <= prob.caps).all())


def _fits(prob: Problem, counts: np.ndarray, remaining: int) -> np.ndarray:
    """(T,) whether adding one path of each template to `counts` keeps the caps and leaves
    room for `remaining` more paths (each path needs its k stages distinct: possible iff
    sum_s min(room_s, remaining) >= k x remaining, a b-matching count)."""
    new = counts[None, :] + prob.members
    room = prob.caps[None, :] - new
    per_path = prob.members[0].sum()  # mandatory stages count on both sides alike
    return (room >= 0).all(axis=1) & (np.minimum(room, remaining).sum(axis=1) >= per_path * remaining)


def message_matrices(program: Program, costs: Costs) -> dict[str, np.ndarray]:
    return {s.name: costs.msg_matrix(costs.boundary[s.name]) for s in program.segments}


def visits(program: Program) -> int:
    """Stages each path visits: S - k*S (docs/design.md §4, `pgc.ir.policy`)."""
    return stages_visited(program)


def skip_sets(program: Program) -> tuple[list[int], list[int], int]:
    """(skippable stage indices, mandatory stage indices, skippable stages each path visits):
    stage 0 and (chain) the last stage, never-skip and unskippable stages are mandatory."""
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
    return optional, mandatory, take


def legal_templates(program: Program) -> tuple[tuple[int, ...], ...]:
    """Every stage sequence the policy allows: stage 0 first, (chain) the last stage last,
    never-skip stages kept, only skippable stages skipped, at most `swap.max_swaps` swaps of
    adjacent stages j, j+1 that are both visited and both skippable. Sorted, deduplicated.
    Past MAX_TEMPLATES: every stage set in model order is kept and swap variants are added
    set by set while they fit, so the visit caps stay exactly reachable (`_fits`); only when
    the stage sets alone are too many are they an evenly spaced sample of all of them (in the
    combinatorial number system), so each stage keeps about its share of the templates (a
    lexicographic prefix would leave the last stages out entirely)."""
    optional, mandatory, take = skip_sets(program)
    total = math.comb(len(optional), take)
    if total <= MAX_TEMPLATES:
        sets = list(combinations(optional, take))
    else:
        ranks = sorted({i * total // MAX_TEMPLATES for i in range(MAX_TEMPLATES)})
        sets = [tuple(optional[j] for j in _unrank(r, len(optional), take)) for r in ranks]
    bases = [tuple(sorted(mandatory + list(chosen))) for chosen in sets]
    out: set[tuple[int, ...]] = set(bases)
    for base in bases:
        variants = _with_swaps(base, set(optional), program.swap.max_swaps,
                               MAX_TEMPLATES - len(out) + 2)
        if len(out) + len(variants) - 1 > MAX_TEMPLATES:
            break
        out.update(variants)
    return tuple(sorted(out))


def _unrank(rank: int, n: int, k: int) -> tuple[int, ...]:
    """The rank-th k-subset of range(n) in lexicographic order."""
    out = []
    x = 0
    for left in range(k, 0, -1):
        while math.comb(n - x - 1, left - 1) <= rank:
            rank -= math.comb(n - x - 1, left - 1)
            x += 1
        out.append(x)
        x += 1
    return tuple(out)


def _with_swaps(base: tuple[int, ...], swappable: set[int], max_swaps: int,
                limit: int = MAX_TEMPLATES) -> list[tuple[int, ...]]:
    """`base` plus every variant with up to max_swaps non-overlapping swaps of neighbours
    (j, j+1) that are consecutive in the model and both swappable: fewest swaps first, then
    in lexicographic order of the swapped positions; at most `limit` sequences in all. A path
    of P spots holds at most ceil(P / 2) non-overlapping swaps, so a huge `max_swaps` costs
    no more than that."""
    spots = [p for p in range(len(base) - 1)
             if base[p + 1] == base[p] + 1 and base[p] in swappable and base[p + 1] in swappable]
    result = [base]
    for n in range(1, min(max_swaps, (len(spots) + 1) // 2) + 1):
        for chosen in _apart(spots, n, 0, -2):
            seq = list(base)
            for p in chosen:
                seq[p], seq[p + 1] = seq[p + 1], seq[p]
            result.append(tuple(seq))
            if len(result) >= limit:
                return result
    return result


def _apart(spots: list[int], n: int, start: int, last: int) -> Iterator[tuple[int, ...]]:
    """n-subsets of spots[start:], each spot at least 2 after the previous one (and after
    `last`), lexicographically: `combinations` without the overlapping ones, generated
    directly."""
    if n == 0:
        yield ()
        return
    for i in range(start, len(spots) - n + 1):
        if spots[i] - last >= 2:
            for rest in _apart(spots, n - 1, i + 1, spots[i]):
                yield (spots[i], *rest)


def path_cost(prob: Problem, template: tuple[int, ...], workers: list[int],
              node: np.ndarray) -> float:
    """The cost all_paths minimises, for a given choice of replicas."""
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


def construct(prob: Problem, lam: float) -> Chosen:
    """Greedy routing in admission order with load penalty `lam` x routed seconds."""
    load = np.zeros(prob.work.shape[1])
    counts = np.zeros(len(prob.stages), dtype=int)
    chosen = []
    for k, origin in enumerate(prob.origins):
        costs, paths = all_paths(prob, origin, prob.node_cost(load, lam))
        fits = _fits(prob, counts, len(prob.origins) - k - 1)
        if fits.any():  # may fail on a sampled template list (MAX_TEMPLATES): repaired below
            costs = np.where(fits, costs, np.inf)
        i = int(costs.argmin())
        counts += prob.members[i]
        template, workers = prob.templates[i], [int(w) for w in paths[i]]
        for w, sec in _path_work(prob, template, workers):
            load[w] += sec
        chosen.append((template, workers))
    return repair(prob, chosen)


def _overflow(prob: Problem, counts: np.ndarray) -> np.ndarray:
    """Visits over the caps, summed, for each row of `counts` (..., S)."""
    return np.maximum(counts - prob.caps, 0).sum(axis=-1)


def repair(prob: Problem, chosen: Chosen) -> Chosen:
    """Bring a routing within the visit caps when the greedy could not (the b-matching test in
    `_fits` is exact only for the full template list, not for a sample of it): re-route one
    microbatch at a time to the template that lowers the overflow most, cheapest first."""
    counts = stage_counts(prob, chosen)
    over = int(_overflow(prob, counts))
    if not over:
        return chosen
    chosen = list(chosen)
    zero = prob.node_cost(np.zeros(prob.work.shape[1]), 0.0)
    paths = {o: all_paths(prob, o, zero) for o in set(prob.origins)}
    while over:
        best = None
        for mb, (t, _) in enumerate(chosen):
            rest = counts - prob.members[prob.row[t]]
            after = _overflow(prob, rest[None, :] + prob.members)
            cost = paths[prob.origins[mb]][0]
            i = int(np.lexsort((cost, after))[0])
            if best is None or (after[i], cost[i]) < best[:2]:
                best = (int(after[i]), float(cost[i]), mb, i)
        assert best is not None
        if best[0] >= over:
            break  # no single move helps: leave it to the caller's note
        over, _, mb, i = best
        counts = counts - prob.members[prob.row[chosen[mb][0]]] + prob.members[i]
        chosen[mb] = (prob.templates[i], [int(w) for w in paths[prob.origins[mb]][1][i]])
    return chosen


def construct_pinned(prob: Problem, share_penalty: float) -> Chosen:
    """Every microbatch of an origin on one fixed path, the origins' paths kept apart: origins
    choose in turn the cheapest path, a worker
    already taken by another origin costing `share_penalty` x its seconds extra. Without
    shared workers no microbatch waits for another origin's: the schedule of each origin is
    a plain ring pipeline, which any list order runs near its bound. The origin with the
    slowest best path chooses first."""
    taken = np.zeros(prob.work.shape[1])
    zero = prob.node_cost(taken, 0.0)
    origins = list(dict.fromkeys(prob.origins))
    alone = {o: float(all_paths(prob, o, zero)[0].min()) for o in origins}
    pinned: dict[int, tuple[tuple[int, ...], list[int]]] = {}
    for origin in sorted(origins, key=lambda o: (-alone[o], o)):
        costs, paths = all_paths(prob, origin, prob.node_cost(taken, share_penalty))
        i = int(costs.argmin())
        pinned[origin] = (prob.templates[i], [int(w) for w in paths[i]])
        for w, sec in _path_work(prob, *pinned[origin]):
            taken[w] += sec
    return [pinned[o] for o in prob.origins]


def lower_bound(prob: Problem) -> float:
    """A bound on the pipeline phase valid for every routing of this placement (a relaxation:
    each term ignores the others). Per origin: at most `inflight` of its microbatches are in
    flight, each for at least its cheapest round trip (compute and message arrival times on
    an empty network), counted in whole rounds of slots and with the origin opening and
    closing the slots one compute at a time (pgc.sim.bound.slot_rounds, the one
    implementation of that term); and the origin's own compute. Fluid: all body work over the body workers' total speed."""
    zero = prob.node_cost(np.zeros(prob.work.shape[1]), 0.0)
    per_origin: dict[int, int] = {}
    for o in prob.origins:
        per_origin[o] = per_origin.get(o, 0) + 1
    bound = 0.0
    for o, n in per_origin.items():
        trip = float(all_paths(prob, o, zero)[0].min()) + float(prob.work[0, o])
        first = prob.segs[0]  # the forward that opens a slot at o, and its backward closing it
        opens = float(prob.costs.fwd[first][o] + prob.costs.bwd[first][o])
        bound = max(bound, slot_rounds([trip] * n, prob.inflight, opens), n * prob.work[0, o])
    speed = prob.costs.speed
    body = np.unique(np.concatenate(prob.groups[1:])) if len(prob.groups) > 1 else None
    if body is not None and len(body):
        # work in fastest-worker seconds: a path's cheapest body work, over all paths
        unit = min(sum(float((prob.work[s, prob.groups[s]] * speed[prob.groups[s]]).min())
                       for s in t[1:]) for t in prob.templates)
        bound = max(bound, len(prob.origins) * unit / float(speed[body].sum()))
    return bound


def dp_cost(prob: Problem) -> float:
    """Predicted seconds of one all_paths call (reference machine, see search.py)."""
    length = len(prob.templates[0])
    width = max(len(g) for g in prob.groups)
    return 1.5e-4 + 3e-7 * len(prob.templates) * length * width


def sim_cost(prob: Problem) -> float:
    """Predicted seconds of one fast simulation."""
    return 8e-5 * len(prob.origins) * (len(prob.templates[0]) + 1)


def judge_cost(prob: Problem) -> float:
    """Predicted seconds of one order pass + pgc.sim run."""
    return 5e-4 * len(prob.origins) * (len(prob.templates[0]) + 1)


def simulate(prob: Problem, chosen: Chosen) -> FastResult:
    return simulate_routes(prob.costs, [route_of(prob, t, w) for t, w in chosen], prob.inflight)


@dataclass(frozen=True)
class Solution:
    starts: tuple[tuple[float, str, Chosen], ...]  # (fast time, how, construction), best first
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
        res = simulate(prob, chosen)
        search.charge(len(prob.origins) * dp_cost(prob) + sim_cost(prob))
        starts.append((prob.score(res), f"greedy lambda={lam}", chosen))
        if best_res is None or prob.score(res) < prob.score(best_res):
            best, best_res, best_lam = chosen, res, lam
        search.tick(f"construct lambda={lam}: {res.makespan:.2f} s")
    assert best is not None and best_res is not None
    for penalty in (1.0, 10.0):
        chosen = construct_pinned(prob, penalty)
        if not within_caps(prob, chosen):
            continue  # one path per origin rarely shares the stages out evenly
        starts.append((prob.score(simulate(prob, chosen)), f"pinned paths, sharing penalty {penalty}",
                       chosen))
    starts.sort(key=lambda x: x[0])
    search.note(f"{len(prob.templates)} legal stage sequences, {len(prob.origins)} microbatches; "
                f"lower bound {bound:.2f} s (fast simulator's model, any routing)")
    search.note(f"greedy construction, load weights {list(lambdas)}: best lambda={best_lam} "
                f"-> {prob.score(best_res):.2f} s (fast simulator)")
    improved, res, why = improve(prob, best, best_res, best_lam, bound, tolerance, search)
    search.note(f"local search (fast simulator): {prob.score(res):.2f} s, collisions "
                f"{best_res.collisions} -> {res.collisions}, {why}")
    return Solution(tuple(starts), best, improved, prob.score(best_res), prob.score(res), bound)


JUDGED = 4  # constructions the simulator judges (the best by the fast simulator)


def _key(prob: Problem, res: FastResult) -> tuple[float, int, float]:
    """The objective (`Problem.score`) first; then fewer collisions and a lower total finish
    time, so the search crosses plateaus towards schedules with less waiting."""
    return (round(prob.score(res), 9), res.collisions, float(res.finish.sum()))


def improve(prob: Problem, chosen: Chosen, res: FastResult, lam: float, bound: float,
            tolerance: float, search: Search) -> tuple[Chosen, FastResult, str]:
    """Re-route one microbatch at a time (latest finish first); accept strict improvements of
    (makespan, total finish). O(passes x M x candidates x simulation)."""
    chosen = list(chosen)
    moves = passes = 0
    while True:
        if prob.score(res) <= bound * (1 + tolerance):
            return chosen, res, (f"stopped within {tolerance:.0%} of the bound after {passes} "
                                 f"passes, {moves} moves")
        passes += 1
        gained = False
        for mb in np.argsort(-res.finish, kind="stable"):
            if search.out_of_time():
                return chosen, res, f"stopped at the work budget after {moves} moves"
            search.charge(2 * dp_cost(prob))
            if (prob.caps < len(prob.origins)).any():  # exchanges: one DP per origin
                search.charge(len(set(prob.origins)) * dp_cost(prob))
            for trial in trials(prob, chosen, int(mb), lam):
                trial_res = simulate(prob, trial)
                search.charge(sim_cost(prob))
                if _key(prob, trial_res) < _key(prob, res):
                    chosen, res, gained = trial, trial_res, True
                    moves += 1
                    break
            search.tick(f"local search pass {passes}: {prob.score(res):.2f} s ({moves} moves)")
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
    origin = prob.origins[mb]
    options: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}
    for node in (loaded, prob.node_cost(load, 0.0)):
        for t, ws in zip(prob.templates, all_paths(prob, origin, node)[1]):
            key = (t, tuple(int(w) for w in ws))
            if key not in options:
                options[key] = path_cost(prob, t, list(key[1]), loaded)
    current = (chosen[mb][0], tuple(chosen[mb][1]))
    room = prob.caps - stage_counts(prob, chosen[:mb] + chosen[mb + 1:])
    ranked = sorted((c, k) for k, c in options.items()
                    if k != current and (prob.members[prob.row[k[0]]] <= room).all())
    return [(t, list(ws)) for _, (t, ws) in ranked[:12]]


def exchanges(prob: Problem, chosen: Chosen, mb: int, lam: float, limit: int = 6) -> list[Chosen]:
    """Routings where mb and another microbatch trade their stage sequences, each then on its
    cheapest replicas: the stage counts stay as they are, so under tight visit caps (where
    most single re-routes are refused) the search can still move work between stages' paths.
    The `limit` cheapest by the loaded path cost."""
    load = np.zeros(prob.work.shape[1])
    for t, ws in chosen:
        for w, sec in _path_work(prob, t, ws):
            load[w] += sec
    node = prob.node_cost(load, max(lam, 0.05))
    best = {o: all_paths(prob, o, node) for o in set(prob.origins)}
    mine = chosen[mb][0]
    options = []
    for other, (theirs, _) in enumerate(chosen):
        if other == mb or set(theirs) == set(mine):
            continue
        a_cost, a_ws = best[prob.origins[mb]]
        b_cost, b_ws = best[prob.origins[other]]
        ta, tb = prob.row[theirs], prob.row[mine]
        cost = float(a_cost[ta] + b_cost[tb])
        trial = list(chosen)
        trial[mb] = (theirs, [int(w) for w in a_ws[ta]])
        trial[other] = (mine, [int(w) for w in b_ws[tb]])
        options.append((cost, other, trial))
    options.sort(key=lambda x: (x[0], x[1]))
    return [trial for _, _, trial in options[:limit]]


def trials(prob: Problem, chosen: Chosen, mb: int, lam: float, singles: int = 12) -> list[Chosen]:
    """The local-search neighbourhood of mb: re-route it alone (within the visit caps), then,
    when caps bind, trade stage sequences with another microbatch."""
    out = [chosen[:mb] + [cand] + chosen[mb + 1:] for cand in alternatives(prob, chosen, mb, lam)[:singles]]
    if (prob.caps < len(prob.origins)).any():
        out += exchanges(prob, chosen, mb, lam)
    return out


def to_program(program: Program, prob: Problem, chosen: Chosen) -> Program:
    """`program` with the routes of `chosen` as its paths."""
    names = prob.costs.workers
    paths = []
    for mb, (template, workers) in enumerate(chosen):
        hops = tuple(Hop(seg, names[w]) for seg, w in route_of(prob, template, workers))
        paths.append(Path(mb, origin=names[workers[0]], hops=hops))
    return replace(program, paths=tuple(paths))
