"""Pass `ordered`: per-worker action lists, in the order the runtime runs them.

Requires: `routed` (one path per microbatch).
Ensures: `actions` has one list per worker (in worker order): F/B per path hop, SEND/RECV for
every hop that changes worker, then ALLREDUCE per replica group of two or more workers and per
shared parameter, then STEP. The lists are deadlock-free under rendezvous transport by
construction (they are the trace of a rendezvous execution); `verified` re-proves it.

Two steps, policy apart from mechanism:
1. compute order per worker (`compute_orders`), by schedule:
   - gpipe: all forwards, then all backwards; forwards by (segment, microbatch), backwards by
     (reverse segment, microbatch). Timing-independent (Huang et al., GPipe, 2019).
   - 1f1b, explicit, skippipe: greedy list scheduling on the cost model with backward first,
     then the lowest microbatch; a worker admits a new microbatch only while it holds fewer
     than cap = min(inflight, hops from its first visit to the path's end). On a homogeneous
     chain the cap is p - i at stage i and the order is 1F1B (Narayanan et al., PipeDream, 2019).
     Messages queue at the sender's NIC as in pgc.sim (one at a time, first produced first
     sent): on NIC-heavy geo plans a model without that queue picks orders that wait.
2. messages (`insert_messages`): a timed rendezvous execution of those compute orders on the
   cost model, in which a message is sent the moment it is produced and the receiver posts
   the receive right then, wherever it is (pairs match in production order; the receiver
   consumes out of its buffers in any order); the sender's NIC sends one at a time. SENDs
   thus sit right after the compute that produces them and RECVs are posted as early as the
   data could come, so the simulator's sends never wait for a late post and pgc.sim replays
   the list schedule of step 1 exactly. Every SEND/RECV pair is appended to both lists in the
   same step and every compute after its input, so the lists are the trace of a rendezvous
   execution: deadlock-free by construction. O(actions log actions).
"""

from __future__ import annotations

import heapq
from dataclasses import replace

from pgc.diagnostics import error
from pgc.ir.passes import Pass
from pgc.ir.queries import collective_groups, stage_of_worker
from pgc.ir.types import Action, Hop, Path, Program
from pgc.sim.cost import CostTable, cost_table

# A message that arrives within TIE seconds of the moment a worker frees counts as there: the
# two are equal in exact arithmetic and only float rounding tells them apart, and the planner's
# fast simulator (pgc.planner.fastsim) breaks such ties the same way.
TIE = 1e-9

Task = tuple[int, int, int]  # (1 if backward else 0, microbatch, hop index)


def _gpipe(paths: dict[int, tuple[Hop, ...]], seg_pos: dict[str, int]) -> dict[str, list[Task]]:
    fwd: dict[str, list[tuple[int, int, int]]] = {}
    for m, hops in paths.items():
        for j, h in enumerate(hops):
            fwd.setdefault(h.worker, []).append((seg_pos[h.segment], m, j))
    orders = {}
    for w, items in fwd.items():
        items.sort()
        order: list[Task] = [(0, m, j) for _, m, j in items]
        items.sort(key=lambda x: (-x[0], x[1]))
        order += [(1, m, j) for _, m, j in items]
        orders[w] = order
    return orders


def _columns(paths: dict[int, tuple[Hop, ...]]) -> bool:
    """Every worker passes microbatches to exactly one worker of the next hop: the paths
    form independent chains (aligned replica columns)."""
    nxt: dict[str, str] = {}
    for hops in paths.values():
        for a, b in zip(hops, hops[1:]):
            if nxt.setdefault(a.worker, b.worker) != b.worker:
                return False
    return True


