"""The planner's fast event simulator: judges thousands of candidate routings per second.

Semantics follow docs/design.md §4 and pgc.sim, with a dynamic (list-scheduling) order instead of
fixed action lists, as the order pass builds them: a worker runs one compute task at a time,
non-preemptively, choosing among ready tasks backward first, then the lowest microbatch; a
forward that brings a new microbatch to a worker waits while the worker holds its cap of
microbatches (cap = min(inflight, the longest rest of a path from there), the order pass's
rule; a microbatch holds a slot from its first forward to its last backward there, so inflight
gates admission at the origins); a message occupies the sender's NIC for bytes / bandwidth +
overhead, one at a time, first come first served, and arrives `latency` later. The pipeline
phase ends when the last backward is done. Cost: O(T log T) for T = 2 x total hops.

`step_times` adds the end of the iteration as pgc.sim prices it (docs/design.md §4b): each worker is
ready once its last compute is done and its NIC idle; a group all-reduces when its last member is
ready (groups in the order pass's order, each member's one after another), then every worker
steps. O(W + group members).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from pgc.planner.costs import Costs
from pgc.sched.order import TIE

# A route: the hops of one microbatch as (segment name, worker index), forward order.
Route = tuple[tuple[str, int], ...]

_ARRIVE, _DONE, _DISPATCH = 0, 1, 2


@dataclass(frozen=True)
class FastResult:
    makespan: float  # inf when the routes deadlock under the inflight caps
    busy: np.ndarray  # compute seconds per worker
    finish: np.ndarray  # completion time per microbatch (backward of its first hop)
    collisions: int = 0  # forwards that arrived while their worker ran another forward
    ready: np.ndarray | None = None  # per worker: last compute done and NIC idle


def step_times(res: FastResult, groups: list[tuple[list[int], float]], step: np.ndarray
               ) -> tuple[float, float]:
    """(a step without sync, a step that syncs) for the routes of `res`: `groups` are the
    collective groups (member worker indices, all-reduce seconds) in the order pass's order,
    `step` the optimizer seconds per worker (module docstring)."""
    assert res.ready is not None
    clock = res.ready.copy()
    no_sync = float((clock + step).max())
    for members, seconds in groups:
        start = float(clock[members].max())
        clock[members] = start + seconds
    return no_sync, float((clock + step).max())


def simulate_routes(costs: Costs, routes: list[Route], inflight: int) -> FastResult:
    """Simulate `routes` (microbatch i = routes[i]) and return the pipeline-phase time."""
    n_workers = len(costs.workers)
    ops = [_ops(costs, r) for r in routes]
    caps = _caps(routes, n_workers, inflight)  # per mb: list of (worker, seconds, is_bwd)
    busy = np.zeros(n_workers)
    finish = np.full(len(routes), np.inf)
    nic_free = np.zeros(n_workers)
    idle = [True] * n_workers
    held = [0] * n_workers
    last_kind = [-1] * n_workers  # kind of the task each worker ran last: 1 forward, 0 backward
    arrived: dict[tuple[int, int], float] = {}
    collisions = 0
    holding: set[tuple[int, int]] = set()
    ready: list[list[tuple[int, int, int]]] = [[] for _ in range(n_workers)]
    # forwards of microbatches the worker already holds: admitted whatever its inflight count
    # (kept apart so a full worker finds them without popping every blocked forward)
    held_ready: list[list[tuple[int, int, int]]] = [[] for _ in range(n_workers)]
    events: list[tuple[int, int, int, float, int, int]] = []
    seq = 0

    def push(t: float, kind: int, a: int, b: int) -> None:
        # ordered by time in TIE buckets, then kind: events equal up to float rounding run
        # arrivals first, then completions, then dispatches, as in exact arithmetic
        nonlocal seq
        seq += 1
        heapq.heappush(events, (round(t / TIE), kind, seq, t, a, b))

    for mb in range(len(routes)):
        push(0.0, _ARRIVE, mb, 0)
    done_count = 0
    now = 0.0
    last_end = np.zeros(n_workers)
    while events:
        _, kind, _, now, a, b = heapq.heappop(events)
        if kind == _ARRIVE:
            w = ops[a][b][0]
            arrived[(a, b)] = now
            task = (0 if ops[a][b][2] else 1, a, b)
            heapq.heappush(held_ready[w] if task[0] and (a, w) in holding else ready[w], task)
            push(now, _DISPATCH, w, 0)
        elif kind == _DISPATCH:
            if _dispatch(a, now, ops, (ready[a], held_ready[a]), idle, held, holding, caps[a],
                         busy, push, last_kind, arrived):
                collisions += 1
        else:  # _DONE of op b of microbatch a, on worker w
            w, _, is_bwd = ops[a][b]
            idle[w] = True
            last_end[w] = now
            if is_bwd and (a, w) in holding and _last_bwd_on(ops[a], b, w):
                holding.discard((a, w))
                held[w] -= 1
            if b + 1 == len(ops[a]):
                finish[a] = now
                done_count += 1
            else:
                nxt = ops[a][b + 1][0]
                if nxt == w:
                    push(now, _ARRIVE, a, b + 1)
                else:
                    start = max(now, nic_free[w])
                    busy_s, latency = _message(costs, routes[a], b, w, nxt)
                    nic_free[w] = start + busy_s
                    push(start + busy_s + latency, _ARRIVE, a, b + 1)
            push(now, _DISPATCH, w, 0)
    makespan = now if done_count == len(routes) else float("inf")
    return FastResult(makespan, busy, finish, collisions, np.maximum(last_end, nic_free))


def _caps(routes: list[Route], n_workers: int, inflight: int) -> list[int]:
    """Per worker: min(inflight, most hops from a path's first visit there to its end), the
    order pass's admission cap (a smaller cap than the path length cannot deadlock a chain)."""
    reach = [0] * n_workers
    for route in routes:
        seen: set[int] = set()
        for j, (_, w) in enumerate(route):
            if w not in seen:
                seen.add(w)
                reach[w] = max(reach[w], len(route) - j)
    return [min(inflight, r) for r in reach]


def _ops(costs: Costs, route: Route) -> list[tuple[int, float, bool]]:
    fwd = [(w, float(costs.fwd[seg][w]), False) for seg, w in route]
    bwd = [(w, float(costs.bwd[seg][w]), True) for seg, w in reversed(route)]
    return fwd + bwd


def _last_bwd_on(mb_ops: list[tuple[int, float, bool]], b: int, w: int) -> bool:
    """True when op b is the microbatch's last backward on worker w (frees its slot)."""
    return all(o[0] != w for o in mb_ops[b + 1:])


def _message(costs: Costs, route: Route, op: int, src: int, dst: int) -> tuple[float, float]:
    """(NIC seconds, latency) of the message after op `op` (forward hop i sends hop i's
    output; backward hop i sends the gradient of hop i-1's output)."""
    hops = len(route)
    seg = route[op][0] if op < hops else route[2 * hops - 2 - op][0]
    return costs.nic(seg, src, dst)


def _dispatch(w, now, ops, queues, idle, held, holding, inflight, busy, push, last_kind,  # type: ignore[no-untyped-def]
              arrived) -> bool:
    """Start the best eligible ready task on idle worker w, if any: the least (kind, mb, op)
    among backwards, forwards of microbatches w holds, and (below the inflight cap) other
    forwards. O(log n) per task. True when it is a forward that waited behind another
    microbatch's forward (a collision)."""
    ready, held_ready = queues
    if not idle[w] or not (ready or held_ready):
        return False
    # a forward on top of `ready` means no backward is waiting (backwards sort first)
    open_top = ready[0] if ready and (ready[0][0] == 0 or held[w] < inflight) else None
    held_top = held_ready[0] if held_ready else None
    if open_top is None and held_top is None:
        return False
    if held_top is None or (open_top is not None and open_top < held_top):
        chosen = heapq.heappop(ready)
    else:
        chosen = heapq.heappop(held_ready)
    _, mb, op = chosen
    collided = chosen[0] == 1 and last_kind[w] == 1 and now > arrived[(mb, op)] + 1e-12
    if chosen[0] == 1 and (mb, w) not in holding:
        holding.add((mb, w))
        held[w] += 1
    seconds = ops[mb][op][1]
    busy[w] += seconds
    idle[w] = False
    last_kind[w] = chosen[0]
    push(now + seconds, _DONE, mb, op)
    return collided
