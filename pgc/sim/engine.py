"""Discrete-event simulation of per-worker action lists (docs/design.md §4 cost model).

Timing semantics (what the runtime does, with isend/irecv posted in list order):
- a worker runs its compute actions (F, B) one at a time, in list order; one starts when the
  worker is free and the data it consumes has arrived;
- RECV posts a receive buffer when the worker reaches it and does not block;
- SEND hands the message to the worker's NIC when the worker reaches it; the NIC sends one
  message at a time in list order, starting once the receiver has posted the matching RECV
  (rendezvous, FIFO per ordered pair); it is busy bytes / bandwidth + overhead and the message
  arrives `latency` later;
- ALLREDUCE starts when every member of its group has reached it and its NIC is idle (ring
  all-reduce of the bytes each member puts on the wire, `CostTable.sync_bytes` and
  `CostTable.allreduce`); STEP runs the optimizer once the NIC is idle. The order pass puts a
  worker's ALLREDUCEs right after its last backward and the sends it produced, so a group's
  all-reduce overlaps with the rest of the pipeline, sharing each member's NIC with pipeline
  traffic in list order. With `sync = False` (a step that does not sync: `sync { every = H }`
  between syncs) ALLREDUCE takes no time and waits for no one.

Every constraint points at the action that set it, so the critical path falls out by walking
back from the last action to finish. Each action is visited O(1) times: O(actions) overall.
Deadlock-freedom is the verifier's job; here lists must be verified, or `simulate` raises
`SimulationStuck` naming a blocked worker and action.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from pgc.capture.memory import recompute_bytes, state_bytes, width
from pgc.ir.queries import stage_of_worker
from pgc.ir.types import Action, MemoryEstimate, Program
from pgc.runtime.actions import format_action
from pgc.sim.cost import CostTable, cost_table, outer_groups, outer_sync_seconds

Ref = tuple[int, int]  # (worker index, action index)


class SimulationStuck(RuntimeError):
    """Action lists that cannot run to the end (an unverified plan)."""


@dataclass(frozen=True)
class Record:
    worker: str
    index: int
    action: Action
    start: float
    end: float


@dataclass(frozen=True)
class SimResult:
    """Times per action and per worker. `start[w][i]`/`end[w][i]` belong to `actions[w][i]`:
    compute runs [start, end); a SEND leaves the NIC at start and arrives at end; a RECV is
    posted at start and its data arrives at end; collectives span the whole group's exchange."""

    workers: tuple[str, ...]
    actions: dict[str, tuple[Action, ...]]
    start: dict[str, list[float]]
    end: dict[str, list[float]]
    pipeline_time: float  # last backward done
    iteration_time: float  # every worker stepped
    busy: dict[str, float]  # compute seconds
    nic_busy: dict[str, float]
    peak_inflight: dict[str, int]
    memory: dict[str, MemoryEstimate]
    critical_path: tuple[Ref, ...]  # from the first action to the last one to finish

    def records(self) -> Iterator[Record]:
        for w in self.workers:
            for i, a in enumerate(self.actions[w]):
                yield Record(w, i, a, self.start[w][i], self.end[w][i])

    def bubble(self, worker: str) -> float:
        """Seconds `worker` computes nothing during the pipeline phase."""
        return self.pipeline_time - self.busy[worker]

    def idle(self, worker: str) -> float:
        """Seconds `worker` computes nothing during the whole iteration."""
        return self.iteration_time - self.busy[worker]

    def describe(self, ref: Ref) -> str:
        w = self.workers[ref[0]]
        return f"{w}: {format_action(self.actions[w][ref[1]])}"


def simulate(program: Program, costs: CostTable | None = None, sync: bool = True) -> SimResult:
    """Simulate one iteration of `program.actions` (module docstring): a step that syncs, or
    with `sync=False` one that does not. O(actions)."""
    costs = costs or cost_table(program)
    return _Sim(program, costs, sync).run()


