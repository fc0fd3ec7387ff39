"""Dense cost arrays of a Program for the planner's searches.

The cost model is docs/design.md §4's: forward time per (segment, worker) from a measured time, a
SkipPipe-style seconds-per-sample-per-layer figure, or FLOPs over the worker's rate; backward =
`cost.backward_ratio` x forward; a message costs latency + bytes / bandwidth + overhead.
Building a `Costs` is O(W^2 + segments * W) over the workers it covers (`planned_workers`);
every lookup afterwards is O(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from pgc.capture.memory import recomputed
from pgc.diagnostics import error
from pgc.ir.topology import link_table
from pgc.ir.types import Program, Segment, Worker
from pgc.sim.cost import stage_sync_bytes, wire_bytes

LOSS_ROLES = ("epilogue", "last", "whole")


def fastest_rate(program: Program) -> float:
    """The highest worker rate: O(W) once per Program object, then O(1) (hashing a Program
    would itself cost O(W), so the cache goes by identity and holds the object)."""
    hit = _FASTEST.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    if len(_FASTEST) >= 8:
        _FASTEST.clear()
    value = max(w.rate for w in program.workers)
    _FASTEST[id(program)] = (program, value)
    return value


_FASTEST: dict[int, tuple[Program, float]] = {}


def forward_time(program: Program, seg: Segment, worker: Worker) -> float:
    """Seconds of one microbatch's forward through `seg` on `worker`: the rule of
    pgc.sim.cost (a test keeps the two equal). Precedence: a measured `seg.fwd_time`, then
    `cost.sec_per_sample_per_layer` (SkipPipe's table: layers x samples x figure, plus
    `loss_ratio` layers for the segment computing the loss), both taken on the fastest worker
    and scaled by rate; then FLOPs over rate x efficiency."""
    fastest = fastest_rate(program)
    scale = fastest / worker.rate if worker.rate > 0 else float("inf")
    if seg.fwd_time is not None:
        return seg.fwd_time * scale
    spl = program.cost.sec_per_sample_per_layer
    if spl is not None:
        per_layer = spl * program.microbatch_size
        loss = (program.cost.loss_ratio or 0.0) * per_layer if seg.role in LOSS_ROLES else 0.0
        return (per_layer * seg.layers + loss) * scale
    if seg.flops is not None and worker.rate > 0:
        return seg.flops / (worker.rate * program.cost.efficiency)
    return 0.0


def backward_time(program: Program, seg: Segment, worker: Worker) -> float:
    """pgc.sim.cost's rule: measured, else `backward_ratio` x forward; plus one forward when
    the segment's stage recomputes its activations."""
    extra = forward_time(program, seg, worker) if recomputed(program, seg) else 0.0
    if seg.bwd_time is not None:
        return seg.bwd_time * fastest_rate(program) / worker.rate + extra
    return program.cost.backward_ratio * forward_time(program, seg, worker) + extra


def grad_bytes(program: Program, stage: str) -> float:
    """Bytes each replica of `stage` puts on the wire per sync (pgc.sim.cost's rule)."""
    return stage_sync_bytes(program, stage)


MAX_DENSE_WORKERS = 4096  # pairwise float64 tables of 4096 workers: 128 MiB each


def planned_workers(program: Program) -> tuple[Worker, ...]:
    """The workers the planner's pairwise tables cover, in declaration order: every declared
    worker while a stage waits for automatic placement (each is a candidate), else only the
    placed ones (declared but unused workers cost nothing). More than MAX_DENSE_WORKERS
    candidates is a user error at the first worker past the limit."""
    if program.auto_place:
        workers = program.workers
    else:
        placed = {w for _, group in program.placement for w in group}
        workers = tuple(w for w in program.workers if w.name in placed)
    if len(workers) > MAX_DENSE_WORKERS:
        raise error(workers[MAX_DENSE_WORKERS].span,
                    f"automatic placement compares every pair of its {len(workers)} candidate "
                    f"workers and handles at most {MAX_DENSE_WORKERS}",
                    hint="place the stages explicitly (`place s1 on [...]`), or declare fewer "
                    "workers")
    return workers


