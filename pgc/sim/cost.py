"""The cost model (docs/design.md §4): compute time per (segment, worker), message and all-reduce time.

Forward time of a segment on a worker, first rule that applies:
1. a measured profile (`Segment.fwd_time`, seconds per microbatch),
2. the synthetic SkipPipe model `cost { seconds_per_sample_per_layer = s }`:
   s * layers * samples, plus `loss_ratio` * s * samples for the segment that computes the loss,
3. FLOPs: `Segment.flops / (worker.rate * cost.efficiency)`.
Rules 1 and 2 give the time on the fastest worker of the spec; slower workers scale by rate.
Backward = `Segment.bwd_time` if measured, else `cost.backward_ratio` x forward.

A message of n bytes from a to b occupies a's NIC for n / bandwidth + overhead seconds (one
message at a time) and arrives `latency` later. Boundary bytes come from the segment; before
capture they are estimated as 4 * dim * seq_len * samples (fp32 activations, SkipPipe's rule;
2 bytes a value with `cost { activation_dtype = fp16 }` or bf16) when the model has a `dim`
argument, else 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pgc.capture.memory import recomputed, width
from pgc.diagnostics import error
from pgc.ir.topology import link_table
from pgc.ir.types import DTYPE_BYTES, Program, Segment, Worker

LOSS_ROLES = ("epilogue", "last", "whole")
ADAM_FLOPS_PER_PARAM = 10.0  # AdamW update: a few multiply-adds per parameter


@dataclass(frozen=True)
class CostTable:
    """Everything the simulator, the order pass and the bound need to price a plan."""

    fwd: dict[tuple[str, str], float]  # (segment, worker) -> seconds per microbatch
    bwd: dict[tuple[str, str], float]
    seg_bytes: dict[str, float]  # bytes of a segment's output activation (= its input grad)
    links: Mapping[tuple[str, str], tuple[float, float]]  # (src, dst) -> (latency, bandwidth)
    overhead: float
    step: dict[str, float]  # worker -> optimizer step seconds
    grad_bytes: dict[str, float]  # stage -> bytes of its gradients
    # collective group -> bytes each member puts on the wire per sync (compression applied)
    sync_bytes: dict[str, float] = field(default_factory=dict)

    def message(self, src: str, dst: str, nbytes: float) -> tuple[float, float]:
        """(seconds the sender's NIC is busy, latency in flight) of one message."""
        if src == dst:
            return 0.0, 0.0
        latency, bandwidth = self.links[(src, dst)]
        return nbytes / bandwidth + self.overhead, latency

    def allreduce(self, workers: tuple[str, ...], nbytes: float) -> float:
        """Ring all-reduce over `workers` in the given ring order: 2(n-1) steps, each moving
        n/|g| bytes over every ring edge at once, so each step costs its slowest edge
        (Patarasuk & Yuan 2009). Zero for a group of one."""
        n = len(workers)
        if n < 2:
            return 0.0
        slowest = 0.0
        for a, b in zip(workers, workers[1:] + workers[:1]):
            nic, lat = self.message(a, b, nbytes / n)
            slowest = max(slowest, nic + lat)
        return 2 * (n - 1) * slowest


def _estimated_bytes(program: Program, seg: Segment) -> float:
    """Bytes of `seg`'s boundary message: measured (fp32) bytes at the precision's width, else
    dim x tokens x the width of the precision (or of `activation_dtype` in fp32)."""
    if seg.boundary_bytes is not None:
        return wire_bytes(program, seg)
    dim = dict(program.model.args).get("dim")
    # a whole width the cost model can size (capture's synthetic profile rejects the others)
    if isinstance(dim, int) and not isinstance(dim, bool) and 0 < dim <= 2**31:
        precision = program.train.precision
        w = DTYPE_BYTES[precision if precision != "fp32" else program.cost.activation_dtype]
        return float(w * dim * program.seq_len * program.microbatch_size)
    return 0.0


def wire_bytes(program: Program, seg: Segment) -> float:
    """Measured boundary bytes (fp32) as they travel under the spec's precision (0 unknown)."""
    return float(seg.boundary_bytes or 0) * width(program.train.precision)


def _forward(program: Program, seg: Segment, rate: float, top_rate: float) -> float:
    cost = program.cost
    if seg.fwd_time is not None:
        return seg.fwd_time * top_rate / rate
    if cost.sec_per_sample_per_layer is not None:
        per_layer = cost.sec_per_sample_per_layer * program.microbatch_size
        loss = (cost.loss_ratio or 0.0) * per_layer if seg.role in LOSS_ROLES else 0.0
        return (per_layer * seg.layers + loss) * top_rate / rate
    if seg.flops is not None:
        return seg.flops / (rate * cost.efficiency)
    raise error(cost.span if cost.span.line > 0 else program.span,
                f"no cost for segment `{seg.name}`: it has no profile and no FLOP count",
                hint="give `cost { seconds_per_sample_per_layer = ... }` or a profile file")


def cost_table(program: Program) -> CostTable:
    """Price every (segment, worker) the placement allows. O(segments * replicas + W^2 * L)."""
    top_rate = max(w.rate for w in program.workers)
    fwd: dict[tuple[str, str], float] = {}
    bwd: dict[tuple[str, str], float] = {}
    for seg in program.segments:
        for w in program.replicas(seg.stage):
            f = _forward(program, seg, program.worker(w).rate, top_rate)
            fwd[(seg.name, w)] = f
            if seg.bwd_time is not None:
                bwd[(seg.name, w)] = seg.bwd_time * top_rate / program.worker(w).rate
            else:
                bwd[(seg.name, w)] = program.cost.backward_ratio * f
            if recomputed(program, seg):  # the backward runs the forward again first
                bwd[(seg.name, w)] += f
    grad_bytes = {st.name: stage_grad_bytes(program, st.name) for st in program.stages}
    step = {w: step_seconds(program, stage, program.worker(w))
            for stage, group in program.placement for w in group}
    links = link_table(program)
    _check_links(program, links)
    return CostTable(
        fwd=fwd,
        bwd=bwd,
        seg_bytes={s.name: _estimated_bytes(program, s) for s in program.segments},
        links=links,
        overhead=program.cost.message_overhead,
        step=step,
        grad_bytes=grad_bytes,
        sync_bytes={st.name: stage_sync_bytes(program, st.name) for st in program.stages},
    )


def step_seconds(program: Program, stage: str, worker: Worker) -> float:
    """Seconds of one optimizer step over `stage`'s parameters on `worker` (AdamW's flops)."""
    params = sum(float(program.segment(n).params or 0) for n in program.stage(stage).segments)
    return ADAM_FLOPS_PER_PARAM * params / (worker.rate * program.cost.efficiency)


def stage_grad_bytes(program: Program, stage: str) -> float:
    """Bytes of a stage's gradients: its segments' parameter bytes (4 per parameter where
    only the count is known)."""
    total = 0.0
    for name in program.stage(stage).segments:
        seg = program.segment(name)
        if seg.param_bytes is not None:
            total += seg.param_bytes
        elif seg.params is not None:
            total += 4.0 * seg.params
    return total


def stage_sync_bytes(program: Program, stage: str) -> float:
    """Bytes each member of `stage`'s replica group puts on the wire per sync (docs/design.md §4b):
    the gradients as they are without compression; else 2 (bf16) or 1 (int8, plus one fp32
    scale per chunk) per parameter. A shared parameter's group is priced 0 (its size is not
    known apart from its stage's)."""
    if program.sync.compress == "none":
        return stage_grad_bytes(program, stage)
    segs = [program.segment(n) for n in program.stage(stage).segments]
    count = sum(s.params or 0 for s in segs) or stage_grad_bytes(program, stage) / 4.0
    return program.sync.wire_bytes(float(count))


def _check_links(program: Program, links: Mapping[tuple[str, str], tuple[float, float]]) -> None:
    """Every hop of every path and every replica-group ring edge needs a link rule."""
    pairs: list[tuple[str, str, str]] = []
    for p in program.paths:
        pairs += [(a.worker, b.worker, f"m{p.mb}") for a, b in zip(p.hops, p.hops[1:])]
    for stage, group in program.placement:
        if len(group) > 1:
            pairs += [(a, b, f"the all-reduce of `{stage}`")
                      for a, b in zip(group, group[1:] + group[:1])]
    for a, b, user in pairs:
        if a != b and (a, b) not in links:
            raise error(program.span, f"no link joins `{a}` to `{b}` (used by {user})",
                        hint="add a `link` rule, e.g. `link default { latency = ...; "
                        "bandwidth = ... }`")


def outer_sync_seconds(groups: list[tuple[tuple[str, ...], float]]) -> float:
    """Seconds the outer sync of a step adds (docs/CONTRACTS.md "Sync modes"): it runs after
    every worker's step, each worker taking its groups in name order, a group as soon as all
    its members are free: `groups` as (members, all-reduce seconds), sorted by name.
    O(group members)."""
    clock: dict[str, float] = {}
    for members, seconds in groups:
        end = max((clock.get(w, 0.0) for w in members), default=0.0) + seconds
        clock.update(dict.fromkeys(members, end))
    return max(clock.values(), default=0.0)


def outer_groups(program: Program, costs: CostTable) -> list[tuple[tuple[str, ...], float]]:
    """The collective groups in the order outer steps sync them (by name), with their
    all-reduce seconds (pgc.ir.queries.collective_groups gives the members)."""
    from pgc.ir.queries import collective_groups

    return [(members, costs.allreduce(members, costs.sync_bytes.get(name, 0.0)))
            for name, members in sorted(collective_groups(program))]
