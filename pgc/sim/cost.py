"""The cost model (docs/design.md §4): the one home of every price of a plan. The simulator's
`CostTable`, the order pass, the bounds, the planner's dense arrays (`pgc.planner.costs`),
the rehearsal's padding and the pictures all take their numbers from the formulas here.

Compute (`compute_seconds`). Forward time of a segment on a worker, first rule that applies:
1. a measured profile (`Segment.fwd_time`, seconds per microbatch),
2. the synthetic SkipPipe model `cost { seconds_per_sample_per_layer = s }`:
   s * layers * samples, plus `loss_ratio` * s * samples for the segment that computes the loss,
3. FLOPs: `Segment.flops / (worker.rate * cost.efficiency)`.
Rules 1 and 2 give the time on the fastest worker of the spec; slower workers scale by rate.
Backward = `Segment.bwd_time` if measured, else `cost.backward_ratio` x forward; plus one
forward when the segment's stage recomputes its activations.

Messages (`nic_seconds`, `message_seconds`). A message of n bytes from a to b occupies a's NIC
for n / bandwidth + overhead seconds (one message at a time) and arrives `latency` later.
Boundary bytes (`boundary_bytes`) come from the segment at the precision's width; before
capture they are estimated as 4 * dim * seq_len * samples (fp32 activations, SkipPipe's rule;
2 bytes a value with `cost { activation_dtype = fp16 }` or bf16) when the model has a `dim`
argument, else 0.

Sync (`group_sync_bytes`, `ring_allreduce_seconds`). A replica group all-reduces its stage's
gradients as they are, or compressed (`sync_wire_bytes`: 2 bytes a value for bf16, 1 plus one
fp32 scale a chunk for int8), over a ring; a shared parameter's group is priced 0 bytes.
The optimizer step (`step_seconds`) costs AdamW's flops per parameter.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgc.capture.memory import recomputed, width
from pgc.diagnostics import error
from pgc.ir.topology import link_table
from pgc.ir.types import DTYPE_BYTES, INT8_CHUNK, SYNC_WIDTH, Program, Segment, SyncConfig, Worker

if TYPE_CHECKING:  # numpy only where shares are searched: drawing a plan never loads it
    import numpy as np

LOSS_ROLES = ("epilogue", "last", "whole")
ADAM_FLOPS_PER_PARAM = 10.0  # AdamW update: a few multiply-adds per parameter

# a number, or a numpy array of them (the planner prices every pair of workers at once)
Num = Any


# -- compute --------------------------------------------------------------------------------
def fastest_rate(program: Program) -> float:
    """The highest worker rate: O(W) once per Program object, then O(1) (hashing a Program
    would itself cost O(W), so the cache goes by identity and holds the object)."""
    hit = _FASTEST.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    if len(_FASTEST) >= 8:
        _FASTEST.clear()
    value = max(w.rate for w in program.workers)
    _FASTEST[id(program)] = (program, value)
    return value


_FASTEST: dict[int, tuple[Program, float]] = {}


def compute_seconds(program: Program, seg: Segment, worker: Worker) -> tuple[float, float]:
    """(forward, backward) seconds of one microbatch through `seg` on `worker` (the module
    docstring's rules). Raises UserError when the segment has no cost at all."""
    top_rate = fastest_rate(program)
    f = _forward(program, seg, worker.rate, top_rate)
    b = seg.bwd_time * top_rate / worker.rate if seg.bwd_time is not None \
        else program.cost.backward_ratio * f
    if recomputed(program, seg):  # the backward runs the forward again first
        b += f
    return f, b


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


def step_seconds(program: Program, stage: str, worker: Worker) -> float:
    """Seconds of one optimizer step over `stage`'s parameters on `worker` (AdamW's flops)."""
    params = sum(float(program.segment(n).params or 0) for n in program.stage(stage).segments)
    return ADAM_FLOPS_PER_PARAM * params / (worker.rate * program.cost.efficiency)


# -- messages -------------------------------------------------------------------------------
def boundary_bytes(program: Program, seg: Segment) -> float:
    """Bytes of `seg`'s boundary message (its output activation, and its input's gradient):
    measured (fp32) bytes at the precision's width, else dim x tokens x the width of the
    precision (or of `activation_dtype` in fp32)."""
    if seg.boundary_bytes is not None:
        return float(seg.boundary_bytes or 0) * width(program.train.precision)
    dim = dict(program.model.args).get("dim")
    # a whole width the cost model can size (capture's synthetic profile rejects the others)
    if isinstance(dim, int) and not isinstance(dim, bool) and 0 < dim <= 2**31:
        precision = program.train.precision
        w = DTYPE_BYTES[precision if precision != "fp32" else program.cost.activation_dtype]
        return float(w * dim * program.seq_len * program.microbatch_size)
    return 0.0


def nic_seconds(nbytes: Num, bandwidth: Num, overhead: float) -> Num:
    """Seconds a sender's NIC is busy with one message of `nbytes` over a link of `bandwidth`
    (bytes/s): nbytes / bandwidth + the per-message overhead. Numbers or numpy arrays."""
    return nbytes / bandwidth + overhead


def message_seconds(nbytes: Num, latency: Num, bandwidth: Num, overhead: float) -> Num:
    """Seconds from a message's start on the sender's NIC to its arrival: latency + nbytes /
    bandwidth + the per-message overhead (`nic_seconds` of it, plus the latency). Numbers or
    numpy arrays."""
    return latency + nbytes / bandwidth + overhead


@dataclass(frozen=True)
class Network:
    """The resolved link table of a program priced by `message_seconds`; build once per pass
    with `Network.of`."""

    table: Mapping[tuple[str, str], tuple[float, float]]
    overhead: float

    @staticmethod
    def of(program: Program) -> Network:
        return Network(link_table(program), program.cost.message_overhead)

    def message_time(self, src: str, dst: str, nbytes: float) -> float:
        """Seconds for one message from `src` to `dst`; zero between a worker and itself."""
        if src == dst:
            return 0.0
        latency, bandwidth = self.table[(src, dst)]
        return message_seconds(nbytes, latency, bandwidth, self.overhead)


# -- sync -----------------------------------------------------------------------------------
def ring_allreduce_seconds(edges: Iterable[float], members: int) -> float:
    """Ring all-reduce over `members` workers whose ring edges take `edges` seconds each (one
    message of the bytes over the member count): 2(n-1) steps, each moving n/|g| bytes over
    every ring edge at once, so each step costs its slowest edge (Patarasuk & Yuan 2009).
    Zero for a group of one."""
    if members < 2:
        return 0.0
    return float(2 * (members - 1) * max(edges))


# -- how a group's sum travels: the backend's ring, or a direct exchange in weighted shares ----
DIRECT_MARGIN = 0.05  # `exchange = auto` takes the direct exchange when 5% faster than the ring
DIRECT_SEARCH = 12  # larger groups: `auto` keeps the ring, `direct` uses equal shares


@dataclass(frozen=True)
class Exchange:
    """How one group's uncompressed sum travels and what it costs: `ring` (the backend's
    all-reduce, `ring_allreduce_seconds`) or `direct` (`direct_exchange_seconds`) with member i
    (in the order the group was priced in) owning share `shares[i]` of the flat tensor."""

    kind: str
    seconds: float
    shares: tuple[float, ...] = ()


def direct_exchange_seconds(shares: tuple[float, ...], latency: tuple[tuple[float, ...], ...],
                            bandwidth: tuple[tuple[float, ...], ...], overhead: float,
                            nbytes: float) -> float:
    """Seconds of a direct exchange of `nbytes` over n members (`latency[i][j]`,
    `bandwidth[i][j]`: the link i -> j): member j owns share `shares[j]`. Phase 1: each member
    i sends its slice j (shares[j] * nbytes) to every other member j, one message at a time
    on its NIC (`nic_seconds`), in the order i+1, i+2, ... (mod n). Phase 2: once member j has
    sent its phase-1 slices and received every slice of its own, it sends its summed share
    to every other member, in the same order. Empty slices are not sent. The exchange ends
    with the last arrival. O(n^2)."""
    n = len(shares)
    if n < 2:
        return 0.0
    order = [[(i + k) % n for k in range(1, n)] for i in range(n)]
    ready = [0.0] * n  # member j: its last phase-1 slice has arrived
    free = [0.0] * n  # member i's NIC
    for i in range(n):
        t = 0.0
        for j in order[i]:
            size = shares[j] * nbytes
            if size > 0:
                t += size / bandwidth[i][j] + overhead
                ready[j] = max(ready[j], t + latency[i][j])
        free[i] = t
    end = 0.0
    for j in range(n):
        size = shares[j] * nbytes
        if size <= 0:
            continue
        t = max(free[j], ready[j])
        for k in order[j]:
            t += size / bandwidth[j][k] + overhead
            end = max(end, t + latency[j][k])
    return end


def _direct_many(trials: np.ndarray, latency: np.ndarray, bandwidth: np.ndarray,
                 overhead: float, nbytes: float) -> np.ndarray:
    """`direct_exchange_seconds` of each row of `trials` (T x n shares) at once, with the
    same floating-point operations in the same order, so equal to it bit for bit."""
    import numpy as np

    n = trials.shape[1]
    order = (np.arange(n)[:, None] + np.arange(1, n)[None, :]) % n  # order[i]: i+1, i+2, ...
    rows = np.arange(n)[:, None]
    size = trials * nbytes  # (T, n): the slice each member owns
    sent = size[:, order]  # (T, n, n-1): member i's k-th phase-1 slice
    live = sent > 0
    step = np.where(live, sent / bandwidth[rows, order] + overhead, 0.0)
    clock = np.cumsum(step, axis=2)  # sequential sums, as the loop adds
    arrive = np.where(live, clock + latency[rows, order], -np.inf)
    # member j's slice from member i is i's ((j - i - 1) mod n)-th send
    senders = np.array([[i for i in range(n) if i != j] for j in range(n)])
    slot = (np.arange(n)[:, None] - senders - 1) % n
    ready = np.maximum(arrive[:, senders, slot].max(axis=2), 0.0)  # (T, n)
    start = np.maximum(clock[:, :, -1], ready)
    back = np.where(size[:, :, None] > 0,
                    size[:, :, None] / bandwidth[rows, order][None] + overhead, 0.0)
    times = np.cumsum(np.concatenate([start[:, :, None], back], axis=2), axis=2)[:, :, 1:]
    ends = np.where(size[:, :, None] > 0, times + latency[rows, order][None], -np.inf)
    return np.maximum(ends.max(axis=(1, 2)), 0.0)


def direct_shares(latency: tuple[tuple[float, ...], ...], bandwidth: tuple[tuple[float, ...], ...],
                  overhead: float, nbytes: float) -> tuple[tuple[float, ...], float]:
    """(shares, seconds): the shares of a direct exchange that make it fastest as
    `direct_exchange_seconds` prices it, by a pattern search from equal shares: move share
    from one member to another in halving steps (1/2n down to 1/1000) while some move shortens
    the exchange (moves tried in order, a better one replacing the pass's best). Deterministic;
    a local optimum, never slower than equal shares. O(n^4) a pass (each pass prices every
    move), a few dozen passes. Where numpy is already loaded (the planner) a pass is priced
    in one numpy call (`_direct_many`, bit for bit the same); elsewhere (drawing a plan) move
    by move, so pricing never loads numpy."""
    n = len(latency)
    shares = [1.0 / n] * n
    best = direct_exchange_seconds(tuple(shares), latency, bandwidth, overhead, nbytes)
    step = 0.5 / n
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    batch = _batch_pricer(latency, bandwidth, overhead, nbytes)
    while step >= 1e-3:
        trials = []
        for a, b in pairs:
            if shares[a] > 0:
                d = min(step, shares[a])
                trial = list(shares)
                trial[a] -= d
                trial[b] += d
                trials.append(trial)
        times = batch(trials) if batch else [
            direct_exchange_seconds(tuple(t), latency, bandwidth, overhead, nbytes) for t in trials]
        move = None
        for trial, t in zip(trials, times):
            if t < best - 1e-9:
                best, move = t, trial
        if move is None:
            step /= 2
        else:
            shares = move
    return tuple(shares), best


def _batch_pricer(latency: tuple[tuple[float, ...], ...], bandwidth: tuple[tuple[float, ...], ...],
                  overhead: float, nbytes: float) -> Callable[[list[list[float]]], list[float]] | None:
    """`_direct_many` over these links when numpy is loaded, else None."""
    if "numpy" not in sys.modules:
        return None
    import numpy as np

    lat, bw = np.array(latency, dtype=float), np.array(bandwidth, dtype=float)
    return lambda trials: _direct_many(np.array(trials, dtype=float), lat, bw, overhead,
                                       nbytes).tolist()


@functools.lru_cache(maxsize=4096)
def group_exchange(latency: tuple[tuple[float, ...], ...], bandwidth: tuple[tuple[float, ...], ...],
                   overhead: float, nbytes: float, mode: str) -> Exchange:
    """The exchange of one group of members in the given order (its ring order), under the
    spec's `sync { exchange = auto | ring | direct }`: `ring` prices the backend's ring
    all-reduce over the order (`ring_allreduce_seconds`); `direct` the direct exchange in the
    shares of `direct_shares`; `auto` takes the direct exchange when it is at
    least DIRECT_MARGIN faster than the ring, else the ring. Groups of more than DIRECT_SEARCH
    members (n^2 messages, each with its overhead) keep the ring under `auto` and take equal
    shares under `direct`. Cached: the planner prices the same
    groups many times."""
    n = len(latency)
    if n < 2:
        return Exchange("ring", 0.0)
    edges = (message_seconds(nbytes / n, latency[i][(i + 1) % n], bandwidth[i][(i + 1) % n],
                             overhead) for i in range(n))
    ring = Exchange("ring", ring_allreduce_seconds(edges, n))
    if mode == "ring" or nbytes <= 0:  # nothing priced to move: nothing to weigh
        return ring
    if n > DIRECT_SEARCH:
        if mode == "auto":
            return ring
        shares = tuple([1.0 / n] * n)
        seconds = direct_exchange_seconds(shares, latency, bandwidth, overhead, nbytes)
    else:
        shares, seconds = direct_shares(latency, bandwidth, overhead, nbytes)
    direct = Exchange("direct", seconds, shares)
    if mode == "direct" or direct.seconds <= (1 - DIRECT_MARGIN) * ring.seconds:
        return direct
    return ring


def sync_wire_bytes(sync: SyncConfig, params: float) -> float:
    """Bytes one worker's copy of `params` values takes on the wire under `sync`'s compression:
    4, 2 or 1 per value, plus one fp32 scale per `INT8_CHUNK` values for int8."""
    scales = 4.0 * -(-params // INT8_CHUNK) if sync.compress == "int8" else 0.0
    return SYNC_WIDTH[sync.compress] * params + scales


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
    # `sync { exchange }` for uncompressed sums; compressed ones are priced as a ring
    exchange: str = "ring"

    def message(self, src: str, dst: str, nbytes: float) -> tuple[float, float]:
        """(seconds the sender's NIC is busy, latency in flight) of one message."""
        if src == dst:
            return 0.0, 0.0
        latency, bandwidth = self.links[(src, dst)]
        return nic_seconds(nbytes, bandwidth, self.overhead), latency

    def allreduce(self, workers: tuple[str, ...], nbytes: float) -> float:
        """Ring all-reduce of `nbytes` over `workers` in the given ring order."""
        return self.exchange_of(workers, nbytes, "ring").seconds

    def exchange_of(self, workers: tuple[str, ...], nbytes: float, mode: str) -> Exchange:
        """How a sum of `nbytes` over `workers` (in ring order) travels under `mode`
        (`group_exchange`)."""
        lat = tuple(tuple(0.0 if a == b else self.links[(a, b)][0] for b in workers)
                    for a in workers)
        bw = tuple(tuple(float("inf") if a == b else self.links[(a, b)][1] for b in workers)
                   for a in workers)
        return group_exchange(lat, bw, self.overhead, nbytes, mode)

    def sync_exchange(self, group: str, workers: tuple[str, ...]) -> Exchange:
        """How one sync of collective group `group` over `workers` (its ring order) travels."""
        return self.exchange_of(workers, self.sync_bytes.get(group, 0.0), self.exchange)

    def sync_seconds(self, group: str, workers: tuple[str, ...]) -> float:
        """Seconds of one sync of collective group `group` over `workers` (its ring order)."""
        return self.sync_exchange(group, workers).seconds


def cost_table(program: Program) -> CostTable:
    """Price every (segment, worker) the placement allows. O(segments * replicas + W^2 * L)."""
    from pgc.ir.queries import collective_groups

    fwd: dict[tuple[str, str], float] = {}
    bwd: dict[tuple[str, str], float] = {}
    for seg in program.segments:
        for w in program.replicas(seg.stage):
            fwd[(seg.name, w)], bwd[(seg.name, w)] = compute_seconds(program, seg,
                                                                     program.worker(w))
    step = {w: step_seconds(program, stage, program.worker(w))
            for stage, group in program.placement for w in group}
    links = link_table(program)
    _check_links(program, links)
    return CostTable(
        fwd=fwd,
        bwd=bwd,
        seg_bytes={s.name: boundary_bytes(program, s) for s in program.segments},
        links=links,
        overhead=program.cost.message_overhead,
        step=step,
        grad_bytes={st.name: stage_grad_bytes(program, st.name) for st in program.stages},
        sync_bytes={name: group_sync_bytes(program, name)
                    for name, _ in collective_groups(program)},
        exchange=sync_exchange_mode(program.sync),
    )


def sync_exchange_mode(sync: SyncConfig) -> str:
    """The exchange the cost model prices a group sum with: the spec's `exchange` for
    uncompressed sums; compressed sums (their own direct exchange in equal shares) as a ring."""
    return sync.exchange if sync.compress == "none" else "ring"


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


def group_sync_bytes(program: Program, group: str) -> float:
    """Bytes each member of collective group `group` (a stage's replica group, or a shared
    parameter's) puts on the wire per sync (docs/design.md §4b): a stage's gradients as they
    are without compression, else at the compressed width (`sync_wire_bytes`). A shared
    parameter's group is priced 0 (its size is not known apart from its stage's)."""
    if group not in {st.name for st in program.stages}:
        return 0.0
    if program.sync.compress == "none":
        return stage_grad_bytes(program, group)
    segs = [program.segment(n) for n in program.stage(group).segments]
    count = sum(s.params or 0 for s in segs) or stage_grad_bytes(program, group) / 4.0
    return sync_wire_bytes(program.sync, float(count))


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

    return [(members, costs.sync_seconds(name, members))
            for name, members in sorted(collective_groups(program))]