@dataclass(frozen=True)
class Costs:
    """Per-worker compute arrays and pairwise link arrays, indexed by worker position."""

    workers: tuple[str, ...]
    index: dict[str, int]
    fwd: dict[str, np.ndarray]  # segment -> seconds per worker
    bwd: dict[str, np.ndarray]
    latency: np.ndarray  # (W, W) one-way seconds; inf where no link; 0 on the diagonal
    inv_bw: np.ndarray  # (W, W) seconds per byte
    overhead: float
    boundary: dict[str, float]  # segment -> bytes of its output (and of its input gradient)
    speed: np.ndarray  # relative compute speed per worker (fastest = 1)

    @staticmethod
    def of(program: Program) -> Costs:
        workers = planned_workers(program)
        names = tuple(w.name for w in workers)
        index = {n: i for i, n in enumerate(names)}
        n = len(names)
        lat = np.full((n, n), np.inf)
        inv = np.full((n, n), np.inf)
        np.fill_diagonal(lat, 0.0)
        np.fill_diagonal(inv, 0.0)
        links = link_table(program)
        for a, b in permutations(names, 2):
            found = links.get((a, b))
            if found is not None:
                latency, bandwidth = found
                lat[index[a], index[b]] = latency
                inv[index[a], index[b]] = 1.0 / bandwidth if bandwidth > 0 else np.inf
        fwd = {s.name: np.array([forward_time(program, s, w) for w in workers])
               for s in program.segments}
        bwd = {s.name: np.array([backward_time(program, s, w) for w in workers])
               for s in program.segments}
        rates = np.array([w.rate for w in workers], dtype=float)
        fastest = fastest_rate(program)
        return Costs(
            workers=names,
            index=index,
            fwd=fwd,
            bwd=bwd,
            latency=lat,
            inv_bw=inv,
            overhead=program.cost.message_overhead,
            boundary={s.name: wire_bytes(program, s) for s in program.segments},
            speed=rates / fastest if fastest > 0 else np.ones(n),
        )

    def msg_matrix(self, nbytes: float) -> np.ndarray:
        """(W, W) seconds of one message of `nbytes`; 0 on the diagonal."""
        m = self.latency + nbytes * self.inv_bw + self.overhead
        np.fill_diagonal(m, 0.0)
        return m

    def msg(self, segment: str, a: int, b: int) -> float:
        """Seconds from sending `segment`'s boundary at worker a to its arrival at b."""
        if a == b:
            return 0.0
        return float(self.latency[a, b] + self.boundary[segment] * self.inv_bw[a, b]
                     + self.overhead)

    def nic(self, segment: str, a: int, b: int) -> tuple[float, float]:
        """(seconds a's NIC is busy, latency in flight) of `segment`'s boundary a -> b: the
        simulator's message model (pgc.sim.cost)."""
        if a == b:
            return 0.0, 0.0
        return (float(self.boundary[segment] * self.inv_bw[a, b] + self.overhead),
                float(self.latency[a, b]))

    def allreduce(self, members: list[int], nbytes: float) -> float:
        """Ring all-reduce of `nbytes` over `members` in the ring order `ring_order` gives
        (the order place_auto writes groups in): 2(n-1) steps of nbytes/n, each as slow as the
        ring's slowest link (Patarasuk & Yuan 2009), as pgc.sim.cost prices it."""
        if len(members) <= 1 or nbytes <= 0:
            return 0.0
        return self.ring_allreduce(self.ring_order(members, nbytes), nbytes)

    def ring_allreduce(self, ring: list[int], nbytes: float) -> float:
        """Ring all-reduce of `nbytes` over `ring` in the order given (latencies count even
        for no bytes, as in pgc.sim.cost)."""
        n = len(ring)
        if n <= 1:
            return 0.0
        chunk = nbytes / n
        step = max(
            self.latency[a, b] + chunk * self.inv_bw[a, b] + self.overhead
            for a, b in zip(ring, ring[1:] + ring[:1])
        )
        return float(2 * (n - 1) * step)

    def ring_order(self, members: list[int], nbytes: float) -> list[int]:
        """The ring `allreduce` prices: for groups of at most `EXACT_RING` workers the
        order whose slowest edge is fastest (then the least total), by enumeration; beyond,
        a nearest-neighbour tour."""
        dist = self.msg_matrix(nbytes / max(1, len(members)))
        if len(members) > EXACT_RING:
            return nearest_tour(dist, members)
        return bottleneck_tour(dist, members)


EXACT_RING = 7  # (n-1)!/2 rings: 360 at 7


def bottleneck_tour(dist: np.ndarray, members: list[int]) -> list[int]:
    """The closed tour over `members` (starting at the first) that minimises the slowest
    directed edge, then the sum of edges; each ring once, not its mirror. O(n!)."""
    first, rest = members[0], members[1:]
    best: tuple[float, float, list[int]] | None = None
    for perm in permutations(rest):
        if len(perm) > 1 and perm[0] > perm[-1]:
            continue  # the mirror image of a ring already seen
        tour = [first, *perm]
        edges = [float(dist[a, b]) for a, b in zip(tour, tour[1:] + tour[:1])]
        key = (max(edges), sum(edges), tour)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return best[2]


def nearest_tour(dist: np.ndarray, members: list[int]) -> list[int]:
    """A closed tour over `members` by nearest neighbour from the first. O(n^2)."""
    rest = list(members[1:])
    tour = [members[0]]
    while rest:
        last = tour[-1]
        nxt = min(rest, key=lambda m: dist[last, m] + dist[m, last])
        rest.remove(nxt)
        tour.append(nxt)
    return tour