def _textbook_1f1b(paths: dict[int, tuple[Hop, ...]], inflight: int) -> dict[str, list[Task]]:
    """1F1B on independent chains: at hop i of p, warm up with min(p-1-i, inflight-1)
    forwards, then alternate one forward and one backward, then drain the backwards."""
    mbs: dict[str, list[int]] = {}
    position: dict[str, tuple[int, int]] = {}
    for m in sorted(paths):
        for j, h in enumerate(paths[m]):
            mbs.setdefault(h.worker, []).append(m)
            position[h.worker] = (j, len(paths[m]))
    orders: dict[str, list[Task]] = {}
    for w, ms in mbs.items():
        j, p = position[w]
        warm = min(p - 1 - j, inflight - 1, len(ms))
        order: list[Task] = [(0, m, j) for m in ms[:warm]]
        for k, m in enumerate(ms[warm:]):
            order += [(0, m, j), (1, ms[k], j)]
        order += [(1, m, j) for m in ms[len(ms) - warm:]]
        orders[w] = order
    return orders


def _caps(program: Program, paths: dict[int, tuple[Hop, ...]]) -> dict[str, int]:
    reach: dict[str, int] = {}
    for hops in paths.values():
        first: dict[str, int] = {}
        for j, h in enumerate(hops):
            first.setdefault(h.worker, j)
        for w, j in first.items():
            reach[w] = max(reach.get(w, 0), len(hops) - j)
    return {w: min(program.inflight, r) for w, r in reach.items()}


def _arrival(costs: CostTable, paths: dict[int, tuple[Hop, ...]], nic_free: dict[str, float],
             m: int, j: int, k: int, end: float) -> float:
    """When hop k's input, produced by hop j's task at `end`, is there: pgc.sim's NIC rule
    (the sender's NIC sends one message at a time, first produced first sent, busy bytes /
    bandwidth + overhead; the message lands `latency` later). Books the sender's NIC."""
    a, b = paths[m][j].worker, paths[m][k].worker
    nic, lat = costs.message(a, b, costs.seg_bytes[paths[m][min(j, k)].segment])
    start = max(end, nic_free[a])
    nic_free[a] = start + nic
    return start + nic + lat


def _greedy(program: Program, costs: CostTable, paths: dict[int, tuple[Hop, ...]]
            ) -> dict[str, list[Task]]:
    """Greedy list scheduling (module docstring). O(T log T) for T tasks."""
    cap = _caps(program, paths)
    pending: dict[str, list[tuple[float, Task]]] = {w: [] for w in cap}
    ready_b: dict[str, list[Task]] = {w: [] for w in cap}  # backward, or F of a held mb
    ready_f: dict[str, list[Task]] = {w: [] for w in cap}  # F admitting a new microbatch
    free_at = dict.fromkeys(cap, 0.0)
    nic_free = dict.fromkeys(cap, 0.0)
    held: dict[tuple[str, int], int] = {}
    inflight = dict.fromkeys(cap, 0)
    orders: dict[str, list[Task]] = {w: [] for w in cap}
    events: list[tuple[float, str]] = []
    for m, hops in paths.items():
        pending[hops[0].worker].append((0.0, (0, m, 0)))
    for w in cap:
        heapq.heapify(pending[w])
        events.append((0.0, w))
    heapq.heapify(events)
    while events:
        t, w = heapq.heappop(events)
        if free_at[w] > t:
            continue
        while pending[w] and pending[w][0][0] <= t + TIE:
            task = heapq.heappop(pending[w])[1]
            admits = task[0] == 0 and held.get((w, task[1]), 0) == 0
            # ranked (-b, m, j): backward first, then the lowest microbatch
            heapq.heappush(ready_f[w] if admits else ready_b[w], (-task[0], task[1], task[2]))
        choices = [q for q in (ready_b[w], ready_f[w] if inflight[w] < cap[w] else []) if q]
        if not choices:
            continue
        queue = min(choices, key=lambda q: q[0])
        neg_b, m, j = heapq.heappop(queue)
        b = -neg_b
        hops = paths[m]
        seg = hops[j].segment
        end = t + (costs.bwd if b else costs.fwd)[(seg, w)]
        free_at[w] = end
        heapq.heappush(events, (end, w))
        orders[w].append((b, m, j))
        count = held.get((w, m), 0) + (-1 if b else 1)
        held[(w, m)] = count
        inflight[w] += 1 if (not b and count == 1) else -1 if (b and count == 0) else 0
        nxt = (1, m, j) if not b and j == len(hops) - 1 else (b, m, j - 1 if b else j + 1)
        if nxt[2] >= 0:
            dst = hops[nxt[2]].worker
            ready = end if nxt[2] == j else _arrival(costs, paths, nic_free, m, j, nxt[2], end)
            heapq.heappush(pending[dst], (ready, nxt))
            heapq.heappush(events, (ready, dst))
    _check_complete(program, paths, orders, cap)
    return orders


