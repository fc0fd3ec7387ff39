"""One worker's interpreter: runs its action list of the plan once per step.

Forward (`F`) runs a segment on its inputs (token ids at the first segment, else the tensors a
receive or the previous local segment delivered) and keeps them for the backward; the loss
segment divides its loss by M, the iteration's microbatch count, before its backward (`B`);
sends and receives move boundary tensors and their gradients (see `transport`); `ALLREDUCE`
sums a gradient bucket over its workers; `STEP` waits for the worker's posted sends. Any
failure inside an action is raised as `ActionError`, naming the worker, rank, step, action,
microbatch and stage before the original error.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .actions import Action, format_action
from .data import Source, batch
from .groups import all_reduce_bucket, direct_shares, held_names, norm_owners, orphans, unflatten
from .liveness import Watchdog
from .model import named_params
from .plan import Bucket, Plan, PlanError
from .precision import FP32, Precision
from .randomness import forward_rng
from .recompute import checkpoint_blocks, run_segment
from .rehearsal import Overrun
from .report import Tracer
from .sync import latest, outer_update, summer
from .transport import Incoming, Ready, Shapes, Tensors, Transport


class ActionError(RuntimeError):
    """An error inside one action; the message names where, the cause is the original error."""


@dataclass
class Routing:
    """What this worker expects on each message and where local hand-offs happen."""

    fwd: dict[tuple[int, str], deque[Shapes]] = field(default_factory=dict)
    bwd: dict[tuple[int, str], deque[Shapes]] = field(default_factory=dict)
    local_next: set[tuple[str, int]] = field(default_factory=set)  # (segment, mb): next hop here
    local_prev: set[tuple[str, int]] = field(default_factory=set)
    origin_of: dict[int, int] = field(default_factory=dict)


def routing(plan: Plan, me: str, precision: Precision = FP32) -> Routing:
    """This worker's view of the paths: the shapes of each incoming message in FIFO order per
    (microbatch, peer), with the dtype it travels in, and the hops whose neighbour runs here
    too."""
    outputs = {s.name: tuple((shape, precision.wire(d)) for shape, d in s.outputs)
               for s in plan.segments}
    r = Routing()
    for path in plan.paths:
        m, hops = path.mb, path.hops
        r.origin_of[m] = path.origin_index
        for k, (seg, w) in enumerate(hops):
            if w != me:
                continue
            if k > 0 and hops[k - 1][1] != me:
                r.fwd.setdefault((m, hops[k - 1][1]), deque()).append(outputs[hops[k - 1][0]])
            if k > 0 and hops[k - 1][1] == me:
                r.local_prev.add((seg, m))
            if k + 1 < len(hops) and hops[k + 1][1] == me:
                r.local_next.add((seg, m))
        for k in range(len(hops) - 1, -1, -1):
            seg, w = hops[k]
            if w == me and k + 1 < len(hops) and hops[k + 1][1] != me:
                floats = tuple(o for o in outputs[seg] if getattr(torch, o[1]).is_floating_point)
                r.bwd.setdefault((m, hops[k + 1][1]), deque()).append(floats)
    return r


@dataclass(frozen=True)
class Emulation:
    """Rehearsal settings: pad messages (network) and actions (compute) to predicted times."""

    network: bool = False
    compute: bool = False
    scale: float = 1.0


@dataclass
class StepState:
    """What one step's actions hand each other."""

    ctx: dict[tuple[str, int], tuple[Tensors, Any]] = field(default_factory=dict)
    inbox: dict[int, Incoming | Ready] = field(default_factory=dict)
    grads_in: dict[int, Incoming | Ready] = field(default_factory=dict)
    last_out: dict[int, Tensors] = field(default_factory=dict)
    last_grad: dict[int, Tensors] = field(default_factory=dict)
    fwd_q: dict[tuple[int, str], deque[Shapes]] = field(default_factory=dict)
    bwd_q: dict[tuple[int, str], deque[Shapes]] = field(default_factory=dict)
    loss_sum: torch.Tensor | float = 0.0  # a tensor once a loss was computed (no host read)
    loss_count: int = 0


