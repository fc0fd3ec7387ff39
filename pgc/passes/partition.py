"""Pass `partitioned`: split each automatic partition's blocks into its stages.

`stages s[1..5] = layers[2:12] balanced by flops|params|time|layers` becomes five contiguous
runs of blocks minimising the slowest stage, where stage s runs at speed sigma_s (the summed
rate of its replica group when placed explicitly, the mean free worker otherwise) and must fit
its memory (the smallest replica's). This is the heterogeneous chain-partition dynamic program
of docs/design.md §8 "Partitioning" (after DT-FM / Pipette style 1-D min-max partitioning):

    F(s, j) = min_{i <= j} max(F(s-1, i-1), C(s, i, j), X(s-1, i-1)),
    C(s, i, j) = sum_{l=i..j} w_l / sigma_s   if the run fits stage s's memory, else inf,

with X the time to send block i-1's boundary between the two stages' workers when both are
placed (0 otherwise). O(S L^2) time with prefix sums, O(S L) memory. `bisect_partition` solves
the same problem (without X) by bisection on the bottleneck with an O(S L) reachability probe,
used as a cross-check.

Block weights by criterion: `flops` forward FLOPs; `params` parameter count; `time` measured
forward + backward seconds from `cost { profile = "..." }` (written by `pgc profile -o`) or the
synthetic cost model, falling back to FLOPs when no block time is known (a compile never times
anything itself, so its output stays deterministic); `layers` one per block. A block's memory is
its weights, gradients and optimizer state plus `inflight` times its saved activations and
boundary buffers (pgc.capture.memory).

Requires: `traced` (each partition has its block profiles). Ensures: the partition's segments
have selectors (`layers[2:4]`), layers, and profile fields summed from their blocks;
`Program.partitions` is empty. Identity when the spec has no automatic partition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pgc.capture.memory import state_bytes, width
from pgc.diagnostics import error
from pgc.ir.passes import Pass
from pgc.ir.types import AutoPartition, BlockProfile, Program, Segment
from pgc.sim.cost import Network, message_seconds

INF = math.inf


@dataclass(frozen=True)
class ChainProblem:
    """Blocks `weights` (work units) with `memory` bytes each, stages with `speeds` (work/s) and
    `capacity` bytes; `comm[s][i]` = time to send the boundary after block i from stage s to
    stage s+1 (optional)."""

    weights: tuple[float, ...]
    memory: tuple[float, ...]
    speeds: tuple[float, ...]
    capacity: tuple[float, ...]
    comm: tuple[tuple[float, ...], ...] = ()


def _prefix(xs: Sequence[float]) -> list[float]:
    out = [0.0]
    for x in xs:
        out.append(out[-1] + x)
    return out


def bottleneck(p: ChainProblem, cuts: Sequence[int]) -> float:
    """max over stages of time (inf if a stage is empty or over memory) and boundary sends."""
    bounds = [*cuts, len(p.weights)]
    worst = 0.0
    for s in range(len(cuts)):
        lo, hi = bounds[s], bounds[s + 1]
        if hi <= lo or sum(p.memory[lo:hi]) > p.capacity[s]:
            return INF
        worst = max(worst, sum(p.weights[lo:hi]) / p.speeds[s])
        if p.comm and s > 0:
            worst = max(worst, p.comm[s - 1][lo - 1])
    return worst


def chain_partition(p: ChainProblem) -> tuple[float, tuple[int, ...]]:
    """Optimal (bottleneck, start index of each stage) by the chain DP; inf when infeasible."""
    n, stages = len(p.weights), len(p.speeds)
    w, m = _prefix(p.weights), _prefix(p.memory)
    best = [[INF] * (n + 1) for _ in range(stages + 1)]  # best[s][j]: first s stages, j blocks
    arg = [[0] * (n + 1) for _ in range(stages + 1)]
    best[0][0] = 0.0
    for s in range(1, stages + 1):
        speed, cap = p.speeds[s - 1], p.capacity[s - 1]
        for j in range(s, n - (stages - s) + 1):
            for i in range(j - 1, s - 2, -1):  # stage s holds blocks i..j-1
                if m[j] - m[i] > cap:
                    break  # a longer run only uses more memory
                prev = best[s - 1][i]
                if prev == INF:
                    continue
                cost = max(prev, (w[j] - w[i]) / speed)
                if p.comm and s > 1:
                    cost = max(cost, p.comm[s - 2][i - 1])
                if cost < best[s][j]:
                    best[s][j], arg[s][j] = cost, i
    if best[stages][n] == INF:
        return INF, ()
    cuts, j = [], n
    for s in range(stages, 0, -1):
        j = arg[s][j]
        cuts.append(j)
    return best[stages][n], tuple(reversed(cuts))


def _fits(p: ChainProblem, limit: float) -> tuple[int, ...] | None:
    """Start indices of a partition whose stages all finish within `limit` and fit memory, or
    None. Tracks, stage by stage, which block counts are reachable: a stage starting at i can
    end anywhere in (i, f(i)], f nondecreasing in i (a sub-run of a feasible run is feasible),
    so one two-pointer sweep per stage suffices: O(S L) per probe."""
    n, stages = len(p.weights), len(p.speeds)
    w, m = _prefix(p.weights), _prefix(p.memory)
    reach = [False] * (n + 1)
    reach[0] = True
    came_from: list[list[int]] = []
    for s in range(stages):
        nxt, src = [False] * (n + 1), [-1] * (n + 1)
        j = marked = 0
        for i in range(n):
            if not reach[i]:
                continue
            j = max(j, i)
            while j < n and (w[j + 1] - w[i]) / p.speeds[s] <= limit and \
                    m[j + 1] - m[i] <= p.capacity[s]:
                j += 1
            for end in range(max(i, marked) + 1, j + 1):  # each end once: earliest start
                nxt[end], src[end] = True, i
            marked = max(marked, j)
        reach = nxt
        came_from.append(src)
    if not reach[n]:
        return None
    cuts, end = [], n
    for s in range(stages - 1, -1, -1):
        end = came_from[s][end]
        cuts.append(end)
    return tuple(reversed(cuts))


def bisect_partition(p: ChainProblem, rel_tol: float = 1e-12) -> tuple[float, tuple[int, ...]]:
    """Bisection on the bottleneck with the reachability probe (no communication terms)."""
    hi = sum(p.weights) / min(p.speeds)
    if _fits(p, hi) is None:
        return INF, ()
    lo = 0.0
    while hi - lo > rel_tol * hi:
        mid = (lo + hi) / 2
        if _fits(p, mid) is None:
            lo = mid
        else:
            hi = mid
    cuts = _fits(p, hi)
    assert cuts is not None
    return bottleneck(p, cuts), cuts


def brute_force(p: ChainProblem) -> tuple[float, tuple[int, ...]]:
    """Every composition of the blocks into the stages (for tests; C(L-1, S-1) of them)."""
    from itertools import combinations

    n, stages = len(p.weights), len(p.speeds)
    best: tuple[float, tuple[int, ...]] = (INF, ())
    for inner in combinations(range(1, n), stages - 1):
        cuts = (0, *inner)
        cost = bottleneck(p, cuts)
        if cost < best[0]:
            best = (cost, cuts)
    return best


# -- the pass -------------------------------------------------------------------------------

def _weight(block: BlockProfile, criterion: str, backward: float) -> float:
    if criterion == "params":
        return float(block.params or 0)
    if criterion == "time" and block.fwd_time is not None:
        return block.fwd_time + (block.bwd_time if block.bwd_time is not None
                                 else backward * block.fwd_time)
    if criterion in ("flops", "time") and block.flops is not None:
        return block.flops
    return 1.0  # "layers", or no profile for the criterion


def _memory(block: BlockProfile, program: Program) -> float:
    state = sum(state_bytes(block.param_bytes or 0, program.train.optimizer,
                            dict(program.train.optimizer_args)))
    acts = (block.activation_bytes or 0) + 2 * (block.boundary_bytes or 0)
    return state + program.inflight * acts


def _stage_resources(program: Program, part: AutoPartition) -> tuple[list[float], list[float]]:
    """(speed, memory) per stage: its placed replica group, else the mean free worker."""
    placed = dict(program.placement)
    used = {w for group in placed.values() for w in group}
    free = [w for w in program.workers if w.name not in used] or list(program.workers)
    speeds, caps = [], []
    for stage in part.stages:
        group = [program.worker(w) for w in placed.get(stage, ())]
        if group:
            speeds.append(sum(w.rate for w in group) * program.cost.efficiency)
            caps.append(min(w.memory for w in group))
        elif free:
            speeds.append(sum(w.rate for w in free) / len(free) * program.cost.efficiency)
            caps.append(min(w.memory for w in free))
        else:  # no workers declared: balance the criterion itself
            speeds.append(1.0)
            caps.append(INF)
    return speeds, caps


def _comm(program: Program, part: AutoPartition) -> tuple[tuple[float, ...], ...]:
    """Boundary send times between consecutive stages that are both placed (first replicas), at
    the precision's width (`pgc.sim.cost.message_seconds`; no link: no time but the overhead)."""
    placed = dict(program.placement)
    if not all(placed.get(s) for s in part.stages):
        return ()
    net = Network.of(program)
    scale = width(program.train.precision)
    rows = []
    for a, b in zip(part.stages, part.stages[1:]):
        src, dst = placed[a][0], placed[b][0]
        lat, bw = net.table.get((src, dst), (0.0, INF))
        rows.append(tuple(
            message_seconds(scale * (block.boundary_bytes or 0), lat, bw, net.overhead)
            if src != dst else 0.0 for block in part.blocks))
    return tuple(rows)


