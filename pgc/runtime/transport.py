"""Point-to-point transport between workers, the watchdog, and who-is-stuck diagnosis.

Semantics (docs/CONTRACTS.md "Transport"): a send completes only when the matching receive is
posted; messages between an ordered pair of workers match in FIFO order, no tags. Sends are
posted and drained later (at the next ALLREDUCE or STEP, or when 64 are outstanding).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from .plan import Plan, PlanError
from .report import Clock

Tensors = tuple[torch.Tensor, ...]
Shapes = tuple[tuple[tuple[Any, ...], str], ...]  # (symbolic shape, dtype) per tensor
MAX_PENDING = 64  # posted sends before the oldest is waited for

STOP = threading.Event()  # set by SIGTERM: checkpoint at the end of the step and stop


class Watchdog:
    """Ends the process when one action waits longer than the timeout, naming it. gloo's own
    timeouts fire first in most cases; this also catches waits gloo does not time."""

    def __init__(self, me: str, timeout: float) -> None:
        self.me, self.timeout = me, timeout
        self.current: tuple[str, float] | None = None
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop watching and wait for the thread to end: it must not be inside a call on the
        rendezvous store while the process group is destroyed or the process exits."""
        self.closed.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=5.0)

    def enter(self, what: str) -> None:
        """`what` names the wait, e.g. "action `RECV_F m3 <-n0` (action 5 of step 0)"."""
        self.current = (what, time.monotonic())

    def leave(self) -> None:
        self.current = None

    def _watch(self) -> None:
        while not self.closed.wait(min(1.0, self.timeout / 4)):
            cur = self.current
            if STOP.is_set() and cur is not None and time.monotonic() - cur[1] > 5:
                # SIGTERM arrived while blocked in a wait the signal cannot interrupt: a peer is
                # gone, so the step cannot finish and no checkpoint can be agreed on.
                print(f"pgc: worker {self.me} stopped by SIGTERM in {cur[0]}", file=sys.stderr,
                      flush=True)
                os._exit(143)
            if cur is not None and time.monotonic() - cur[1] > self.timeout * 1.5 + 2:
                print(
                    f"pgc: error: worker {self.me} timed out after {self.timeout:g} s in "
                    f"{cur[0]}",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(3)


class DistComm:
    """Point-to-point calls of torch.distributed (the transport's default); an in-process
    stand-in with the same two methods serves the unit tests."""

    def isend(self, tensor: torch.Tensor, dst: int) -> Any:
        return dist.isend(tensor, dst)

    def irecv(self, tensor: torch.Tensor, src: int) -> Any:
        return dist.irecv(tensor, src)


@dataclass
class Transport:
    plan: Plan
    me: str
    rank_of: dict[str, int]
    device: torch.device
    timeout: float
    clock: Clock
    emulate: bool = False
    scale: float = 1.0
    comm: Any = field(default_factory=DistComm)
    staged: bool = False  # a GPU worker on gloo: messages go through pinned host memory
    nic_free: float = 0.0
    pending: list[tuple[Any, torch.Tensor, str, str]] = field(default_factory=list)

    def _wait(self, work: Any, what: str, peer: str) -> None:
        try:
            work.wait(datetime.timedelta(seconds=self.timeout))
        except RuntimeError as exc:
            store = default_store()
            failed = peer_failure(store)  # a worker that failed first says why
            why = f"stopped because {failed}" if failed else blame(store, self.me, peer, what)
            raise PlanError(
                f"worker {self.me} failed in `{what}` after waiting up to {self.timeout:g} s "
                f"({str(exc).splitlines()[0]}); {why}"
            ) from exc

    def message_time(self, peer: str, nbytes: int) -> tuple[float, float]:
        """(NIC busy seconds, latency seconds) of one message, time-scaled."""
        lat, bw = self.plan.links.get(f"{self.me}->{peer}", (0.0, float("inf")))
        busy = nbytes / bw + self.plan.message_overhead
        return busy * self.scale, lat * self.scale

    def send(self, tensors: Tensors, peer: str, what: str) -> None:
        """Post the message and go on (the simulator's model: the NIC takes it); gloo delivers
        it once the receiver has posted the matching receive. Waited for at the next
        ALLREDUCE or STEP, or when too many are outstanding."""
        dst = self.rank_of[peer]
        if self.emulate:
            # The NIC sends one message at a time, starting once the receiver has posted its
            # receive (rendezvous, as the simulator prices it); the message arrives `latency`
            # after its last byte left. The times travel ahead of the data on the shared clock;
            # the receiver, which knows when it posted, computes the arrival.
            busy, lat = self.message_time(peer, sum(t.numel() * t.element_size() for t in tensors))
            ready = max(self.clock.now(), self.nic_free)
            self.nic_free = ready + busy
            stamp = torch.tensor([ready, busy, lat], dtype=torch.float64,
                                 device="cpu" if self.staged else self.device)
            self.pending.append((self.comm.isend(stamp, dst), stamp, peer, what))
        for t in tensors:
            t = self.host(t.detach()) if self.staged else t.detach().contiguous()
            self.pending.append((self.comm.isend(t, dst), t, peer, what))
        while len(self.pending) > MAX_PENDING:
            work, _, peer_, what_ = self.pending.pop(0)
            self._wait(work, what_, peer_)

    def post_recv(self, shapes: Shapes, peer: str, what: str) -> Incoming:
        """Post the receive buffers now; the consumer waits for them (`Incoming.get`)."""
        src = self.rank_of[peer]
        where = torch.device("cpu") if self.staged else self.device
        stamp = torch.zeros(3, dtype=torch.float64, device=where) if self.emulate else None
        works = [] if stamp is None else [self.comm.irecv(stamp, src)]
        out = tuple(torch.empty(self.plan.dims(s), dtype=getattr(torch, d), device=where,
                                pin_memory=self.staged and torch.cuda.is_available())
                    for s, d in shapes)
        works += [self.comm.irecv(t, src) for t in out]
        return Incoming(self, out, works, stamp, peer, what, self.clock.now())

    def host(self, t: torch.Tensor) -> torch.Tensor:
        """A copy of `t` in (pinned, when CUDA is there) host memory, complete on return."""
        out = torch.empty(t.shape, dtype=t.dtype, pin_memory=torch.cuda.is_available())
        out.copy_(t)
        return out

    def recv(self, shapes: Shapes, peer: str, what: str) -> Tensors:
        return self.post_recv(shapes, peer, what).get()

    def flush(self) -> None:
        for work, _, peer, what in self.pending:
            self._wait(work, what, peer)
        self.pending.clear()


@dataclass
class Incoming:
    """A posted receive: its buffers are valid after `get`."""

    transport: Transport
    tensors: Tensors
    works: list[Any]
    stamp: torch.Tensor | None
    peer: str
    what: str
    posted: float

    def get(self) -> Tensors:
        for work in self.works:
            self.transport._wait(work, self.what, self.peer)
        self.works = []
        if self.stamp is not None:  # emulated network: hold the data until it "arrives"
            ready, busy, lat = self.stamp.tolist()
            delay = max(ready, self.posted) + busy + lat - self.transport.clock.now()
            if delay > 0:
                time.sleep(delay)
            self.stamp = None
        if self.transport.staged:  # host buffers: onto the device (the copy is stream-ordered)
            self.tensors = tuple(t.to(self.transport.device, non_blocking=True)
                                 for t in self.tensors)
        return self.tensors


@dataclass
class Ready:
    """Tensors handed over locally (two consecutive hops on one worker)."""

    tensors: Tensors

    def get(self) -> Tensors:
        return self.tensors


FAILED_KEY = "pgc/failed"


def publish_failure(line: str) -> None:
    """Record in the rendezvous store why this worker failed: a peer whose wait then fails
    names that failure instead of guessing who is stuck. (torchrun itself stops the other
    workers of a job whose worker exited with an error.)"""
    with contextlib.suppress(Exception):  # best effort: the failure itself is printed anyway
        default_store().set(FAILED_KEY, line)


def peer_failure(store: Any) -> str:
    """The failure a worker published, or ""."""
    if store is None:
        return ""
    try:
        return store.get(FAILED_KEY).decode() if store.check([FAILED_KEY]) else ""
    except Exception:  # noqa: BLE001 - the store is gone: the job is ending anyway
        return ""


def default_store() -> Any:
    """The rendezvous store (it lives in the torchrun agent, not in a worker), or None."""
    try:
        return dist.distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001 - no process group: no diagnosis
        return None


def blame(store: Any, me: str, peer: str, what: str, settle: float = 2.0) -> str:
    """Which worker is stuck: each worker that times out publishes whom it waits on in the
    rendezvous store (which lives in the torchrun agent, not in a worker); following the waits
    from `peer` ends at a worker that waits on nobody: the one not responding."""
    try:
        store.set(f"pgc/wait/{me}", f"{peer}\t{what}")
        time.sleep(settle)  # let the other workers that time out publish their waits
        chain, waits = [me], {me: what}
        while peer not in chain:
            chain.append(peer)
            key = f"pgc/wait/{peer}"
            if not store.check([key]):
                break
            nxt, act = store.get(key).decode().split("\t", 1)
            waits[peer] = act
            peer = nxt
        culprit, waiter = chain[-1], chain[-2]
        return (
            f"worker {culprit} is not responding (stuck or dead); "
            f"{waiter} waits on it in `{waits[waiter]}`"
        )
    except Exception as exc:  # the diagnosis must never hide the original error
        return f"could not tell which worker is stuck ({exc})"


def collective_error(me: str, members: list[str] | tuple[str, ...], what: str,
                     exc: RuntimeError) -> PlanError:
    """A collective that failed (gloo's timeout, or a peer that died): name the member that
    never arrived. Every worker that times out publishes what it waits on (see `blame`); a
    member of the group that published nothing is the one not responding."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    try:
        store = default_store()
        store.set(f"pgc/wait/{me}", f"*\t{what}")
        time.sleep(2.0)  # let the other workers that time out publish their waits
        silent = [m for m in members if m != me and not store.check([f"pgc/wait/{m}"])]
        who = (
            f"worker {silent[0]} is not responding (stuck or dead); {me} waits on it in `{what}`"
            if silent
            else "every other member is waiting too"
        )
    except Exception as diag:  # the diagnosis must never hide the original error
        who = f"could not tell which worker is stuck ({diag})"
    return PlanError(f"worker {me} failed in `{what}` ({first}); {who}")