@dataclass
class Worker:
    plan: Plan
    me: str
    rank: int
    segments: dict[str, torch.nn.Module]
    transport: Transport
    groups: Mapping[str, tuple[Bucket, Any]]
    watchdog: Watchdog
    device: torch.device
    emulation: Emulation = Emulation()
    tracer: Tracer | None = None
    source: Source | None = None
    precision: Precision = FP32
    loss_scale: float = 1.0  # fp16: the dynamic loss scale of the current step
    route: Routing = field(init=False)
    actions: tuple[Action, ...] = field(init=False)
    params: dict[str, torch.nn.Parameter] = field(init=False)
    counted: list[torch.nn.Parameter] = field(init=False)  # norm counted here
    reduced: set[str] = field(default_factory=set)  # buckets reduced in the current step
    # sync modes: residuals, outer weights and outer momentum by name (checkpointed)
    sync_state: dict[str, torch.Tensor] = field(default_factory=dict)
    visits: int = field(init=False)  # microbatches whose path runs here each step
    visits_of: dict[str, int] = field(init=False)  # the same for every worker (from the plan)
    total: Callable[[torch.Tensor, Any, str], torch.Tensor] = field(init=False)  # a group sum
    overrun: Overrun = field(default_factory=Overrun)  # --emulate-compute: real > emulated

    def __post_init__(self) -> None:
        self.route = routing(self.plan, self.me, self.precision)
        self.recompute = {n: self.plan.train.recompute.get(self.plan.segment(n).stage, "none")
                          for n in self.segments}
        for n, mode in self.recompute.items():
            if mode == "blocks" and not checkpoint_blocks(self.segments[n]):
                self.recompute[n] = "stage"  # no block module is called: the stage as a whole
        if self.plan.train.compile:
            for mod in self.segments.values():
                mod.compile()  # torch.compile in place (the state_dict keys stay the model's)
        self.actions = self.plan.actions[self.me]
        self.visits_of = {w: len({a.mb for a in acts if a.kind == "F"})
                          for w, acts in self.plan.actions.items()}
        self.visits = self.visits_of.get(self.me, 0)
        self.params = named_params(self.segments)
        sync = self.plan.sync
        self.total = summer(sync.compress, sync.chunk, self.sync_state,
                            direct_shares(self.groups, self.transport.rank_of))
        self.counted = norm_owners(self.plan, self.me, self.params)
        lost = orphans(self.plan, self.me, self.params)
        if lost:  # its gradient would never be summed: refuse rather than train wrong
            raise PlanError(f"worker {self.me}: parameters in no gradient group: {lost[:5]}")

    def batch(self, step: int, mb: int) -> tuple[torch.Tensor, torch.Tensor]:
        return batch(self.plan, self.source, step, self.route.origin_of[mb], mb)

    def on_device(self, t: torch.Tensor) -> torch.Tensor:
        """A host tensor on this worker's device: through pinned memory without waiting, on a
        GPU."""
        if self.device.type != "cuda":
            return t
        return t.pin_memory().to(self.device, non_blocking=True)

    def run_step(self, step: int) -> tuple[torch.Tensor | float, int]:
        """Run this worker's action list once; returns (sum of its microbatch losses, a tensor
        read once per step by the caller, or 0.0 when it computed none; count)."""
        st = StepState(fwd_q={k: deque(v) for k, v in self.route.fwd.items()},
                       bwd_q={k: deque(v) for k, v in self.route.bwd.items()})
        for p in self.params.values():
            p.grad = torch.zeros_like(p)
        for index, act in enumerate(self.actions):
            start = self.transport.clock.now()
            self.watchdog.enter(f"action `{format_action(act)}` (action {index} of step {step})")
            try:
                start = self.run_action(act, st, step, start)
            except (PlanError, ActionError):
                raise
            except Exception as exc:
                raise ActionError(self.where(step, index, act)) from exc
            finally:
                self.watchdog.leave()
            if self.tracer is not None:
                self.tracer.add(format_action(act), start, step, index)
        # Buckets the action list did not reduce explicitly, in one order on every worker.
        for name in sorted(self.groups):
            if name not in self.reduced:
                self.reduce(name)
        self.reduced.clear()
        return st.loss_sum, st.loss_count

    def where(self, step: int, index: int, act: Action) -> str:
        """`worker n2 (rank 2), step 3, action 7 `F s2 m1` (microbatch 1, stage s2)`."""
        detail = []
        if act.mb >= 0:
            detail.append(f"microbatch {act.mb}")
        if act.kind in ("F", "B"):
            detail.append(f"segment {act.segment} of stage {self.plan.segment(act.segment).stage}")
        elif act.kind == "ALLREDUCE":
            detail.append(f"group {act.segment}")
        extra = f" ({', '.join(detail)})" if detail else ""
        return (f"worker {self.me} (rank {self.rank}), step {step}, action {index} "
                f"`{format_action(act)}`{extra}")

    def run_action(self, act: Action, st: StepState, step: int, start: float) -> float:
        """Run one action; returns when its own work started (after its inputs arrived)."""
        kind, m = act.kind, act.mb
        if kind == "F":
            return self.forward(act, st, step)
        if kind == "B":
            return self.backward(act, st)
        if kind == "SEND_F":
            self.transport.send(st.last_out[m], act.peer, format_action(act))
        elif kind == "SEND_B":
            self.transport.send(st.last_grad[m], act.peer, format_action(act))
        elif kind == "RECV_F":
            shapes = st.fwd_q[(m, act.peer)].popleft()
            st.inbox[m] = self.transport.post_recv(shapes, act.peer, format_action(act))
        elif kind == "RECV_B":
            shapes = st.bwd_q[(m, act.peer)].popleft()
            st.grads_in[m] = self.transport.post_recv(shapes, act.peer, format_action(act))
        elif kind == "ALLREDUCE":
            self.transport.flush()
            if self.plan.sync.synchronous:
                begin = self.exchange_begins(act.segment)
                self.reduce(act.segment)
                self.exchange_ends(act.segment, begin)
            else:
                self.reduce(act.segment)  # outer steps: no exchange inside the step
        elif kind == "STEP":
            self.transport.flush()
            if self.emulation.network:  # the optimizer runs once the NIC is idle
                self.wait_until(self.transport.nic_free)
                start = self.transport.clock.now()
            self.compute_pad(act, start)
        return start

    def forward(self, act: Action, st: StepState, step: int) -> float:
        m, seg = act.mb, self.plan.segment(act.segment)
        data = self.batch(step, m) if seg.first or seg.loss else None
        inputs: Tensors = ((self.on_device(data[0]),) if data is not None and seg.first
                           else st.inbox.pop(m).get())
        start = self.transport.clock.now()  # compute starts once the data is here
        leaves = tuple(t.detach().requires_grad_(t.is_floating_point()) for t in inputs)
        mod = self.segments[act.segment]
        args = (*leaves, self.on_device(data[1])) if data is not None and seg.loss else leaves
        with forward_rng(self.plan.train.seed, step, m, act.segment, self.device), \
                self.precision.autocast():
            out = run_segment(mod, args, self.recompute[act.segment] == "stage")
        if seg.loss:
            st.loss_sum = st.loss_sum + out.detach().float()
            st.loss_count += 1
        else:
            out = self.precision.boundary(out if isinstance(out, tuple) else (out,))
            st.last_out[m] = out
            if (act.segment, m) in self.route.local_next:
                st.inbox[m] = Ready(out)
        st.ctx[(act.segment, m)] = (leaves, out)
        self.compute_pad(act, start)
        return start

    def backward(self, act: Action, st: StepState) -> float:
        m = act.mb
        leaves, out = st.ctx.pop((act.segment, m))
        loss_seg = self.plan.segment(act.segment).loss
        given = iter(() if loss_seg else st.grads_in.pop(m).get())
        start = self.transport.clock.now()
        if loss_seg:
            loss = out.float() / self.plan.microbatches
            (loss * self.loss_scale if self.loss_scale != 1.0 else loss).backward()
        else:
            pairs = [(o, next(given)) for o in out if o.is_floating_point()]
            torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        got = tuple(t.grad if t.grad is not None else torch.zeros_like(t)
                    for t in leaves if t.is_floating_point())
        st.last_grad[m] = got
        if (act.segment, m) in self.route.local_prev:
            st.grads_in[m] = Ready(got)
        self.compute_pad(act, start)
        return start

    def compute_pad(self, act: Action, start: float) -> None:
        """--emulate-compute: hold the action until its predicted (scaled) time has passed."""
        if not self.emulation.compute:
            return
        if act.kind == "STEP":
            want = self.plan.step_times.get(self.me, 0.0)
        else:
            fwd, bwd = self.plan.compute_times.get(f"{act.segment}@{self.me}", (0.0, 0.0))
            want = fwd if act.kind == "F" else bwd
        left = want * self.emulation.scale - (self.transport.clock.now() - start)
        self.overrun.note(-left, f"{format_action(act)}")
        if left > 0:
            time.sleep(left)

    # -- emulated sync traffic (--emulate-network) -------------------------------------
    def exchange_begins(self, name: str) -> float | None:
        """--emulate-network: when group `name`'s exchange begins on the shared clock, as the
        simulator prices it: once every member is there and its NIC is idle (the latest
        member's time, agreed by a max over the group). None when not emulating."""
        bucket_group = self.groups.get(name)
        if not self.emulation.network or bucket_group is None or bucket_group[1] is None:
            return None
        here = max(self.transport.clock.now(), self.transport.nic_free)
        with self.watchdog.blocking(bucket_group[0].workers, f"emulated exchange {name}"):
            return latest(here, bucket_group[1], self.device)

    def exchange_ends(self, name: str, begin: float | None) -> None:
        """--emulate-network: hold until the exchange's predicted (scaled) time after `begin`
        has passed (the ring's latency and bytes over bandwidth, at the mode's wire width);
        the real exchange, done by then, counts inside that time. The NIC is busy until then."""
        if begin is None:
            return
        end = begin + self.plan.allreduce_times.get(name, 0.0) * self.emulation.scale
        self.wait_until(end)
        self.transport.nic_free = max(self.transport.nic_free, end)

    def wait_until(self, when: float) -> None:
        left = when - self.transport.clock.now()
        if left > 0:
            time.sleep(left)

    def reduce(self, name: str) -> None:
        """Sum a bucket's gradients over its group (synchronous modes; with outer steps the
        gradients stay local and `outer_sync` averages pseudo-gradients instead)."""
        entries = [n for n in self.groups if n == name or n.startswith(name + "/")]
        for n in entries:
            self.reduced.add(n)
            if not self.plan.sync.synchronous:
                continue
            bucket, group = self.groups[n]
            with self.watchdog.blocking(bucket.workers, f"ALLREDUCE {n}"):
                all_reduce_bucket(bucket, group, self.params, self.total)

    # -- outer steps (docs/CONTRACTS.md "Sync modes") -----------------------------------
    def start_outer(self) -> None:
        """The outer weights start as the worker's weights (unless a checkpoint gave them)."""
        for n, p in self.params.items():
            self.sync_state.setdefault(f"theta/{n}", p.detach().clone())
            self.sync_state.setdefault(f"momentum/{n}", torch.zeros_like(p))

    def inner_gradient(self) -> None:
        """The mean gradient over the microbatches this worker processed: the loss was
        divided by M, so scale by M / visits."""
        if self.visits:
            for p in self.params.values():
                p.grad.mul_(self.plan.microbatches / self.visits)  # type: ignore[union-attr]

    def own_norm_sq(self) -> float:
        return sum(float(squared_sum(p.grad))
                   for p in self.params.values() if p.grad is not None)

    def outer_sync(self) -> None:
        """Every group averages its members' pseudo-gradients (theta - local), weighted by
        the microbatches each processed, takes the outer step, and every member continues
        from the new outer weights. Buckets in name order, alike on every worker."""
        sync = self.plan.sync
        for name in sorted(self.groups):
            bucket, group = self.groups[name]
            names = held_names(bucket, self.params)
            theta = [self.sync_state[f"theta/{n}"] for n in names]
            local = [self.params[n].detach() for n in names]
            # every member's count is in the plan: no exchange needed
            weight, count = float(self.visits), sum(self.visits_of[w] for w in bucket.workers)
            if count == 0:  # no member processed any: a plain mean
                weight, count = 1.0, len(bucket.workers)
            flat = torch.cat([(t - p).reshape(-1) for t, p in zip(theta, local)]) * weight
            if group is not None:
                with self.watchdog.blocking(bucket.workers, f"outer sync {name}"):
                    begin = self.exchange_begins(name)
                    flat = self.total(flat, group, name)
                    self.exchange_ends(name, begin)
            delta = flat / count
            pieces = [torch.empty_like(t) for t in theta]
            unflatten(delta, pieces)
            with torch.no_grad():
                for n, t, d in zip(names, theta, pieces):
                    outer_update(t, self.sync_state[f"momentum/{n}"], d, sync.outer,
                                 sync.outer_lr, sync.outer_momentum)
                    self.params[n].copy_(t)

    def norm_sq(self) -> torch.Tensor:
        """The squared norm of the gradients counted here, as a tensor (no host read)."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for p in self.counted:
            if p.grad is not None:
                total = total + squared_sum(p.grad)
        return total


NORM_CHUNK = 1 << 20  # elements converted to float64 at a time


def squared_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of `t`'s squared elements in float64, converting a chunk at a time: a float64
    copy of a whole large gradient (and of its square) would double its memory for a moment
    (measured: 96 MiB on top for a 24 MiB embedding gradient)."""
    flat = t.detach().reshape(-1)
    total = torch.zeros((), dtype=torch.float64, device=t.device)
    for chunk in flat.split(NORM_CHUNK):
        total = total + chunk.double().pow(2).sum()
    return total
