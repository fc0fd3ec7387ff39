"""Lower bounds on pipeline and iteration time for a placement and its paths (docs/design.md §4).

Valid for every action order the verifier accepts (any order, inflight <= `inflight` per
worker) under the simulator's cost model. Per microbatch m with hops 0..n-1 let head(m, j) be the
forward work and messages before hop j, tail(m, j) the backward work and messages after hop j's
backward, CP(m) the whole forward-backward chain. Components, each a max:

- critical_path: CP(m) of every microbatch.
- compute (per worker v, one compute at a time): each of v's tasks is a job with a release
  time (the work before it), a length and a delivery time (the work after it until the
  microbatch's last backward); the optimum of that one-machine problem with preemption,
  solved exactly by preemptive Jackson's rule (largest delivery time first; Horn 1974), is a
  lower bound. It dominates min head + sum of F and B + min tail.
- nic (per worker, one message at a time): the same relaxation over v's sends (release: the
  producing task's earliest end; length: NIC time; delivery: latency + the work after arrival).
- inflight (slot rounds, `slot_rounds`): a microbatch holds one of v's `inflight` slots from
  its first forward at v to that hop's backward, at least d(m) = CP(m) - head - tail. Holding
  intervals that never overlap more than `inflight` deep split into q <= inflight chains of
  disjoint intervals (interval graphs are perfect), each between min head and T - min tail.
  For the q chains: one carries ceil(n / q) microbatches in sequence (rounds), and their
  total length is sum d, while their first intervals start with q distinct forwards on v (one
  compute at a time: the i-th starts (i-1) f_min after min head at the earliest) and their
  last ones end with q distinct backwards; so q T >= q (head + tail) + sum d + q(q-1)/2
  (f_min + b_min). The bound is the least over q of the larger of the two.
- origin (sequencing): a worker's first forwards run one at a time; with all released at 0,
  Jackson's rule (longest delivery time first) is optimal for that one-machine relaxation, so
  T >= max_k ((k-1) f + CP_(k)) with CP sorted decreasing.
- step (a step without sync): each worker steps after its last backward and once its NIC has
  sent everything: ready = max(head + work, the NIC's last send), then + step. The last send
  ends no earlier than the sends run in release order without a gap (the one-machine
  relaxation above without delivery times).
- allreduce (a step that syncs): a group all-reduces once each member is ready (its collectives
  wait for its NIC), then the member steps: per worker ready + its all-reduces + step, and per
  group the latest member's ready + the group's all-reduce + the least step.
  With outer steps the sync follows every worker's step: the step bound plus the outer sync's
  own (exact) time.

The pipeline bound is the max of the first five; a step without sync adds `step`, the
iteration bound (a step that syncs) `allreduce`. Over `sync { every = H }` steps the mean is
at least ((H - 1) x step bound + iteration bound) / H (`amortised`): iterations run one after
another, H - 1 without sync and one with.
O(hops log hops) overall. References: the node / fluid / critical-path bounds of docs/design.md §8
("Bubbles and bounds"); J. R. Jackson, "Scheduling a production line to minimize maximum
tardiness", 1955; W. A. Horn, "Some simple scheduling algorithms", 1974.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from pgc.ir.types import Program
from pgc.sim.cost import CostTable, cost_table, outer_groups, outer_sync_seconds


@dataclass(frozen=True)
class Bound:
    """`components`: (name, seconds, where the max is attained) for each bound."""

    components: tuple[tuple[str, float, str], ...]
    pipeline: float
    total: float  # a step that syncs
    step: float = 0.0  # a step that does not sync
    amortised: float = 0.0  # the mean over `sync { every = H }` steps

    def component(self, name: str) -> float:
        return next(v for n, v, _ in self.components if n == name)


def _argmax(values: dict[str, float]) -> tuple[float, str]:
    if not values:
        return 0.0, ""
    where = max(values, key=lambda k: values[k])
    return values[where], where


def lower_bound(program: Program, costs: CostTable | None = None) -> Bound:
    """Lower bounds on one iteration of `program` (module docstring); needs `paths`."""
    c = costs or cost_table(program)
    inf = float("inf")
    work: dict[str, float] = {}
    head: dict[str, float] = {}
    tail: dict[str, float] = {}
    slot: dict[str, list[float]] = {}  # worker -> d(m) of the microbatches it holds
    slot_head: dict[str, float] = {}
    slot_tail: dict[str, float] = {}
    slot_f: dict[str, float] = {}  # the least forward / backward that opens / closes a slot
    slot_b: dict[str, float] = {}
    jobs: dict[str, list[tuple[float, float, float]]] = {}  # worker -> (release, length, tail)
    sends: dict[str, list[tuple[float, float, float]]] = {}
    starts: dict[str, list[tuple[float, float]]] = {}  # origin -> (first f, CP)
    critical: dict[str, float] = {}
    for p in program.paths:
        hops = p.hops
        n = len(hops)
        f = [c.fwd[(h.segment, h.worker)] for h in hops]
        b = [c.bwd[(h.segment, h.worker)] for h in hops]
        fwd_msg = [c.message(hops[j].worker, hops[j + 1].worker, c.seg_bytes[hops[j].segment])
                   for j in range(n - 1)]
        bwd_msg = [c.message(hops[j + 1].worker, hops[j].worker, c.seg_bytes[hops[j].segment])
                   for j in range(n - 1)]
        hd = [0.0] * n  # start of F(j) at the earliest
        for j in range(1, n):
            hd[j] = hd[j - 1] + f[j - 1] + sum(fwd_msg[j - 1])
        tl = [0.0] * n  # after B(j) ends, until B(0) ends
        for j in range(1, n):
            tl[j] = tl[j - 1] + b[j - 1] + sum(bwd_msg[j - 1])
        cp = hd[-1] + f[-1] + b[-1] + tl[-1]
        critical[f"m{p.mb}"] = cp
        starts.setdefault(p.origin, []).append((f[0], cp))
        first: dict[str, int] = {}
        for j, h in enumerate(hops):
            w = h.worker
            first.setdefault(w, j)
            work[w] = work.get(w, 0.0) + f[j] + b[j]
            head[w] = min(head.get(w, inf), hd[j])
            tail[w] = min(tail.get(w, inf), tl[j])
            mine = jobs.setdefault(w, [])
            mine.append((hd[j], f[j], cp - hd[j] - f[j]))
            mine.append((cp - tl[j] - b[j], b[j], tl[j]))
            if j + 1 < n and hops[j + 1].worker != w:  # forward message from w
                busy, latency = fwd_msg[j]
                sends.setdefault(w, []).append((hd[j] + f[j], busy, latency + cp - hd[j + 1]))
            if j > 0 and hops[j - 1].worker != w:  # gradient message from w
                busy, latency = bwd_msg[j - 1]
                sends.setdefault(w, []).append((cp - tl[j], busy, latency + b[j - 1] + tl[j - 1]))
        for w, j in first.items():
            slot.setdefault(w, []).append(cp - hd[j] - tl[j])
            slot_head[w] = min(slot_head.get(w, inf), hd[j])
            slot_tail[w] = min(slot_tail.get(w, inf), tl[j])
            slot_f[w] = min(slot_f.get(w, inf), f[j])
            slot_b[w] = min(slot_b.get(w, inf), b[j])
    compute = {w: preemptive_jackson(js) for w, js in jobs.items()}
    nic_bound = {w: preemptive_jackson(js) for w, js in sends.items()}
    slots = {w: slot_head[w] + slot_tail[w]
             + slot_rounds(d, program.inflight, slot_f[w] + slot_b[w]) for w, d in slot.items()}
    origin = {o: _jackson(items) for o, items in starts.items()}
    comps = [
        ("critical_path", *_argmax(critical)),
        ("compute", *_argmax(compute)),
        ("nic", *_argmax(nic_bound)),
        ("inflight", *_argmax(slots)),
        ("origin", *_argmax(origin)),
    ]
    pipeline = max(v for _, v, _ in comps)
    sent = {w: preemptive_jackson([(r, busy, 0.0) for r, busy, _ in js]) for w, js in sends.items()}
    ready = {w: max(head[w] + work[w], sent.get(w, 0.0)) for w in work}
    no_sync, sync = _sync_terms(program, c, ready)
    comps.append(("step", *_argmax(no_sync)))
    comps.append(("allreduce", *_argmax(sync)))
    step = max(pipeline, comps[-2][1])
    total = max(step, comps[-1][1])
    if not program.sync.synchronous:  # outer steps sync after every worker's step
        total = step + outer_sync_seconds(outer_groups(program, c))
        comps[-1] = ("allreduce", total, "outer sync")
    return Bound(tuple(comps), pipeline, total, step, program.sync.amortised(step, total))


def slot_rounds(holds: list[float], inflight: int, open_close: float) -> float:
    """Least time from the first slot opening to the last closing for microbatches that hold
    one of `inflight` slots for at least `holds` seconds each, where a slot is opened by a
    compute and closed by another, together at least `open_close` seconds (module docstring,
    `inflight`): min over q chains of max(sum of the ceil(n/q) shortest holds,
    sum / q + (q-1) open_close / 2). O(n log n + inflight)."""
    d = sorted(holds)
    n = len(d)
    if n == 0:
        return 0.0
    prefix = [0.0]
    for x in d:
        prefix.append(prefix[-1] + x)
    best = float("inf")
    for q in range(1, min(inflight, n) + 1):
        rounds = prefix[-(-n // q)]
        fluid = prefix[n] / q + (q - 1) * open_close / 2
        best = min(best, max(rounds, fluid))
    return best


def preemptive_jackson(jobs: list[tuple[float, float, float]]) -> float:
    """min over preemptive one-machine schedules of max(completion + delivery), for jobs
    (release, length, delivery): always run the released job with the largest delivery time
    (optimal for 1|r_j, pmtn|L_max; Horn 1974). O(n log n)."""
    jobs = sorted(jobs)
    ready: list[tuple[float, float]] = []  # (-delivery, remaining length)
    best, clock, i = 0.0, 0.0, 0
    while i < len(jobs) or ready:
        if not ready:
            clock = max(clock, jobs[i][0])
        while i < len(jobs) and jobs[i][0] <= clock:
            heapq.heappush(ready, (-jobs[i][2], jobs[i][1]))
            i += 1
        neg_q, rest = heapq.heappop(ready)
        run = min(rest, jobs[i][0] - clock) if i < len(jobs) else rest
        clock += run
        if rest - run > 0:
            heapq.heappush(ready, (neg_q, rest - run))
        else:
            best = max(best, clock - neg_q)
    return best


def _jackson(items: list[tuple[float, float]]) -> float:
    """One machine, jobs (processing f, whole chain cp) all released at 0: the optimal
    max completion of the chains, by longest delivery time (cp - f) first."""
    best, clock = 0.0, 0.0
    for f, cp in sorted(items, key=lambda x: x[0] - x[1]):
        best = max(best, clock + cp)
        clock += f
    return best


def _sync_terms(program: Program, c: CostTable, ready: dict[str, float]
                ) -> tuple[dict[str, float], dict[str, float]]:
    """(per worker: a step without sync; per worker and per group: a step that syncs), from
    the earliest moment each worker has computed and sent everything."""
    from pgc.ir.queries import collective_groups

    no_sync = {w: ready[w] + c.step.get(w, 0.0) for w in ready}
    extra: dict[str, float] = {}
    sync: dict[str, float] = {}
    for name, members in collective_groups(program):
        t = c.sync_seconds(name, members)
        for w in members:
            extra[w] = extra.get(w, 0.0) + t
        sync[name] = (max(ready.get(w, 0.0) for w in members) + t
                      + min(c.step.get(w, 0.0) for w in members))
    sync.update({w: no_sync[w] + extra.get(w, 0.0) for w in ready})
    return no_sync, sync
