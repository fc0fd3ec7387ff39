"""Would networkx replace pgc's hand-written graph algorithms? Side by side in one run, in CPU
seconds (time.process_time), on the sizes pgc meets:

* the verifier's deadlock search: every blocked worker waits for exactly one other, so the
  wait-for graph is a functional graph and the cycle is found by walking it until a worker
  repeats (pgc.passes.verify); networkx: build a DiGraph, nx.find_cycle;
* the planner's group order (pgc.planner.graphs.tsp_path): exact Held-Karp up to 12 groups;
  networkx has only approximate TSP (nx.approximation.traveling_salesman_problem), so the
  tour length is compared too;
* the planner's assignments (scipy's linear_sum_assignment inside bottleneck_matching and
  capacitated_clusters); networkx: nx.bipartite.minimum_weight_full_matching.

Run: PYTHONPATH=. python bench/networkx_bench.py   Writes bench/results/networkx_bench.json
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment

from pgc.planner.graphs import tsp_path

ROOT = Path(__file__).resolve().parent.parent


def cpu(fn: Callable[[], object], repeat: int) -> float:
    """CPU seconds per call, over `repeat` calls."""
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t0) / repeat


def walk_cycle(waits: list[int], first: int) -> list[int]:
    """The verifier's way: follow the single out-edge until a node repeats."""
    chain: list[int] = []
    seen: set[int] = set()
    w = first
    while w not in seen:
        chain.append(w)
        seen.add(w)
        w = waits[w]
    return chain[chain.index(w):]


def nx_cycle(waits: list[int], first: int) -> list[int]:
    g = nx.DiGraph((i, j) for i, j in enumerate(waits))
    return [u for u, _ in nx.find_cycle(g, source=first)]


def tour_length(dist: np.ndarray, order: list[int]) -> float:
    return float(sum(dist[a, b] for a, b in zip(order, order[1:] + order[:1])))


def main() -> dict[str, object]:
    rng = random.Random(0)
    out: dict[str, object] = {}
    n = 256  # workers
    waits = list(range(1, n)) + [n // 2]  # a tail into a cycle of n/2 workers
    assert sorted(walk_cycle(waits, 0)) == sorted(nx_cycle(waits, 0))
    out["cycle_256_workers"] = {"walk_s": cpu(lambda: walk_cycle(waits, 0), 200),
                                "networkx_s": cpu(lambda: nx_cycle(waits, 0), 200)}
    rows = []
    for _ in range(5):
        pts = np.array([[rng.random(), rng.random()] for _ in range(10)])
        dist = np.linalg.norm(pts[:, None] - pts[None, :], axis=2)
        g = nx.from_numpy_array(dist)
        exact, _ = tsp_path(dist, 0, closed=True)
        approx = nx.approximation.traveling_salesman_problem(g, cycle=True)[:-1]
        rows.append({"held_karp_s": cpu(lambda d=dist: tsp_path(d, 0, closed=True), 5),
                     "networkx_s": cpu(lambda g=g: nx.approximation.traveling_salesman_problem(
                         g, cycle=True), 5),
                     "networkx_length_over_exact": tour_length(dist, approx) / exact})
    out["tsp_10_groups"] = rows
    cost = np.array([[rng.random() for _ in range(64)] for _ in range(64)])
    b = nx.Graph()
    b.add_weighted_edges_from((("r", i), ("c", j), cost[i, j]) for i in range(64) for j in range(64))
    top = [("r", i) for i in range(64)]
    mine = cost[linear_sum_assignment(cost)].sum()
    theirs = nx.bipartite.minimum_weight_full_matching(b, top)
    theirs_cost = sum(cost[u[1], v[1]] for u, v in theirs.items() if u[0] == "r")
    assert abs(mine - theirs_cost) < 1e-9
    out["assignment_64x64"] = {
        "scipy_s": cpu(lambda: linear_sum_assignment(cost), 50),
        "networkx_s": cpu(lambda: nx.bipartite.minimum_weight_full_matching(b, top), 5)}
    return out


if __name__ == "__main__":
    result = main()
    print(json.dumps(result, indent=2))
    (ROOT / "bench/results/networkx_bench.json").write_text(json.dumps(result, indent=2) + "\n")