def _check_complete(program: Program, paths: dict[int, tuple[Hop, ...]],
                    orders: dict[str, list[Task]], cap: dict[str, int]) -> None:
    done = sum(len(o) for o in orders.values())
    if done == 2 * sum(len(h) for h in paths.values()):
        return
    ran = {(m, j, b) for o in orders.values() for b, m, j in o}
    for m, hops in sorted(paths.items()):
        for j, h in enumerate(hops):
            if (m, j, 0) not in ran:
                raise error(program.span, f"cannot order the paths within inflight = "
                            f"{program.inflight}: `F {h.segment} m{m}` on `{h.worker}` never "
                            f"gets a slot (its cap is {cap[h.worker]}); the workers wait on "
                            "each other's full slots",
                            hint="raise `inflight` or change the paths")


def compute_orders(program: Program, costs: CostTable) -> dict[str, list[Task]]:
    """Per worker, its compute tasks in run order (the schedule policy)."""
    paths = {p.mb: p.hops for p in program.paths}
    if program.schedule == "gpipe":
        return _gpipe(paths, {s.name: i for i, s in enumerate(program.segments)})
    if program.schedule == "1f1b" and program.layout == "chain" and _columns(paths):
        return _textbook_1f1b(paths, program.inflight)
    return _greedy(program, costs, paths)


def source(hops: tuple[Hop, ...], task: Task) -> Task | None:
    """The task whose output `task` consumes: the previous hop's forward, the same hop's
    forward for the loss backward, the next hop's backward; None for a path's first forward."""
    b, m, j = task
    if not b:
        return (0, m, j - 1) if j > 0 else None
    return (1, m, j + 1) if j + 1 < len(hops) else (0, m, j)


def insert_messages(paths: tuple[Path, ...], orders: dict[str, list[Task]], costs: CostTable
                    ) -> dict[str, list[Action]]:
    """Interleave SEND/RECV with the compute orders by a timed rendezvous execution (module
    docstring). Raises UserError if the compute orders wait on each other in a cycle."""
    hops = {p.mb: p.hops for p in paths}
    lists: dict[str, list[Action]] = {w: [] for w in orders}
    arrival: dict[tuple[str, Task], float] = {}  # (worker, output) -> when it is there
    ptr = dict.fromkeys(orders, 0)
    running = _Running(lists)
    # events (time, 0 = a task ends / 1 = a worker may start its next task, worker, task);
    # ends first, so a SEND lands before the next compute of the same instant
    events: list[tuple[float, int, str, Task]] = [(0.0, 1, w, (0, 0, 0)) for w in orders]
    while events:
        t, kind, w, task = heapq.heappop(events)
        if kind == 0:
            _deliver(hops, running, arrival, costs, w, task, t, events)
            continue
        if ptr[w] == len(orders[w]) or running.free_at[w] > t:
            continue
        b, m, j = nxt = orders[w][ptr[w]]
        src = source(hops[m], nxt)
        if src is not None:
            ready = arrival.get((w, src))
            if ready is None or ready > t:
                if ready is not None:
                    heapq.heappush(events, (ready, 1, w, nxt))
                continue  # a delivery will wake this worker
        ptr[w] += 1
        end = t + (costs.bwd if b else costs.fwd)[(hops[m][j].segment, w)]
        running.start(w, Action("B" if b else "F", segment=hops[m][j].segment, mb=m), end)
        heapq.heappush(events, (end, 0, w, nxt))
        heapq.heappush(events, (end, 1, w, nxt))
    for w, order in orders.items():
        if ptr[w] < len(order):
            b, m, j = order[ptr[w]]
            raise error(paths[0].span, f"the compute order of `{w}` waits forever at "
                        f"`{'B' if b else 'F'} {hops[m][j].segment} m{m}`")
    return lists