def sync_steps(program: Program, costs: CostTable | None = None) -> tuple[SimResult, float, float]:
    """(the simulated step, seconds of a step without sync, seconds of a step that syncs).
    Synchronous modes sync inside the lists (overlapped all-reduces; the simulated step is the
    one that syncs). Outer steps keep the lists free of exchanges and sync after every
    worker's step (`outer_sync_seconds`; the simulated step is the one without)."""
    costs = costs or cost_table(program)
    if program.sync.synchronous:
        res = simulate(program, costs)
        step = simulate(program, costs, sync=False).iteration_time
        return res, step, res.iteration_time
    res = simulate(program, costs, sync=False)
    extra = outer_sync_seconds(outer_groups(program, costs))
    return res, res.iteration_time, res.iteration_time + extra


class _Sim:
    def __init__(self, program: Program, costs: CostTable, sync: bool = True) -> None:
        self.p, self.c, self.sync = program, costs, sync
        self.names = tuple(w for w, _ in program.actions)
        self.index = {w: i for i, w in enumerate(self.names)}
        self.acts = [acts for _, acts in program.actions]
        n = len(self.names)
        self.start: list[list[float]] = [[0.0] * len(a) for a in self.acts]
        self.end: list[list[float]] = [[0.0] * len(a) for a in self.acts]
        self.pred: list[list[Ref | None]] = [[None] * len(a) for a in self.acts]
        self.ptr = [0] * n
        self.clock = [0.0] * n  # when the worker has issued everything before ptr
        self.clock_ref: list[Ref | None] = [None] * n
        self.nic_free = [0.0] * n
        self.nic_ref: list[Ref | None] = [None] * n
        self.nic_busy = [0.0] * n
        self.busy = [0.0] * n
        # per ordered pair: receive posts (time, ref) and message arrivals (time, ref), in order
        self.posts: dict[tuple[int, int], list[tuple[float, Ref | None, int]]] = {}
        self.arrivals: dict[tuple[int, int], list[tuple[float, Ref]]] = {}
        self.sent: dict[tuple[int, int], int] = {}
        self.pending: list[dict[tuple[str, int], tuple[tuple[int, int], int, int]]] = [
            {} for _ in range(n)
        ]
        self.waiting: dict[object, int] = {}
        self.work: deque[int] = deque(range(n))
        self.groups = self._groups()
        self.arrived: dict[str, dict[int, tuple[int, float, Ref | None]]] = {}
        self.coll_end: dict[str, float] = {}
        # the segment whose output a message carries: its sender's forward, or for a gradient
        # the segment before the sender's backward on the path (same size as the sender's input)
        self.carried: list[dict[tuple[str, int], str]] = [{} for _ in range(n)]
        self.prev_seg = {(p.mb, b.segment): a.segment
                         for p in program.paths for a, b in zip(p.hops, p.hops[1:])}
        self.stage_of = stage_of_worker(program)
        self.seg_of = {s.name: s for s in program.segments}
        self._stage_weights: dict[str | None, float] = {}
        for s in program.segments:
            self._stage_weights[s.stage] = self._stage_weights.get(s.stage, 0.0) + float(
                s.param_bytes or 0)
        self.held: list[dict[int, int]] = [{} for _ in range(n)]
        self.inflight = [0] * n
        self.peak = [0] * n
        self.act_bytes = [0.0] * n
        self.peak_bytes = [0.0] * n
        # segment -> (bytes kept from forward to backward, bytes live on top during a backward)
        precision = program.train.precision
        self.kept: dict[str, tuple[float, float]] = {}
        for sg in program.segments:
            est = self.c.seg_bytes[sg.name] / width(precision)  # fp32 bytes of the boundary
            acts = float(sg.activation_bytes if sg.activation_bytes is not None
                         else est * max(1, sg.layers))
            edge = float(sg.boundary_bytes if sg.boundary_bytes is not None else est)
            self.kept[sg.name] = recompute_bytes(sg, program.train.recompute_of(sg.stage),
                                                 precision, acts, edge)

    def _groups(self) -> dict[str, tuple[str, ...]]:
        from pgc.ir.queries import collective_groups

        return dict(collective_groups(self.p))

    def run(self) -> SimResult:
        while self.work:
            self._advance(self.work.popleft())
        for i, w in enumerate(self.names):
            if self.ptr[i] < len(self.acts[i]):
                a = format_action(self.acts[i][self.ptr[i]])
                raise SimulationStuck(f"worker {w} cannot run `{a}` (action {self.ptr[i]}); "
                                      "verify the plan first")
        return self._result()

    def _wake(self, key: object) -> None:
        w = self.waiting.pop(key, None)
        if w is not None:
            self.work.append(w)

    def _advance(self, wi: int) -> None:
        # the hot loop: per-worker state in locals (this runs once per action)
        acts, w, n = self.acts[wi], self.names[wi], len(self.acts[wi])
        fwd, bwd = self.c.fwd, self.c.bwd
        start, end, pred = self.start[wi], self.end[wi], self.pred[wi]
        pending, carried, arrivals = self.pending[wi], self.carried[wi], self.arrivals
        i = self.ptr[wi]
        while i < n:
            a = acts[i]
            kind = a.kind
            if kind == "F" or kind == "B":
                t, ref = self.clock[wi], self.clock_ref[wi]
                key = (kind, a.mb)
                pend = pending.get(key)
                if pend is not None:
                    pair, k, _ = pend
                    got = arrivals.get(pair)
                    if got is None or len(got) <= k:
                        self.waiting[("arr", pair, k)] = wi
                        break
                    del pending[key]
                    if got[k][0] > t:
                        t, ref = got[k]
                dur = (fwd if kind == "F" else bwd)[(a.segment, w)]
                start[i], end[i], pred[i] = t, t + dur, ref
                self.clock[wi], self.clock_ref[wi] = t + dur, (wi, i)
                self.busy[wi] += dur
                self._hold(wi, a)
                carried[key] = (
                    a.segment if kind == "F" else self.prev_seg.get((a.mb, a.segment), a.segment))
            elif kind == "RECV_F" or kind == "RECV_B":
                pair = (self.index[a.peer], wi)
                posts = self.posts.setdefault(pair, [])
                # a send that waits for this post waits for whatever brought the receiver here
                posts.append((self.clock[wi], self.clock_ref[wi], i))
                pending[(kind[-1], a.mb)] = (pair, len(posts) - 1, i)
                start[i], pred[i] = self.clock[wi], self.clock_ref[wi]
                self._wake(("post", pair, len(posts) - 1))
            elif kind == "SEND_F" or kind == "SEND_B":
                if not self._send(wi, i, a):
                    break
            elif not self._collective(wi, i, a):
                break
            i += 1
        self.ptr[wi] = i

    def _send(self, wi: int, i: int, a: Action) -> bool:
        vi = self.index[a.peer]
        pair = (wi, vi)
        k = self.sent.get(pair, 0)
        posts = self.posts.get(pair, [])
        if len(posts) <= k:
            self.waiting[("post", pair, k)] = wi
            return False
        t, ref = self.clock[wi], self.clock_ref[wi]
        if self.nic_free[wi] > t:
            t, ref = self.nic_free[wi], self.nic_ref[wi]
        if posts[k][0] > t:
            t, ref = posts[k][0], posts[k][1]
        seg = self.carried[wi][(a.kind[-1], a.mb)]
        nic, lat = self.c.message(self.names[wi], a.peer, self.c.seg_bytes[seg])
        self.nic_free[wi], self.nic_ref[wi] = t + nic, (wi, i)
        self.nic_busy[wi] += nic
        self.start[wi][i], self.end[wi][i], self.pred[wi][i] = t, t + nic + lat, ref
        self.sent[pair] = k + 1
        self.arrivals.setdefault(pair, []).append((t + nic + lat, (wi, i)))
        recv_index = posts[k][2]
        self.end[vi][recv_index] = t + nic + lat
        self.pred[vi][recv_index] = (wi, i)
        self._wake(("arr", pair, k))
        return True

    def _collective(self, wi: int, i: int, a: Action) -> bool:
        t = max(self.clock[wi], self.nic_free[wi])
        ref = self.clock_ref[wi] if t == self.clock[wi] else self.nic_ref[wi]
        if a.kind == "STEP":
            dur = self.c.step.get(self.names[wi], 0.0)
            self.start[wi][i], self.end[wi][i], self.pred[wi][i] = t, t + dur, ref
            self.clock[wi], self.clock_ref[wi] = t + dur, (wi, i)
            return True
        if not self.sync:
            self.start[wi][i], self.end[wi][i], self.pred[wi][i] = t, t, ref
            return True
        name = a.segment
        here = self.arrived.setdefault(name, {})
        if wi not in here:
            here[wi] = (i, t, ref)
        if len(here) < len(self.groups[name]):
            self.waiting[("coll", name, wi)] = wi
            return False
        if name not in self.coll_end:
            self._finish_collective(name, here)
        return True

    def _finish_collective(self, name: str, here: dict[int, tuple[int, float, Ref | None]]) -> None:
        """All members arrived: the ring starts with the last of them."""
        last = max(here, key=lambda m: here[m][1])
        begin = here[last][1]
        end = begin + self.c.sync_seconds(name, self.groups[name])
        self.coll_end[name] = end
        for m, (j, _, _) in here.items():
            self.start[m][j], self.end[m][j] = begin, end
            self.pred[m][j] = (last, here[last][0]) if m != last else here[last][2]
            self.clock[m], self.clock_ref[m] = end, (m, j)
            self.nic_free[m] = max(self.nic_free[m], end)
            self._wake(("coll", name, m))

    def _hold(self, wi: int, a: Action) -> None:
        held = self.held[wi]
        nbytes, transient = self.kept[a.segment]
        if a.kind == "B" and transient:  # recomputed activations, live during this backward
            self.peak_bytes[wi] = max(self.peak_bytes[wi], self.act_bytes[wi] + transient)
        if a.kind == "F":
            held[a.mb] = held.get(a.mb, 0) + 1
            if held[a.mb] == 1:
                self.inflight[wi] += 1
                self.peak[wi] = max(self.peak[wi], self.inflight[wi])
            self.act_bytes[wi] += nbytes
            self.peak_bytes[wi] = max(self.peak_bytes[wi], self.act_bytes[wi])
        else:
            held[a.mb] -= 1
            if held[a.mb] == 0:
                self.inflight[wi] -= 1
            self.act_bytes[wi] -= nbytes

    def _result(self) -> SimResult:
        names = self.names
        pipeline = 0.0
        last: Ref | None = None
        iteration = 0.0
        for wi, acts in enumerate(self.acts):
            for i, a in enumerate(acts):
                e = self.end[wi][i]
                if a.kind in ("F", "B"):
                    pipeline = max(pipeline, e)
                if e >= iteration:
                    iteration, last = e, (wi, i)
        path: list[Ref] = []
        while last is not None:
            path.append(last)
            assert len(path) <= sum(map(len, self.acts)), "cycle in the critical path"
            last = self.pred[last[0]][last[1]]
        return SimResult(
            workers=names,
            actions=dict(zip(names, self.acts)),
            start=dict(zip(names, self.start)),
            end=dict(zip(names, self.end)),
            pipeline_time=pipeline,
            iteration_time=iteration,
            busy=dict(zip(names, self.busy)),
            nic_busy=dict(zip(names, self.nic_busy)),
            peak_inflight=dict(zip(names, self.peak)),
            memory={w: self._memory(w, self.peak_bytes[i]) for i, w in enumerate(names)},
            critical_path=tuple(reversed(path)),
        )

    def _memory(self, w: str, activations: float) -> MemoryEstimate:
        weights = self._stage_weights.get(self.stage_of.get(w), 0.0)
        train = self.p.train
        return MemoryEstimate(*state_bytes(weights, train.optimizer, dict(train.optimizer_args)),
                              activations)
