"""DT-FM's placement baseline: a genetic algorithm over partitions of the workers into replica
groups, scored by DT-FM's cost (pgc.planner.dtfm), and its fixed full-pipeline chains.

Follows DT-FM §3.3 (GCMA, itself after Bui & Moon's hybrid GA for graph partitioning):
steady state, population 100, 4,900 trials; a trial picks two parents by binary tournament,
aligns the second parent's group labels to the first by maximum overlap (linear assignment),
takes each worker's label from either parent, repairs group sizes, mutates by one swap with
probability 0.5, tries one improving swap (the memetic step) and replaces the
worst member when better. Stage order = the TSP order of the groups; chains = bottleneck
matchings between consecutive groups.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from pgc.ir.types import Hop, Path, Program
from pgc.planner.costs import Costs
from pgc.planner.dtfm import DtfmCost
from pgc.planner.graphs import bottleneck_matching
from pgc.sim.cost import group_sync_bytes


def dtfm_cost_of(program: Program, costs: Costs | None = None) -> DtfmCost:
    """DT-FM's objective for this program (c_pp = boundary x microbatches per replica chain)."""
    costs = costs or Costs.of(program)
    stages = program.stages
    chains = min(s.replicas or 1 for s in stages)
    boundary = max(costs.boundary.values())
    return DtfmCost(costs.latency, costs.inv_bw, c_dp=group_sync_bytes(program, stages[1].name),
                    c_pp=boundary * program.microbatches / chains,
                    closed=program.layout == "ring")


@dataclass(frozen=True)
class GaResult:
    groups: list[list[int]]  # in stage order
    cost: float
    history: list[float]  # best cost after every 100 trials


def run_ga(program: Program, seed: int, population: int = 100, trials: int = 4900,
           costs: Costs | None = None) -> GaResult:
    """Best partition found (groups in the TSP order: group i holds stage i)."""
    costs = costs or Costs.of(program)
    objective = dtfm_cost_of(program, costs)
    sizes = [s.replicas or 1 for s in program.stages]
    n = sum(sizes)
    rng = np.random.default_rng(seed)
    bounds = np.cumsum([0] + sizes)

    def groups_of(labels: np.ndarray) -> list[list[int]]:
        return [list(np.flatnonzero(labels == g)) for g in range(len(sizes))]

    def score(labels: np.ndarray) -> float:
        return objective(groups_of(labels))

    def random_labels() -> np.ndarray:
        labels = np.empty(n, dtype=int)
        perm = rng.permutation(n)
        for g in range(len(sizes)):
            labels[perm[bounds[g]:bounds[g + 1]]] = g
        return labels

    pop = [random_labels() for _ in range(population)]
    fit = [score(x) for x in pop]
    history = []
    for trial in range(trials):
        a, b = (_tournament(rng, fit) for _ in range(2))
        child = _crossover(rng, pop[a], pop[b], sizes)
        if rng.random() < 0.5:
            child = _swap(rng, child)
        value = score(child)
        for _ in range(1):  # memetic step: a first-improvement swap
            trial_labels = _swap(rng, child)
            trial_value = score(trial_labels)
            if trial_value < value:
                child, value = trial_labels, trial_value
        worst = int(np.argmax(fit))
        if value < fit[worst] and not any(np.array_equal(child, x) for x in pop):
            pop[worst], fit[worst] = child, value
        if trial % 100 == 99:
            history.append(min(fit))
    best = int(np.argmin(fit))
    groups = groups_of(pop[best])
    _, order = objective.pipe(groups)
    if program.layout == "chain" and order and sizes[order[0]] != sizes[0]:
        order = order[::-1]
    return GaResult([groups[g] for g in order], fit[best], history)


def _tournament(rng: np.random.Generator, fit: list[float]) -> int:
    i, j = rng.integers(len(fit), size=2)
    return int(i if fit[i] <= fit[j] else j)


def _crossover(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, sizes: list[int]) -> np.ndarray:
    k = len(sizes)
    overlap = np.array([[np.sum((a == i) & (b == j)) for j in range(k)] for i in range(k)], float)
    same = np.array([[sizes[i] == sizes[j] for j in range(k)] for i in range(k)])
    rows, cols = linear_sum_assignment(np.where(same, -overlap, 1e6))
    relabel = np.empty(k, dtype=int)
    relabel[cols] = rows
    b = relabel[b]
    child = np.where(rng.random(len(a)) < 0.5, a, b)
    counts = np.bincount(child, minlength=k)
    for g in range(k):  # repair: move random surplus members to groups that lack some
        while counts[g] > sizes[g]:
            member = rng.choice(np.flatnonzero(child == g))
            short = np.flatnonzero(counts < sizes)
            target = int(rng.choice(short))
            child[member] = target
            counts[g] -= 1
            counts[target] += 1
    return child


def _swap(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    while True:
        i, j = rng.integers(len(out), size=2)
        if out[i] != out[j]:
            out[i], out[j] = out[j], out[i]
            return out


def chains_program(program: Program, groups: list[list[int]], chains: int | None = None) -> Program:
    """DT-FM's fixed full pipelines: group i holds stage i; consecutive groups are aligned by
    bottleneck matching into `chains` chains (default: the smallest group); microbatch m runs
    on chain m mod chains; unmatched workers stay idle."""
    costs = Costs.of(program)
    names = costs.workers
    width = chains or min(len(g) for g in groups)
    lanes = [[w] for w in groups[0][:width]]
    if width < len(groups[0]):  # pick the origins that match the next group best
        _, pairs = bottleneck_matching(_edge(costs, groups[0], groups[1]))
        lanes = [[groups[0][r]] for r, _ in pairs[:width]]
    for nxt in groups[1:]:
        heads = [lane[-1] for lane in lanes]
        _, pairs = bottleneck_matching(_edge(costs, heads, nxt))
        for r, c in pairs:
            lanes[r].append(nxt[c])
    placement = tuple((s.name, tuple(names[w] for w in g)) for s, g in zip(program.stages, groups))
    seg_of = [s.segments[0] for s in program.stages]
    paths = []
    for mb in range(program.microbatches):
        lane = lanes[mb % width]
        hops = [Hop(seg, names[w]) for seg, w in zip(seg_of, lane)]
        if program.layout == "ring":
            hops.append(Hop("origin.epi", names[lane[0]]))
        paths.append(Path(mb, origin=names[lane[0]], hops=tuple(hops)))
    return replace(program, placement=placement, paths=tuple(paths), schedule="explicit",
                   skip=replace(program.skip, ratio=(0, 1)))


def _edge(costs: Costs, a: list[int], b: list[int]) -> np.ndarray:
    boundary = max(costs.boundary.values())
    return costs.latency[np.ix_(a, b)] + boundary * costs.inv_bw[np.ix_(a, b)]
