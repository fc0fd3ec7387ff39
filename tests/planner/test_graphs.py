"""Exactness of the combinatorial pieces against brute force on small random instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pgc.planner.graphs import bottleneck_matching, capacitated_clusters, tsp_path


def _length(dist: np.ndarray, order: tuple[int, ...] | list[int], closed: bool) -> float:
    edges = list(zip(order, order[1:])) + ([(order[-1], order[0])] if closed else [])
    return float(sum(dist[a, b] for a, b in edges))


@pytest.mark.parametrize("n", [2, 3, 5, 7])
@pytest.mark.parametrize("closed", [False, True])
@pytest.mark.parametrize("start", [0, None])
def test_tsp_matches_brute_force(n: int, closed: bool, start: int | None) -> None:
    rng = np.random.default_rng(n * 10 + closed)
    dist = rng.random((n, n))
    value, order = tsp_path(dist, start, closed)
    brute = min(_length(dist, p, closed) for p in itertools.permutations(range(n))
                if start is None or p[0] == start)
    assert sorted(order) == list(range(n))
    assert start is None or order[0] == start
    assert value == pytest.approx(brute)
    assert _length(dist, order, closed) == pytest.approx(value)


def test_tsp_large_falls_back_to_a_valid_tour() -> None:
    dist = np.random.default_rng(1).random((15, 15))
    value, order = tsp_path(dist, 0, closed=True)
    assert sorted(order) == list(range(15)) and order[0] == 0
    assert _length(dist, order, True) == pytest.approx(value)


@pytest.mark.parametrize("seed", range(20))
def test_bottleneck_matching_is_optimal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = (5, 5) if seed % 2 else (3, 5)
    cost = rng.random((rows, cols))
    value, pairs = bottleneck_matching(cost)
    brute = min(max(cost[i, c] for i, c in enumerate(p))
                for p in itertools.permutations(range(cols), rows))
    assert value == pytest.approx(brute)
    assert len({c for _, c in pairs}) == rows
    assert max(cost[r, c] for r, c in pairs) == pytest.approx(value)


def test_capacitated_clusters_respect_sizes_and_find_regions() -> None:
    # three far-apart regions of 4 points each: the clusters must be exactly the regions
    region = np.repeat(np.arange(3), 4)
    dist = np.where(region[:, None] == region[None, :], 1.0, 50.0)
    np.fill_diagonal(dist, 0.0)
    clusters = capacitated_clusters(dist, list(range(12)), [4, 4, 4])
    assert sorted(len(c) for c in clusters) == [4, 4, 4]
    assert sorted(sorted({int(region[i]) for i in c}) for c in clusters) == [[0], [1], [2]]


def test_bottleneck_matching_with_ties_and_large_fallback() -> None:
    rng = np.random.default_rng(7)
    tied = rng.integers(0, 3, size=(6, 6)).astype(float)
    value, _ = bottleneck_matching(tied)
    brute = min(max(tied[i, c] for i, c in enumerate(p)) for p in itertools.permutations(range(6)))
    assert value == brute
    big = rng.random((40, 40))  # beyond the single-assignment trick: binary search
    value, pairs = bottleneck_matching(big)
    assert len({c for _, c in pairs}) == 40 and max(big[r, c] for r, c in pairs) == value
    # no perfect matching avoids an edge >= value: removing them leaves none
    from scipy.optimize import linear_sum_assignment
    above = big >= value
    r, c = linear_sum_assignment(above)
    assert above[r, c].any()
