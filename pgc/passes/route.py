"""Pass `routed`: one forward path per microbatch (gpipe, 1f1b, explicit; skippipe delegated).

Requires: `placed` (every stage has a replica group).
Ensures: `paths` holds exactly one Path per microbatch 0..M-1, sorted by mb, each legal for the
placement and, for `explicit`/`skippipe`, for the skip and swap policy (`check_path`).

Replica rule of the full-pipeline schedules (gpipe, 1f1b): microbatch m starts at origin replica
m mod r (the data is split evenly over the origins); every other stage hands microbatches to its
replicas by smooth weighted round robin with weights = worker rate, so each replica gets a share
proportional to its speed and, with equal rates, replica m mod r (aligned columns).
"""

from __future__ import annotations

from dataclasses import replace

from pgc.diagnostics import error
from pgc.ir.passes import Pass
from pgc.ir.policy import path_problem, stages_visited
from pgc.ir.queries import stage_of_worker
from pgc.ir.types import Hop, Path, Program, Span


def weighted_round_robin(weights: list[float], count: int) -> list[int]:
    """Smooth weighted round robin (as in nginx): `count` picks among len(weights) choices, each
    chosen in proportion to its weight and spread evenly; ties go to the lower index. O(count*r)."""
    current = [0.0] * len(weights)
    total = sum(weights)
    picks = []
    for _ in range(count):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        picks.append(best)
    return picks


def full_paths(program: Program) -> tuple[Path, ...]:
    """Every microbatch through every segment, by the replica rule of the module docstring."""
    m_count = program.microbatches
    choice: dict[str, list[str]] = {}
    first_stage = program.segments[0].stage
    for stage in program.stages:
        group = program.replicas(stage.name)
        if stage.name == first_stage:
            picks = [m % len(group) for m in range(m_count)]
        else:
            picks = weighted_round_robin([program.worker(w).rate for w in group], m_count)
        choice[stage.name] = [group[i] for i in picks]
    return tuple(
        Path(
            mb=m,
            origin=choice[first_stage][m],
            hops=tuple(Hop(s.name, choice[s.stage][m]) for s in program.segments),
        )
        for m in range(m_count)
    )


def resolve_hops(program: Program, path: Path) -> Path:
    """Fill hops the spec wrote as bare workers (segment "") with the worker's segment: the
    first visit of a ring origin is its prologue, the second its epilogue."""
    if all(h.segment for h in path.hops):
        return path
    stage_of = stage_of_worker(program)
    visits: dict[str, int] = {}
    hops = []
    for h in path.hops:
        if h.segment:
            hops.append(h)
            continue
        if h.worker not in stage_of:
            raise error(path.span, f"path of m{path.mb} visits `{h.worker}`, which holds no stage")
        segs = program.stage(stage_of[h.worker]).segments
        k = visits.get(h.worker, 0)
        if k >= len(segs):
            raise error(path.span, f"path of m{path.mb} visits `{h.worker}` too often")
        visits[h.worker] = k + 1
        hops.append(Hop(segs[k], h.worker))
    return replace(path, hops=tuple(hops))


def _span(program: Program, path: Path) -> Span:
    return path.span if path.span.line > 0 else program.span


def visits_required(program: Program) -> int:
    """Stages each path visits under the skip policy: S - k*S (an integer, else a UserError)."""
    return stages_visited(program)


def check_path(program: Program, path: Path, *, policy: bool) -> None:
    """Raise UserError unless `path` starts at its origin's first segment, ends with the loss
    segment (back at the origin in the ring layout), visits each stage once on a worker that
    holds it, and, when `policy`, obeys the skip count, never-skip list and swap limit."""
    span = _span(program, path)
    where = f"path of m{path.mb}"
    segs, hops = program.segments, path.hops
    if not hops or hops[0].segment != segs[0].name or hops[0].worker != path.origin:
        raise error(span, f"{where} must start with `{segs[0].name}` on its origin `{path.origin}`")
    if hops[-1].segment != segs[-1].name:
        raise error(span, f"{where} must end with the loss segment `{segs[-1].name}`")
    if program.layout == "ring" and hops[-1].worker != path.origin:
        raise error(span, f"{where} must return to its origin `{path.origin}` for the loss")
    seg_stage = {s.name: s.stage for s in segs}
    order = {st.name: i for i, st in enumerate(program.stages)}
    seen: list[str] = []  # stages in first-visit order
    for h in hops:
        if h.segment not in seg_stage:
            raise error(span, f"{where} visits unknown segment `{h.segment}`")
        stage = seg_stage[h.segment]
        if h.worker not in program.replicas(stage):
            raise error(span, f"{where} runs `{h.segment}` on `{h.worker}`, which does not hold "
                        f"stage `{stage}`")
        if stage not in seen:
            seen.append(stage)
    # every non-origin stage has one segment, so a segment run once means a stage visited once
    if len({h.segment for h in hops}) != len(hops):
        raise error(span, f"{where} visits a stage twice")
    if policy:
        _check_policy(program, path, [order[s] for s in seen], span)


def _check_policy(program: Program, path: Path, visited: list[int], span: Span) -> None:
    names = [st.name for st in program.stages]
    never = {st.name for st in program.stages if st.never_skip} | set(program.skip.never)
    unskippable = {s.stage for s in program.segments if s.skippable is False}
    problem = path_problem(path.mb, visited, names, visits_required(program), never,
                           unskippable, program.swap.max_swaps)
    if problem:
        raise error(span, problem[0], hint=problem[1])


def _explicit(program: Program) -> tuple[Path, ...]:
    paths = sorted((resolve_hops(program, p) for p in program.explicit_paths), key=lambda p: p.mb)
    given = [p.mb for p in paths]
    for p in paths:
        if not 0 <= p.mb < program.microbatches or given.count(p.mb) > 1:
            raise error(_span(program, p), f"path for m{p.mb}: microbatches are m0.."
                        f"m{program.microbatches - 1}, each with one path")
    missing = sorted(set(range(program.microbatches)) - set(given))
    if missing:
        raise error(program.span, f"schedule explicit has no path for m{missing[0]} "
                    f"({len(missing)} of {program.microbatches} microbatches lack one)")
    return tuple(paths)


def _skippipe(program: Program) -> Program:
    """SkipPipe routing by the planner (imported here: the planner's search and numpy are
    needed only by this schedule, not by the full pipelines or by checking a path)."""
    from pgc.passes.route_skippipe import route

    return route(program)


def run(program: Program) -> Program:
    if program.schedule == "skippipe":
        program = _skippipe(program)
        paths = tuple(sorted(program.paths, key=lambda p: p.mb))
    elif program.schedule == "explicit":
        paths = _explicit(program)
    else:
        if program.explicit_paths:
            raise error(_span(program, program.explicit_paths[0]),
                        f"explicit paths need `schedule explicit` (or skippipe), not "
                        f"`{program.schedule}`")
        paths = full_paths(program)
    for p in paths:
        check_path(program, p, policy=program.schedule in ("explicit", "skippipe"))
    return replace(program, paths=paths)


PASS = Pass(
    name="routed",
    run=run,
    requires="placed",
    ensures="one legal path per microbatch, sorted by mb; explicit and skippipe paths obey the "
    "skip and swap policy",
)
