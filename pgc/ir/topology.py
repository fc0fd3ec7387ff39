"""Link resolution: the one place that says which link joins two workers (DESIGN.md §3)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pgc.ir.types import Link, Program, Worker

_SCOPE_RANK = {"pair": 0, "region": 1, "intra": 2, "default": 3}


def _matches(link: Link, a: Worker, b: Worker) -> bool:
    if link.scope == "pair":
        ends = (link.src, link.dst)
        return ends == (a.name, b.name) or (not link.directed and ends == (b.name, a.name))
    if link.scope == "region":
        ends = (link.src, link.dst)
        return ends == (a.region, b.region) or (
            not link.directed and ends == (b.region, a.region)
        )
    if link.scope == "intra":
        return a.region == b.region and (link.src in ("", a.region))
    return True


def find_link(links: tuple[Link, ...], a: Worker, b: Worker) -> Link | None:
    """The most specific rule joining `a` to `b` (pair > region pair > intra > default);
    among rules of one scope the last written wins. None when no rule applies."""
    best: Link | None = None
    for link in links:
        if _matches(link, a, b) and (
            best is None or _SCOPE_RANK[link.scope] <= _SCOPE_RANK[best.scope]
        ):
            best = link
    return best


def link_table(program: Program) -> dict[tuple[str, str], tuple[float, float]]:
    """(src, dst) -> (latency s, bandwidth B/s) for every ordered pair of distinct workers
    that some rule joins. O(W^2 * L) the first time for a given topology; the planner asks
    for the same topology many times, so the result is cached (a fresh copy each call)."""
    return dict(_link_table(program.workers, program.links))


@functools.lru_cache(maxsize=8)
def _link_table(workers: tuple[Worker, ...], links: tuple[Link, ...]
                ) -> dict[tuple[str, str], tuple[float, float]]:
    """`find_link` for every pair at once: index the rules by their ends, last written first
    within a scope, then look each pair up by scope precedence. O(L + W^2)."""
    pairs: dict[tuple[str, str], Link] = {}
    regions: dict[tuple[str, str], Link] = {}
    intra: dict[str, tuple[int, Link]] = {}  # region ("" = every region) -> last rule
    default: Link | None = None
    for i, link in enumerate(links):
        if link.scope in ("pair", "region"):
            index = pairs if link.scope == "pair" else regions
            index[(link.src, link.dst)] = link
            if not link.directed:
                index[(link.dst, link.src)] = link
        elif link.scope == "intra":
            intra[link.src] = (i, link)
        else:
            default = link
    table: dict[tuple[str, str], tuple[float, float]] = {}
    for a in workers:
        for b in workers:
            if a.name == b.name:
                continue
            found = pairs.get((a.name, b.name)) or regions.get((a.region, b.region))
            if found is None and a.region == b.region:
                rules = [r for r in (intra.get(""), intra.get(a.region)) if r is not None]
                found = max(rules, key=lambda r: r[0])[1] if rules else None
            found = found or default
            if found is not None:
                table[(a.name, b.name)] = (found.latency, found.bandwidth)
    return table


@dataclass(frozen=True)
class Network:
    """The resolved link table of a program; build once per pass with `Network.of`."""

    table: dict[tuple[str, str], tuple[float, float]]
    overhead: float

    @staticmethod
    def of(program: Program) -> Network:
        return Network(link_table(program), program.cost.message_overhead)

    def message_time(self, src: str, dst: str, nbytes: float) -> float:
        """Seconds for one message: latency + bytes / bandwidth + per-message overhead.
        Zero between a worker and itself."""
        if src == dst:
            return 0.0
        latency, bandwidth = self.table[(src, dst)]
        return latency + nbytes / bandwidth + self.overhead
