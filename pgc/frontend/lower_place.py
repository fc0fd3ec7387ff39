"""Lowering `replicas`, `place` and `path` statements, and checking explicit paths against the
skip and swap policies (docs/design.md §4)."""

from __future__ import annotations

import re
from fractions import Fraction

from pgc.diagnostics import Diagnostic, UserError, did_you_mean, error
from pgc.frontend import ast
from pgc.frontend import values as V
from pgc.frontend.blocks import Collector
from pgc.ir.policy import path_problem
from pgc.ir.types import Hop, Layout, Path, Span, Stage

Placement = dict[str, tuple[str, ...]]


def stage_names(ref: ast.Ref, stages: list[str]) -> list[str]:
    """`s1`, `s[1..5]`, `s[*]` (every stage named s<digits>) -> stage names, checked."""
    if len(ref.accessors) == 1 and isinstance(ref.accessors[0], ast.AnyIndex):
        pattern = re.compile(re.escape(ref.name) + r"[0-9]+")
        found = [s for s in stages if pattern.fullmatch(s)]
        if not found:
            raise error(ref.span, f"no stage is named `{ref.name}<number>`", hint=did_you_mean(ref.name, stages))
        return found
    names = V.expand_names(ref, "a stage")
    for n in names:
        if n not in stages:
            raise error(ref.span, f"unknown stage `{n}`", hint=did_you_mean(n, stages) or f"stages: {', '.join(stages)}")
    return names


Groups = dict[str, list[str]]  # group name -> workers, in declaration order


def worker_names(on: ast.Ref | ast.List, workers: set[str], groups: Groups) -> list[str]:
    """Workers named by `n3`, `n[0..3]`, a group name (`groups = [fast]` on nodes), or a list."""
    refs = V.names(on, "place ... on") if isinstance(on, ast.List) else [on]
    out: list[str] = []
    for ref in refs:
        if not ref.accessors and ref.name not in workers and ref.name in groups:
            out.extend(groups[ref.name])
            continue
        for n in V.expand_names(ref, "a worker"):
            if n not in workers:
                raise error(ref.span, f"unknown node `{n}`", hint=did_you_mean(n, sorted(workers | set(groups))))
            out.append(n)
    return out


def replicas(stmts: list[ast.ReplicasStmt], stages: list[str], errors: Collector) -> dict[str, int]:
    out: dict[str, int] = {}
    for stmt in stmts:
        names = errors.run(stage_names, stmt.target, stages) or []
        count = errors.run(V.integer, stmt.value, "replicas", 1)
        for n in names:
            if n in out:
                errors.add(error(stmt.span, f"replicas of `{n}` are set twice"))
            elif count is not None:
                out[n] = count
    return out


def place(
    stmts: list[ast.PlaceStmt],
    stages: list[Stage],
    workers: set[str],
    groups: Groups,
    counts: dict[str, int],
    errors: Collector,
) -> tuple[Placement, list[str]]:
    """Explicit placement (stage -> workers) and the stages placed `on auto`, in stage order.
    A statement naming k stages and k*r workers gives each stage r consecutive workers."""
    names = [s.name for s in stages]
    placed: Placement = {}
    auto: set[str] = set()
    where: dict[str, Span] = {}
    owner: dict[str, str] = {}
    for stmt in stmts:
        targets = errors.run(stage_names, stmt.target, names) or []
        for t in targets:
            if t in where:
                errors.add(UserError(Diagnostic(stmt.span, f"stage `{t}` is placed twice", notes=((where[t], "first placed here"),))))
                targets = []
        if not targets:
            continue
        for t in targets:
            where[t] = stmt.span
        if stmt.on == "auto":
            auto.update(targets)
            continue
        assert not isinstance(stmt.on, str)
        ws = errors.run(worker_names, stmt.on, workers, groups) or []
        if not ws:
            continue
        if len(ws) % len(targets):
            errors.add(error(stmt.span, f"{len(ws)} workers do not divide evenly among {len(targets)} stages"))
            continue
        per = len(ws) // len(targets)
        for i, t in enumerate(targets):
            group = tuple(ws[i * per : (i + 1) * per])
            for w in group:
                if w in owner:
                    errors.add(error(stmt.span, f"node `{w}` already holds stage `{owner[w]}`", hint="a worker holds one stage"))
                owner[w] = t
            if len(set(group)) != len(group):
                errors.add(error(stmt.span, f"a node is listed twice for stage `{t}`"))
            if t in counts and counts[t] != len(group):
                errors.add(error(stmt.span, f"stage `{t}` has `replicas = {counts[t]}` but is placed on {len(group)} workers"))
            placed[t] = group
    for s in stages:
        if s.name not in where:
            errors.add(error(s.span, f"stage `{s.name}` is not placed", hint=f"add `place {s.name} on n0` or `place {s.name} on auto`"))
    return placed, [s.name for s in stages if s.name in auto]


