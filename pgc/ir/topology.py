"""Link resolution: the one place that says which link joins two workers (docs/design.md §3)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

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


def link_table(program: Program) -> LinkTable:
    """(src, dst) -> (latency s, bandwidth B/s) for every ordered pair of distinct workers
    that some rule joins, resolved on demand: building it costs O(W + L), each lookup O(1), so
    a topology with tens of thousands of workers costs nothing for the pairs never asked
    about. Iterating it visits every pair (O(W^2)); planners ask only for the pairs they use."""
    key = (id(program.workers), id(program.links))
    hit = _INDEXES.get(key)
    if hit is None or hit.workers is not program.workers or hit.links is not program.links:
        if len(_INDEXES) >= 8:
            _INDEXES.clear()
        hit = _INDEXES[key] = LinkTable(program.workers, program.links)
    return hit


class LinkTable(Mapping[tuple[str, str], tuple[float, float]]):
    """`find_link` for any pair, with the rules indexed by their ends (last written first
    within a scope) and looked up by scope precedence."""

    def __init__(self, workers: tuple[Worker, ...], links: tuple[Link, ...]) -> None:
        self.workers, self.links = workers, links
        self.region = {w.name: w.region for w in workers}
        self.pairs: dict[tuple[str, str], Link] = {}
        self.regions: dict[tuple[str, str], Link] = {}
        intra: dict[str, tuple[int, Link]] = {}  # region ("" = every region) -> last rule
        self.default: Link | None = None
        for i, link in enumerate(links):
            if link.scope in ("pair", "region"):
                index = self.pairs if link.scope == "pair" else self.regions
                index[(link.src, link.dst)] = link
                if not link.directed:
                    index[(link.dst, link.src)] = link
            elif link.scope == "intra":
                intra[link.src] = (i, link)
            else:
                self.default = link
        self.intra = intra
        self._seen: dict[tuple[str, str], tuple[float, float]] = {}  # pairs asked so far

    def find(self, a: str, b: str) -> Link | None:
        """The rule joining worker a to worker b (a != b), or None."""
        ra, rb = self.region.get(a), self.region.get(b)
        if ra is None or rb is None or a == b:
            return None
        found = self.pairs.get((a, b)) or self.regions.get((ra, rb))
        if found is None and ra == rb:
            rules = [r for r in (self.intra.get(""), self.intra.get(ra)) if r is not None]
            found = max(rules, key=lambda r: r[0])[1] if rules else None
        return found or self.default

    def __getitem__(self, key: tuple[str, str]) -> tuple[float, float]:
        hit = self._seen.get(key)
        if hit is None:
            found = self.find(*key)
            if found is None:
                raise KeyError(key)
            hit = self._seen[key] = (found.latency, found.bandwidth)
        return hit

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for a in self.workers:
            for b in self.workers:
                if self.find(a.name, b.name) is not None:
                    yield (a.name, b.name)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# LinkTables by the identity of the tuples they index (hashing W workers would cost O(W) per
# lookup of the cache itself); each entry holds its tuples, so an id is never reused while cached
_INDEXES: dict[tuple[int, int], LinkTable] = {}