class _Running:
    """The lists being built and each worker's running compute. A message action that comes
    while a worker computes goes in front of that compute when it is the list's last action:
    the runtime posts it before starting the compute, and the rendezvous execution stays valid
    (the compute only starts later in it; nothing before the message needs its output)."""

    def __init__(self, lists: dict[str, list[Action]]) -> None:
        self.lists = lists
        self.free_at = dict.fromkeys(lists, 0.0)
        self.nic_free = dict.fromkeys(lists, 0.0)
        self.last_compute = dict.fromkeys(lists, -1)

    def start(self, w: str, action: Action, end: float) -> None:
        self.lists[w].append(action)
        self.last_compute[w] = len(self.lists[w]) - 1
        self.free_at[w] = end

    def message(self, w: str, action: Action, t: float) -> None:
        out, i = self.lists[w], self.last_compute[w]
        if self.free_at[w] > t and i == len(out) - 1:
            out.insert(i, action)
            self.last_compute[w] = i + 1
        else:
            out.append(action)


def _deliver(hops: dict[int, tuple[Hop, ...]], running: _Running,
             arrival: dict[tuple[str, Task], float], costs: CostTable, w: str, task: Task,
             t: float, events: list[tuple[float, int, str, Task]]) -> None:
    """`task` ended on `w` at `t`: its output is there locally; a remote consumer gets it by a
    SEND/RECV pair right away. Pairs match in production order (the receiver posts in the
    order the messages come, whatever order it consumes them in), so no message waits for
    another; the sender's NIC then sends them one at a time, as pgc.sim does."""
    b, m, j = task
    arrival[(w, task)] = t
    k = j - 1 if b else j + 1  # the hop that consumes this output (the loss backward is local)
    if k < 0 or k == len(hops[m]) or hops[m][k].worker == w:
        return
    v = hops[m][k].worker
    kind = "B" if b else "F"
    running.message(w, Action(f"SEND_{kind}", mb=m, peer=v), t)  # type: ignore[arg-type]
    running.message(v, Action(f"RECV_{kind}", mb=m, peer=w), t)  # type: ignore[arg-type]
    # an activation has its segment's output size; a gradient that of its input
    nic, lat = costs.message(w, v, costs.seg_bytes[hops[m][j - b].segment])
    start = max(t, running.nic_free[w])
    running.nic_free[w] = start + nic
    arrival[(v, task)] = start + nic + lat
    heapq.heappush(events, (start + nic + lat, 1, v, task))


def run(program: Program) -> Program:
    costs = cost_table(program)
    orders = compute_orders(program, costs)
    lists = insert_messages(program.paths, orders, costs)
    stage_of = stage_of_worker(program)
    for name, members in collective_groups(program):
        for w in members:
            lists.setdefault(w, []).append(Action("ALLREDUCE", segment=name))
    for w in stage_of:
        lists.setdefault(w, []).append(Action("STEP"))
    actions = tuple((w.name, tuple(lists.get(w.name, ()))) for w in program.workers)
    return replace(program, actions=actions)


PASS = Pass(
    name="ordered",
    run=run,
    requires="routed",
    ensures="per-worker action lists: compute, messages, all-reduces, step; rendezvous-safe",
)
