"""Pass `verified`: prove the action lists run to the end and compute the right thing.

Requires: `ordered`.
Ensures (else a UserError naming the worker, the action and its microbatch, with the spec span
of that microbatch's path when the spec wrote it):
- one legal path per microbatch 0..M-1; explicit and skippipe paths obey the skip and swap
  policy (pgc.passes.route.check_path);
- deadlock freedom under the transport of docs/design.md §4: each worker runs its list in order, a
  SEND completes only together with the matching RECV (rendezvous) and messages of an ordered
  pair match in FIFO order without tags; ALLREDUCE completes when every member reaches it;
- dataflow: every hop's F and B run once, on the hop's worker, after their input (the previous
  hop's forward, or the next hop's backward: backward retraces the forward path exactly); each
  SEND carries an output its worker computed for that peer, and the RECV it meets expects it;
- at most `inflight` microbatches hold activations on a worker at once;
- ALLREDUCE after all of the worker's backwards, STEP last, after all of its all-reduces.

The proof is a symbolic execution of the rendezvous semantics. The system is deterministic
(each worker's next action is fixed and can only be enabled by its partner), so one complete
execution means every execution completes. O(actions).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pgc.diagnostics import Diagnostic, UserError
from pgc.ir.passes import Pass
from pgc.ir.queries import collective_groups
from pgc.ir.types import NO_SPAN, Action, Program, Span
from pgc.passes.route import check_path
from pgc.runtime.actions import format_action


class PlanError(UserError):
    """A verification failure at one worker's action (`index` into its list; -1: none)."""

    def __init__(self, span: Span, message: str, worker: str, index: int,
                 action: Action | None, hint: str | None = None) -> None:
        super().__init__(Diagnostic(span, message, hint))
        self.worker, self.index, self.action = worker, index, action


@dataclass
class _Worker:
    name: str
    actions: tuple[Action, ...]
    ptr: int = 0
    inflight: int = 0

    @property
    def current(self) -> Action | None:
        return self.actions[self.ptr] if self.ptr < len(self.actions) else None


Msg = tuple[int, int, int]  # (1 if gradient else 0, microbatch, producing hop)


