"""Combinatorial pieces of placement: capacitated clustering by link cost, bottleneck
matching between replica groups, and open/closed TSP over groups. Small pure functions over
dense numpy cost matrices (workers or groups by index)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment


def symmetric(m: np.ndarray) -> np.ndarray:
    """Round-trip cost: a message each way (activations forward, gradients back)."""
    out = m + m.T
    return np.where(np.isfinite(out), out, 1e9)


def capacitated_clusters(dist: np.ndarray, items: list[int], sizes: list[int],
                         rounds: int = 8) -> list[list[int]]:
    """Split `items` into clusters of exactly `sizes` with small intra-cluster distance:
    k-medoids whose assignment step is a linear assignment of items to cluster slots
    (a capacitated k-medoids, cf. Mulvey & Beck 1984), seeded by farthest-point sampling.
    Deterministic. O(rounds x n^3) for n items (the assignment solver)."""
    n_items, k = len(items), len(sizes)
    assert sum(sizes) == n_items
    sub = dist[np.ix_(items, items)]
    medoids = [int(sub.sum(axis=1).argmin())]
    while len(medoids) < k:  # farthest point from the chosen medoids
        medoids.append(int(sub[:, medoids].min(axis=1).argmax()))
    slot_cluster = np.repeat(np.arange(k), sizes)
    labels = np.zeros(n_items, dtype=int)
    for _ in range(rounds):
        cost = sub[:, [medoids[c] for c in slot_cluster]]
        rows, cols = linear_sum_assignment(cost)
        new = np.empty(n_items, dtype=int)
        new[rows] = slot_cluster[cols]
        moved = not np.array_equal(new, labels)
        labels = new
        medoids = [_medoid(sub, np.flatnonzero(labels == c)) for c in range(k)]
        if not moved:
            break
    return [[items[i] for i in np.flatnonzero(labels == c)] for c in range(k)]


def _medoid(sub: np.ndarray, members: np.ndarray) -> int:
    return int(members[sub[np.ix_(members, members)].sum(axis=1).argmin()])


def bottleneck_matching(cost: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """Matching of size min(rows, cols) minimising its largest edge (bottleneck assignment):
    binary search over the sorted edge costs, from the bound max_row min_col, with a linear
    assignment on the 0/1 "edge above threshold" matrix as the feasibility test.
    O(log E x n^3). Returns (bottleneck, (row, col) pairs)."""
    rows, cols = cost.shape
    if rows > cols:
        value, pairs = bottleneck_matching(cost.T)
        return value, [(r, c) for c, r in pairs]
    if rows * cols < 1000:
        # exact in one assignment: give the edges distinct ranks in cost order and weights
        # 2**rank; a matching whose largest rank is r weighs less than 2**(r+1), so the
        # lightest matching has the smallest possible largest edge
        ranks = np.empty(rows * cols)
        ranks[np.argsort(cost, axis=None, kind="stable")] = np.arange(rows * cols)
        r, c = linear_sum_assignment(np.exp2(ranks).reshape(cost.shape))
        return float(cost[r, c].max()), [(int(a), int(b)) for a, b in zip(r, c)]
    values = np.unique(cost)
    lo = int(np.searchsorted(values, cost.min(axis=1).max()))
    hi = len(values) - 1
    best = linear_sum_assignment(cost)
    while lo < hi:
        mid = (lo + hi) // 2
        above = cost > values[mid]
        r, c = linear_sum_assignment(above)
        if not above[r, c].any():
            best, hi = (r, c), mid
        else:
            lo = mid + 1
    r, c = best
    if (cost[r, c] > values[lo]).any():  # lo was never tested: it is the answer, take it
        r, c = linear_sum_assignment(cost > values[lo])
    return float(values[lo]), [(int(a), int(b)) for a, b in zip(r, c)]


def tsp_path(dist: np.ndarray, start: int | None = 0, closed: bool = False) -> tuple[float, list[int]]:
    """Shortest Hamiltonian path over all nodes from `start` (any start if None), or the
    shortest tour when `closed`. Exact Held-Karp bitmask DP for n <= 12 (O(2^n n^2)); nearest
    neighbour plus 2-opt beyond that."""
    n = len(dist)
    if n <= 1:
        return 0.0, list(range(n))
    if n > 12:
        return _two_opt(dist, start if start is not None else 0, closed)
    if start is not None:
        return _held_karp(dist, start, closed)
    if closed:  # a tour: any start gives the same length
        return _held_karp(dist, 0, True)
    return _held_karp(dist, None, False)  # open path, every node a possible start


@functools.lru_cache(maxsize=16)
def _masks_by_size(n: int) -> tuple[np.ndarray, ...]:
    masks = np.arange(1 << n)
    sizes = np.array([bin(m).count("1") for m in range(1 << n)])
    return tuple(masks[sizes == k] for k in range(n + 1))


def _held_karp(dist: np.ndarray, start: int | None, closed: bool) -> tuple[float, list[int]]:
    """Held-Karp (1962), vectorised over all subsets of one size at a time. `start` None: the
    path may start anywhere (all singletons start at cost 0)."""
    n = len(dist)
    bits = 1 << np.arange(n)
    cost = np.full((1 << n, n), np.inf)
    parent = np.full((1 << n, n), -1, dtype=int)
    for s in range(n) if start is None else (start,):
        cost[1 << s, s] = 0.0
    for size in range(1, n):
        masks = _masks_by_size(n)[size]
        if start is not None:
            masks = masks[(masks & (1 << start)) != 0]
        total = cost[masks][:, :, None] + dist[None, :, :]  # (mask, last, next)
        last = total.argmin(axis=1)
        value = np.take_along_axis(total, last[:, None, :], axis=1)[:, 0, :]
        free = (masks[:, None] & bits[None, :]) == 0
        rows = (masks[:, None] | bits[None, :])[free]
        cols = np.broadcast_to(np.arange(n), free.shape)[free]
        better = value[free] < cost[rows, cols]
        cost[rows[better], cols[better]] = value[free][better]
        parent[rows[better], cols[better]] = last[free][better]
    full = (1 << n) - 1
    ends = cost[full] + (dist[:, start] if closed and start is not None else 0.0)
    end = int(ends.argmin())
    total_cost = float(ends[end])
    order, mask = [], full
    while end >= 0:
        order.append(end)
        end, mask = int(parent[mask, end]), mask ^ (1 << end)
    return total_cost, order[::-1]


def _two_opt(dist: np.ndarray, start: int, closed: bool) -> tuple[float, list[int]]:
    n = len(dist)
    order, rest = [start], set(range(n)) - {start}
    while rest:
        nxt = min(rest, key=lambda j: dist[order[-1], j])
        order.append(nxt)
        rest.remove(nxt)

    def length(o: list[int]) -> float:
        edges = list(zip(o, o[1:])) + ([(o[-1], o[0])] if closed else [])
        return float(sum(dist[a, b] for a, b in edges))

    best, improved = length(order), True
    while improved:
        improved = False
        for i, j in itertools.combinations(range(1, n), 2):
            cand = order[:i] + order[i:j + 1][::-1] + order[j + 1:]
            value = length(cand)
            if value < best - 1e-12:
                order, best, improved = cand, value, True
    return best, order
