"""DT-FM's placement cost (Yuan et al., "Decentralized Training of Foundation Models in
Heterogeneous Environments", NeurIPS 2022, §3): used by the baseline benchmarks and as a
start shape of pgc's own placement search.

    DataP(C_j) = max_{d in C_j} sum_{d' in C_j} 2 (alpha_dd' + c_dp / (D_DP beta_dd'))
    PipeP      = open-loop TSP over the groups, group distance = bottleneck matching with
                 edge cost alpha + c_pp / beta
    cost       = max_j DataP(C_j) + 2 PipeP

c_dp is a stage's gradient bytes, D_DP the group size, c_pp the activation bytes one pipeline
replica sends across a stage boundary per iteration (boundary x microbatches per replica).
SkipPipe's use for the ring layout closes the tour at the origin group. O(S^2 R^2 log R + 2^S S^2)
per evaluation; bottleneck distances are cached by group contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pgc.planner.graphs import bottleneck_matching, tsp_path


@dataclass
class DtfmCost:
    """The DT-FM objective over worker-index groups for fixed link arrays."""

    latency: np.ndarray  # (W, W) seconds
    inv_bw: np.ndarray  # (W, W) seconds per byte
    c_dp: float
    c_pp: float
    closed: bool  # ring layout: tour from and back to group 0
    _pairs: dict[tuple[bytes, bytes], float] = field(default_factory=dict)
    _edge: np.ndarray | None = None
    _symmetric: bool = False

    def data(self, group: list[int]) -> float:
        if len(group) <= 1:
            return 0.0
        g = np.array(group)
        sub = 2.0 * (self.latency[np.ix_(g, g)] + self.c_dp / len(g) * self.inv_bw[np.ix_(g, g)])
        np.fill_diagonal(sub, 0.0)
        return float(sub.sum(axis=1).max())

    def distance(self, a: list[int], b: list[int]) -> float:
        return self._distance(_key(a), _key(b), a, b)

    def _distance(self, ka: bytes, kb: bytes, a: list[int], b: list[int]) -> float:
        got = self._pairs.get((ka, kb))
        if got is None:
            if self._edge is None:
                self._edge = self.latency + self.c_pp * self.inv_bw
                self._symmetric = bool(np.array_equal(self._edge, self._edge.T))
            edge = self._edge[a][:, b]
            got = self._pairs[(ka, kb)] = bottleneck_matching(edge)[0]
            if self._symmetric:  # the reverse direction is the transpose: same bottleneck
                self._pairs[(kb, ka)] = got
        return got

    def pipe(self, groups: list[list[int]]) -> tuple[float, list[int]]:
        """(PipeP, group visiting order)."""
        n = len(groups)
        keys = [_key(g) for g in groups]
        dist = np.array([[0.0 if i == j else self._distance(keys[i], keys[j], groups[i], groups[j])
                          for j in range(n)] for i in range(n)])
        return tsp_path(dist, start=0 if self.closed else None, closed=self.closed)

    def __call__(self, groups: list[list[int]]) -> float:
        return max(self.data(g) for g in groups) + 2.0 * self.pipe(groups)[0]


def _key(group: list[int]) -> bytes:
    return np.sort(np.asarray(group, dtype=np.int64)).tobytes()
