"""Lowering `node` and `link` declarations to IR workers and link rules, and checking that
every pair of workers has a route (a link rule that applies to it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pgc.diagnostics import Diagnostic, UserError, did_you_mean, error
from pgc.frontend import ast
from pgc.frontend import values as V
from pgc.frontend.blocks import Collector, settings, value
from pgc.ir.types import Link, LinkScope, Span, Worker

NODE_KEYS = ("rate", "memory", "region", "host", "groups")
LINK_KEYS = ("latency", "bandwidth")
MAX_PAIRS = 100_000  # pair rules one `link` statement may expand to


@dataclass(frozen=True)
class Topology:
    workers: tuple[Worker, ...]
    links: tuple[Link, ...]


def lower_topology(decls: list[ast.Decl], errors: Collector) -> Topology:
    workers = _workers([d for d in decls if isinstance(d, ast.NodeDecl)], errors)
    links = _links([d for d in decls if isinstance(d, ast.LinkDecl)], workers, errors)
    if workers and not errors.diagnostics:
        errors.run(check_routes, workers, links)
    return Topology(tuple(workers), tuple(links))


def _workers(decls: list[ast.NodeDecl], errors: Collector) -> list[Worker]:
    out: list[Worker] = []
    first: dict[str, Span] = {}
    for decl in decls:
        names = errors.run(V.expand_names, decl.target, "a node name") or []
        props = errors.run(_node_props, decl, errors)
        for name in names:
            if name in first:
                errors.add(
                    UserError(Diagnostic(decl.target.span, f"node `{name}` is declared twice", notes=((first[name], "first declared here"),)))
                )
                continue
            first[name] = decl.target.span
            if props is not None:
                rate, memory, region, host, groups = props
                out.append(Worker(name, rate, memory, region=region, host=host, groups=groups, span=decl.target.span))
    return out


def _node_props(decl: ast.NodeDecl, errors: Collector) -> tuple[float, float, str, str, tuple[str, ...]]:
    where = f"node `{V.selector_text(decl.target)}`"
    found = settings(decl.items, where, NODE_KEYS, errors=errors)
    rate_v, memory_v = value(found, "rate"), value(found, "memory")
    if rate_v is None or memory_v is None:
        missing = "rate" if rate_v is None else "memory"
        raise error(decl.target.span, f"{where} needs `{missing}`", hint="e.g. `node n[0..3] { rate = 50 GFLOPS; memory = 4 GiB }`")
    rate = V.positive(rate_v, "rate", "rate")
    memory = V.positive(memory_v, "memory", "size")
    region_v, host_v, groups_v = value(found, "region"), value(found, "host"), value(found, "groups")
    region = V.name(region_v, "region") if region_v is not None else ""
    host = V.string(host_v, "host") if host_v is not None else ""
    groups = tuple(V.name(g, "groups") for g in V.names(groups_v, "groups")) if groups_v is not None else ()
    return rate, memory, region, host, groups


def _links(decls: list[ast.LinkDecl], workers: list[Worker], errors: Collector) -> list[Link]:
    known = {w.name for w in workers}
    regions = sorted({w.region for w in workers if w.region})
    out: list[Link] = []
    for decl in decls:
        out.extend(errors.run(_link, decl, known, regions, errors) or [])
    return out


def _link(decl: ast.LinkDecl, known: set[str], regions: list[str], errors: Collector) -> list[Link]:
    found = settings(decl.items, "a link", LINK_KEYS, errors=errors)
    lat_v, bw_v = value(found, "latency"), value(found, "bandwidth")
    if lat_v is None or bw_v is None:
        missing = "latency" if lat_v is None else "bandwidth"
        raise error(decl.span, f"the link needs `{missing}`", hint="e.g. `{ latency = 5 ms; bandwidth = 2 Gbps }`")
    latency = V.number(lat_v, "latency", "time")
    if latency < 0:
        raise error(lat_v.span, "`latency` must not be negative")
    bandwidth = V.positive(bw_v, "bandwidth", "bandwidth")
    directed = decl.arrow == "->"
    scope: LinkScope
    if decl.kind == "default":
        return [Link("default", "", "", latency, bandwidth, span=decl.span)]
    if decl.kind == "intra":
        region = decl.src.name if decl.src is not None else ""
        if region:
            _check_region(decl.src, regions)
        return [Link("intra", region, "", latency, bandwidth, span=decl.span)]
    assert decl.src is not None and decl.dst is not None
    if decl.kind == "region":
        scope = "region"
        _check_region(decl.src, regions)
        _check_region(decl.dst, regions)
        return [Link(scope, decl.src.name, decl.dst.name, latency, bandwidth, directed=directed, span=decl.span)]
    srcs = _expand_workers(decl.src, known)
    dsts = _expand_workers(decl.dst, known)
    if len(srcs) * len(dsts) > MAX_PAIRS:
        raise error(decl.span, f"this link joins {len(srcs) * len(dsts)} worker pairs (at most {MAX_PAIRS})", hint="join regions instead: `link region A <-> B { ... }`")
    pairs = [(a, b) for a in srcs for b in dsts if a != b]
    if not pairs:
        raise error(decl.span, "this link joins no pair of distinct workers")
    return [Link("pair", a, b, latency, bandwidth, directed=directed, span=decl.span) for a, b in pairs]


def _check_region(ref: ast.Ref | None, regions: list[str]) -> None:
    assert ref is not None
    if ref.name not in regions:
        hint = did_you_mean(ref.name, regions) or (f"regions: {', '.join(regions)}" if regions else "no node sets `region`")
        raise error(ref.span, f"unknown region `{ref.name}`", hint=hint)


def _expand_workers(ref: ast.Ref, known: set[str]) -> list[str]:
    names = V.expand_names(ref, "a link end")
    for n in names:
        if n not in known:
            raise error(ref.span, f"unknown node `{n}`", hint=did_you_mean(n, known))
    return names


def check_routes(workers: list[Worker], links: list[Link]) -> None:
    """Every ordered pair of distinct workers must be joined by some link rule (the rules of
    pgc.ir.topology.find_link). Workers are grouped by region, so the cost is O(R^2 + W + P)
    for R regions and P pair rules, not O(W^2): large clusters check fast."""
    if any(link.scope == "default" for link in links):
        return
    intra_all = any(link.scope == "intra" and not link.src for link in links)
    intra = {link.src for link in links if link.scope == "intra"}
    regions = {(link.src, link.dst) for link in links if link.scope == "region"}
    regions |= {(link.dst, link.src) for link in links if link.scope == "region" and not link.directed}
    pairs = {(link.src, link.dst) for link in links if link.scope == "pair"}
    pairs |= {(link.dst, link.src) for link in links if link.scope == "pair" and not link.directed}
    by_region: dict[str, list[Worker]] = {}
    for w in workers:
        by_region.setdefault(w.region, []).append(w)
    region_of = {w.name: w.region for w in workers}
    pair_count = Counter((region_of[a], region_of[b]) for a, b in pairs if a != b)
    missing: list[tuple[Worker, Worker]] = []
    count = 0
    for ra, group_a in by_region.items():
        for rb, group_b in by_region.items():
            if (ra, rb) in regions or (ra == rb and (intra_all or ra in intra)):
                continue
            need = len(group_a) * len(group_b) - (len(group_a) if ra == rb else 0)
            if pair_count[(ra, rb)] >= need:
                continue
            count += need - pair_count[(ra, rb)]
            if not missing:
                missing.append(next((a, b) for a in group_a for b in group_b if a is not b and (a.name, b.name) not in pairs))
    if missing:
        a, b = missing[0]
        more = f" (and {count - 1} more ordered pairs)" if count > 1 else ""
        if a.region and b.region and a.region != b.region:
            hint = f"add `link region {a.region} <-> {b.region} {{ ... }}` or `link default {{ ... }}`"
        elif a.region == b.region and a.region:
            hint = f"add `link intra {{ ... }}` or `link {a.name} <-> {b.name} {{ ... }}`"
        else:
            hint = f"add `link default {{ ... }}` or `link {a.name} <-> {b.name} {{ ... }}`"
        raise UserError(
            Diagnostic(b.span, f"no link joins `{a.name}` to `{b.name}`{more}", hint=hint, notes=((a.span, f"`{a.name}` is declared here"),))
        )
