"""Dense cost arrays of a Program for the planner's searches, built from the one cost model
(`pgc.sim.cost`): the compute seconds of every (segment, worker) by `compute_seconds`, message
seconds by `message_seconds` and `nic_seconds` over pairwise latency and bandwidth arrays,
group sums by `group_exchange`, boundary bytes by `boundary_bytes`; a test keeps
every entry equal to the simulator's `CostTable`. Building a `Costs` is O(W^2 + segments * W)
over the workers it covers (`planned_workers`); every lookup afterwards is O(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from pgc.diagnostics import error
from pgc.ir.topology import link_table
from pgc.ir.types import Program, Worker
from pgc.sim.cost import (
    boundary_bytes,
    compute_seconds,
    fastest_rate,
    group_exchange,
    message_seconds,
    nic_seconds,
    sync_exchange_mode,
)

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
    bandwidth: np.ndarray  # (W, W) bytes per second; 0 where no link; inf on the diagonal
    overhead: float
    boundary: dict[str, float]  # segment -> bytes of its output (and of its input gradient)
    speed: np.ndarray  # relative compute speed per worker (fastest = 1)
    exchange: str = "ring"  # how group sums are priced (`pgc.sim.cost.sync_exchange_mode`)

    @staticmethod
    def of(program: Program) -> Costs:
        workers = planned_workers(program)
        names = tuple(w.name for w in workers)
        index = {n: i for i, n in enumerate(names)}
        n = len(names)
        lat = np.full((n, n), np.inf)
        bw = np.zeros((n, n))
        np.fill_diagonal(lat, 0.0)
        np.fill_diagonal(bw, np.inf)
        links = link_table(program)
        for a, b in permutations(names, 2):
            found = links.get((a, b))
            if found is not None:
                lat[index[a], index[b]], bw[index[a], index[b]] = found
        fwd: dict[str, np.ndarray] = {}
        bwd: dict[str, np.ndarray] = {}
        for seg in program.segments:
            times = np.array([compute_seconds(program, seg, w) for w in workers],
                             dtype=float).reshape(len(workers), 2)
            fwd[seg.name], bwd[seg.name] = times[:, 0].copy(), times[:, 1].copy()
        rates = np.array([w.rate for w in workers], dtype=float)
        fastest = fastest_rate(program)
        return Costs(
            workers=names,
            index=index,
            fwd=fwd,
            bwd=bwd,
            latency=lat,
            bandwidth=bw,
            overhead=program.cost.message_overhead,
            boundary={s.name: boundary_bytes(program, s) for s in program.segments},
            speed=rates / fastest if fastest > 0 else np.ones(n),
            exchange=sync_exchange_mode(program.sync),
        )

    @property
    def inv_bw(self) -> np.ndarray:
        """(W, W) seconds per byte: 0 on the diagonal, inf where no link."""
        with np.errstate(divide="ignore"):
            return 1.0 / self.bandwidth

    def msg_matrix(self, nbytes: float) -> np.ndarray:
        """(W, W) seconds of one message of `nbytes` (`message_seconds`); 0 on the diagonal,
        inf where no link."""
        with np.errstate(divide="ignore", invalid="ignore"):
            m: np.ndarray = message_seconds(nbytes, self.latency, self.bandwidth, self.overhead)
        m[np.isnan(m)] = np.inf  # no link and no bytes
        np.fill_diagonal(m, 0.0)
        return m

    def nic(self, segment: str, a: int, b: int) -> tuple[float, float]:
        """(seconds a's NIC is busy, latency in flight) of `segment`'s boundary a -> b, as the
        simulator prices a message (`pgc.sim.cost.CostTable.message`)."""
        if a == b:
            return 0.0, 0.0
        bandwidth = float(self.bandwidth[a, b])
        nic = nic_seconds(self.boundary[segment], bandwidth, self.overhead) if bandwidth > 0 \
            else float("inf")
        return nic, float(self.latency[a, b])

    def ring_allreduce(self, ring: list[int], nbytes: float) -> float:
        """One sum of `nbytes` over `ring` in the order given, as the simulator prices it
        (`pgc.sim.cost.CostTable.sync_seconds`: the spec's exchange, `group_exchange`)."""
        if len(ring) <= 1:
            return 0.0
        at = np.ix_(ring, ring)
        lat = tuple(map(tuple, self.latency[at].tolist()))
        bw = tuple(map(tuple, self.bandwidth[at].tolist()))
        return group_exchange(lat, bw, self.overhead, nbytes, self.exchange).seconds

    def ring_order(self, members: list[int], nbytes: float) -> list[int]:
        """The ring order place_auto writes groups in (the first stage's group possibly as a
        rotation or mirror of it, `route_skippipe.origin_orders`), and so the ring the simulator prices:
        for groups of at most `EXACT_RING` workers the order whose slowest edge is fastest
        (then the least total), by enumeration; beyond, a nearest-neighbour tour."""
        at = np.ix_(members, members)  # the group's own links: the same seconds, fewer of them
        with np.errstate(divide="ignore", invalid="ignore"):
            dist: np.ndarray = message_seconds(nbytes / max(1, len(members)), self.latency[at],
                                               self.bandwidth[at], self.overhead)
        dist[np.isnan(dist)] = np.inf
        np.fill_diagonal(dist, 0.0)
        if len(members) > EXACT_RING:
            return nearest_tour(dist, members)
        return bottleneck_tour(dist, members)


EXACT_RING = 7  # (n-1)!/2 rings: 360 at 7


def bottleneck_tour(dist: np.ndarray, members: list[int]) -> list[int]:
    """The closed tour over `members` (starting at the first) that minimises the slowest
    directed edge, then the sum of edges; each ring once, not its mirror (the one whose
    second worker is the lower). `dist[i, j]`: seconds from members[i] to members[j]. O(n!)."""
    rest = range(1, len(members))
    best: tuple[float, float, tuple[int, ...]] | None = None
    for perm in permutations(rest):
        if len(perm) > 1 and members[perm[0]] > members[perm[-1]]:
            continue  # the mirror image of a ring already seen
        tour = (0, *perm)
        edges = [float(dist[a, b]) for a, b in zip(tour, tour[1:] + tour[:1])]
        key = (max(edges), sum(edges), tour)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return [members[i] for i in best[2]]


def nearest_tour(dist: np.ndarray, members: list[int]) -> list[int]:
    """A closed tour over `members` by nearest neighbour from the first (the first on ties).
    `dist[i, j]`: seconds from members[i] to members[j]. O(n^2)."""
    both = (dist + dist.T).tolist()  # there and back
    rest = list(range(1, len(members)))
    tour = [0]
    while rest:
        row = both[tour[-1]]
        nxt = min(rest, key=row.__getitem__)
        rest.remove(nxt)
        tour.append(nxt)
    return [members[i] for i in tour]