class _Verifier:
    def __init__(self, program: Program) -> None:
        self.p = program
        self.hops = {p.mb: p.hops for p in program.paths}
        self.span = {p.mb: p.span for p in program.paths}
        self.hop_of = {(m, h.segment): j for m, hops in self.hops.items()
                       for j, h in enumerate(hops)}
        self.ws = {w: _Worker(w, acts) for w, acts in program.actions}
        self.done: set[tuple[str, Msg]] = set()  # (worker, task) computed
        self.have: set[tuple[str, Msg]] = set()  # (worker, message) received
        self.outbox: dict[str, list[tuple[Msg, str]]] = {w: [] for w in self.ws}
        self.held: dict[tuple[str, int], int] = {}
        self.groups = dict(collective_groups(program))
        self.member_of: dict[str, set[str]] = {w: set() for w in self.ws}
        for g, members in self.groups.items():
            for w in members:
                self.member_of.setdefault(w, set()).add(g)
        self.reduced: dict[str, set[str]] = {w: set() for w in self.ws}
        self.work: deque[str] = deque(self.ws)
        self.tasks: dict[str, list[tuple[int, int]]] = {}
        for m, hops in self.hops.items():
            for j, h in enumerate(hops):
                self.tasks.setdefault(h.worker, []).append((m, j))

    # -- errors ------------------------------------------------------------------------------
    def fail(self, w: _Worker, message: str, mb: int | None = None, hint: str | None = None
             ) -> PlanError:
        span = self.span.get(mb, NO_SPAN) if mb is not None else NO_SPAN
        if span.line <= 0:
            span = self.p.span
        a = w.current
        at = f"`{w.name}` at `{format_action(a)}` (action {w.ptr})" if a else f"`{w.name}`"
        return PlanError(span, f"{at}: {message}", w.name, w.ptr, a, hint)

    # -- execution ---------------------------------------------------------------------------
    def run(self) -> None:
        while self.work:
            self.advance(self.ws[self.work.popleft()])
        stuck = [w for w in self.ws.values() if w.current is not None]
        if stuck:
            raise self.deadlock(stuck[0])
        self.check_complete()

    def advance(self, w: _Worker) -> None:
        while (a := w.current) is not None:
            if a.kind in ("F", "B"):
                self.compute(w, a)
            elif a.kind.startswith(("SEND", "RECV")):
                if not self.rendezvous(w, a):
                    return
            elif a.kind == "ALLREDUCE":
                if not self.allreduce(w, a):
                    return
            else:
                self.step(w)
            w.ptr += 1

    def task_of(self, w: _Worker, a: Action) -> tuple[int, int, int]:
        j = self.hop_of.get((a.mb, a.segment))
        if j is None:
            raise self.fail(w, f"m{a.mb}'s path does not visit `{a.segment}`", a.mb)
        owner = self.hops[a.mb][j].worker
        if owner != w.name:
            raise self.fail(w, f"m{a.mb}'s path runs `{a.segment}` on `{owner}`", a.mb)
        task = (1 if a.kind == "B" else 0, a.mb, j)
        if (w.name, task) in self.done:
            raise self.fail(w, "runs twice", a.mb)
        return task

    def compute(self, w: _Worker, a: Action) -> None:
        b, m, j = task = self.task_of(w, a)
        hops = self.hops[m]
        src: Msg | None = (0, m, j - 1) if not b and j > 0 else (
            (1, m, j + 1) if b and j + 1 < len(hops) else (0, m, j) if b else None)
        if b and (w.name, (0, m, j)) not in self.done:
            raise self.fail(w, "backward before its forward on this worker", m)
        if src is not None and (w.name, src) not in self.done and (w.name, src) not in self.have:
            what = "activation" if src[0] == 0 else "gradient"
            raise self.fail(w, f"runs before it has its input ({what} of "
                            f"`{hops[src[2]].segment}` on `{hops[src[2]].worker}`)", m,
                            hint="a RECV of that message must come first")
        self.done.add((w.name, task))
        self.hold(w, a)
        nxt = j - 1 if b else j + 1
        if 0 <= nxt < len(hops) and hops[nxt].worker != w.name:
            self.outbox[w.name].append((task, hops[nxt].worker))

    def hold(self, w: _Worker, a: Action) -> None:
        key = (w.name, a.mb)
        count = self.held.get(key, 0) + (1 if a.kind == "F" else -1)
        self.held[key] = count
        if a.kind == "F" and count == 1:
            if w.inflight == self.p.inflight:
                hint = ("gpipe runs every forward first; use `schedule 1f1b` or inflight = "
                        f"{self.p.microbatches}") if self.p.schedule == "gpipe" else None
                raise self.fail(w, f"would hold {w.inflight + 1} microbatches; inflight = "
                                f"{self.p.inflight}", a.mb, hint=hint)
            w.inflight += 1
        elif a.kind == "B" and count == 0:
            w.inflight -= 1

    def rendezvous(self, w: _Worker, a: Action) -> bool:
        peer = self.ws.get(a.peer)
        if peer is None or peer is w:
            raise self.fail(w, f"`{a.peer}` is not another worker of the plan", a.mb)
        other = peer.current
        sending = a.kind.startswith("SEND")
        want = "RECV" if sending else "SEND"
        if other is None or not other.kind.startswith(want) or other.peer != w.name:
            return False  # wait for the peer
        send, recv = (a, other) if sending else (other, a)
        sender, receiver = (w, peer) if sending else (peer, w)
        if send.kind[-1] != recv.kind[-1] or send.mb != recv.mb:
            raise self.fail(sender, f"meets `{format_action(recv)}` at `{receiver.name}` "
                            f"(action {receiver.ptr}): messages of a pair match in FIFO order "
                            "without tags, so the data would land in the wrong buffer", send.mb)
        msg = self.take(sender, send, receiver.name)
        self.have.add((receiver.name, msg))
        peer.ptr += 1
        self.work.append(peer.name)
        return True

    def take(self, sender: _Worker, send: Action, to: str) -> Msg:
        box = self.outbox[sender.name]
        kind = 1 if send.kind == "SEND_B" else 0
        for i, (msg, dst) in enumerate(box):
            if msg[0] == kind and msg[1] == send.mb and dst == to:
                del box[i]
                return msg
        raise self.fail(sender, f"sends nothing it computed for `{to}`", send.mb)

    def allreduce(self, w: _Worker, a: Action) -> bool:
        members = self.groups.get(a.segment)
        if members is None or w.name not in members:
            raise self.fail(w, f"`{a.segment}` is not a group of `{w.name}`")
        if any((w.name, (1, m, j)) not in self.done for m, j in self.tasks_at(w.name)):
            raise self.fail(w, "all-reduces before all of its backwards ran")
        if not all((c := self.ws[m].current) is not None and c == a for m in members):
            return False
        for m in members:
            self.reduced[m].add(a.segment)
            if m != w.name:
                self.ws[m].ptr += 1
                self.work.append(m)
        return True

    def tasks_at(self, w: str) -> list[tuple[int, int]]:
        """(microbatch, hop) of every hop `w` runs."""
        return self.tasks.get(w, [])

    def step(self, w: _Worker) -> None:
        missing = self.member_of[w.name] - self.reduced[w.name]
        if missing:
            raise self.fail(w, f"steps before all-reducing `{sorted(missing)[0]}`")
        if w.ptr != len(w.actions) - 1:
            raise self.fail(w, "STEP must be the last action")
        if any((w.name, (1, m, j)) not in self.done for m, j in self.tasks_at(w.name)):
            raise self.fail(w, "steps before all of its backwards ran")

    # -- the end -----------------------------------------------------------------------------
    def deadlock(self, first: _Worker) -> PlanError:
        """Follow who waits for whom from `first` until a worker repeats (the cycle)."""
        chain: list[_Worker] = []
        w = first
        while w not in chain:
            chain.append(w)
            a = w.current
            assert a is not None
            if a.kind == "ALLREDUCE":
                nxt = next(self.ws[m] for m in self.groups[a.segment]
                           if self.ws[m].current != a)
            else:
                nxt = self.ws[a.peer]
            if nxt.current is None:
                return self.fail(w, f"waits forever for `{nxt.name}`, which has finished",
                                 a.mb if a.mb >= 0 else None)
            w = nxt
        cycle = chain[chain.index(w):]
        cycle.sort(key=lambda x: list(self.ws).index(x.name))
        head = cycle[0]
        others = "; ".join(f"`{x.name}` waits at `{format_action(x.current)}` (action {x.ptr})"
                           for x in cycle[1:] if x.current is not None)
        a = head.current
        assert a is not None
        return self.fail(head, f"deadlock: waits for `{a.peer or a.segment}` while {others}",
                         a.mb if a.mb >= 0 else None,
                         hint="under rendezvous a SEND waits for its RECV; in a cycle of "
                         "workers that all send first, let one receive first")

    def check_complete(self) -> None:
        for m, hops in self.hops.items():
            for j, h in enumerate(hops):
                for b, kind in ((0, "F"), (1, "B")):
                    if (h.worker, (b, m, j)) not in self.done:
                        raise PlanError(self.span.get(m, self.p.span),
                                        f"`{h.worker}` never runs `{kind} {h.segment} m{m}`",
                                        h.worker, -1, None)
        for name, box in self.outbox.items():
            if box:
                (b, m, _), dst = box[0]
                raise PlanError(self.p.span, f"`{name}` never sends m{m}'s "
                                f"{'gradient' if b else 'activation'} to `{dst}`", name, -1, None)
        for name, w in self.ws.items():
            if self.tasks_at(name) and w.actions[-1:] != (Action("STEP"),):
                raise PlanError(self.p.span, f"`{name}` never steps", name, -1, None)


def verify_plan(program: Program) -> None:
    """Raise PlanError (a UserError) unless the plan is legal and deadlock-free."""
    mbs = sorted(p.mb for p in program.paths)
    if mbs != list(range(program.microbatches)):
        raise PlanError(program.span, f"paths cover microbatches {mbs[:8]}..., not m0..m"
                        f"{program.microbatches - 1} once each", "", -1, None)
    for p in program.paths:
        check_path(program, p, policy=program.schedule in ("explicit", "skippipe"))
    _Verifier(program).run()


def run(program: Program) -> Program:
    verify_plan(program)
    return program


PASS = Pass(
    name="verified",
    run=run,
    requires="ordered",
    ensures="action lists deadlock-free under rendezvous + FIFO transport; dataflow, backward "
    "retracing, inflight caps, skip/swap policy and all-reduce/step placement hold",
)