def problem_of(program: Program, part: AutoPartition) -> ChainProblem:
    speeds, caps = _stage_resources(program, part)
    backward = program.cost.backward_ratio
    return ChainProblem(
        weights=tuple(_weight(b, part.criterion, backward) for b in part.blocks),
        memory=tuple(_memory(b, program) for b in part.blocks),
        speeds=tuple(speeds),
        capacity=tuple(caps),
        comm=_comm(program, part),
    )


def selector_text(blocks: Sequence[str]) -> tuple[str, ...]:
    """`layers.2, layers.3` -> `layers[2:4]`; runs that are not one numbered list stay listed."""
    parsed = [re.fullmatch(r"(.*)\.(\d+)", b) for b in blocks]
    if all(parsed):
        bases = {m.group(1) for m in parsed if m}
        idx = [int(m.group(2)) for m in parsed if m]
        if len(bases) == 1 and idx == list(range(idx[0], idx[0] + len(idx))):
            return (f"{bases.pop()}[{idx[0]}:{idx[-1] + 1}]",)
    return tuple(blocks)


def _sum(values: Sequence[float | int | None]) -> float | int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _segment(seg: Segment, blocks: Sequence[BlockProfile]) -> Segment:
    sig_in, sig_out = blocks[0].signature[0], blocks[-1].signature[1]
    return replace(
        seg,
        selectors=selector_text([b.selector for b in blocks]),
        layers=len(blocks),
        param_names=tuple(n for b in blocks for n in b.param_names),
        params=_sum([b.params for b in blocks]),  # type: ignore[arg-type]
        param_bytes=_sum([b.param_bytes for b in blocks]),  # type: ignore[arg-type]
        flops=_sum([b.flops for b in blocks]),
        boundary_bytes=blocks[-1].boundary_bytes,
        activation_bytes=_sum([b.activation_bytes for b in blocks]),  # type: ignore[arg-type]
        fwd_time=_sum([b.fwd_time for b in blocks]),
        bwd_time=_sum([b.bwd_time for b in blocks]),
        skippable=bool(sig_in) and sig_in == sig_out,
        boundary_in=(sig_in,) if sig_in else (),
        boundary_out=(sig_out,) if sig_out else (),
    )