def lower_paths(
    stmts: list[ast.PathStmt],
    layout: Layout,
    stages: list[Stage],
    placement: Placement,
    microbatches: int,
    errors: Collector,
) -> list[Path]:
    out: list[Path] = []
    seen: dict[int, Span] = {}
    for stmt in stmts:
        path = errors.run(_path, stmt, layout, stages, placement, microbatches)
        if path is None:
            continue
        if path.mb in seen:
            errors.add(UserError(Diagnostic(stmt.span, f"microbatch {path.mb} has two paths", notes=((seen[path.mb], "first path here"),))))
            continue
        seen[path.mb] = stmt.span
        out.append(path)
    return sorted(out, key=lambda p: p.mb)


def _path(stmt: ast.PathStmt, layout: Layout, stages: list[Stage], placement: Placement, microbatches: int) -> Path:
    m = re.fullmatch(r"mb([0-9]{1,9})", stmt.mb)
    if m is None:
        raise error(stmt.span, f"a path is named after its microbatch, like `mb0`, not `{stmt.mb}`")
    mb = int(m.group(1))
    if mb >= microbatches:
        raise error(stmt.span, f"`{stmt.mb}` is past the last microbatch (there are {microbatches})")
    holder = {w: s for s, ws in placement.items() for w in ws}
    names = [s.name for s in stages]
    hops: list[tuple[str, ast.HopRef]] = []
    for hop in stmt.hops:
        if hop.stage is not None:
            if hop.stage not in names:
                raise error(hop.span, f"unknown stage `{hop.stage}`", hint=did_you_mean(hop.stage, names))
            if hop.worker not in placement.get(hop.stage, ()):
                raise error(hop.span, f"node `{hop.worker}` does not hold stage `{hop.stage}`", hint="paths use explicitly placed stages")
            hops.append((hop.stage, hop))
        elif hop.worker in holder:
            hops.append((holder[hop.worker], hop))
        else:
            raise error(hop.span, f"node `{hop.worker}` holds no explicitly placed stage", hint=did_you_mean(hop.worker, holder))
    if layout == "ring":
        return _ring_path(stmt, mb, hops)
    return Path(mb, hops[0][1].worker, tuple(Hop(s, h.worker) for s, h in hops), span=stmt.span)


def _ring_path(stmt: ast.PathStmt, mb: int, hops: list[tuple[str, ast.HopRef]]) -> Path:
    (first, fh), (last, lh) = hops[0], hops[-1]
    if first != "origin":
        raise error(fh.span, f"a ring path starts at an origin worker; `{fh.worker}` holds `{first}`")
    if last != "origin" or lh.worker != fh.worker:
        raise error(lh.span, f"a ring path ends where it started, at `{fh.worker}`")
    middle = hops[1:-1]
    for s, h in middle:
        if s == "origin":
            raise error(h.span, "a path visits the origin only at its start and end")
    body = tuple(Hop(s, h.worker) for s, h in middle)
    return Path(mb, fh.worker, (Hop("origin.pro", fh.worker), *body, Hop("origin.epi", fh.worker)), span=stmt.span)


def check_policy(path: Path, stages: list[Stage], ratio: Fraction, max_swaps: int) -> None:
    """A path visits S - k*S distinct stages, all never-skip ones, in stage order except for
    at most `max_swaps` disjoint adjacent transpositions (docs/design.md §4, `pgc.ir.policy`)."""
    order = {s.name: i for i, s in enumerate(stages)}
    visited = [order[h.segment] for h in path.hops if h.segment in order]
    if any(h.segment.startswith("origin.") for h in path.hops):
        visited = [0] + visited
    need = len(stages) - int(ratio * len(stages))
    problem = path_problem(path.mb, visited, [s.name for s in stages], need,
                           {s.name for s in stages if s.never_skip}, set(), max_swaps)
    if problem:
        raise error(path.span, problem[0], hint=problem[1])