def _apply(program: Program, part: AutoPartition) -> Program:
    if len(part.blocks) < len(part.stages):
        raise error(part.span, f"{len(part.blocks)} blocks cannot fill {len(part.stages)} stages")
    problem = problem_of(program, part)
    cost, cuts = chain_partition(problem)
    if cost == INF:
        raise error(part.span, f"no split of {len(part.blocks)} blocks into "
                    f"{len(part.stages)} stages fits the workers' memory",
                    hint="add stages, workers with more memory, or lower `inflight`")
    bounds = [*cuts, len(part.blocks)]
    runs = {name: part.blocks[bounds[k]:bounds[k + 1]] for k, name in enumerate(part.stages)}
    owner = {b.selector: name for name, run in runs.items() for b in run}
    segments = tuple(_segment(s, runs[s.stage]) if s.stage in runs and not s.selectors else s
                     for s in program.segments)
    shared = tuple(
        (name, tuple(dict.fromkeys(owner.get(s, s) for s in segs)))
        for name, segs in program.shared_groups
    )
    note = (f"partitioned {part.selectors} into {len(part.stages)} stages by {part.criterion}: "
            f"bottleneck {cost:.6g}, cuts {list(cuts)}")
    return replace(program, segments=segments, shared_groups=shared,
                   notes=(*program.notes, note))


def run(program: Program) -> Program:
    for part in program.partitions:
        program = _apply(program, part)
    return replace(program, partitions=())


PASS = Pass(
    name="partitioned",
    run=run,
    requires="traced: block profiles for every automatic partition",
    ensures="automatic partitions resolved into segment selectors and profiles; none left",
)
