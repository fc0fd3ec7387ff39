"""Point-to-point transport between workers.

Semantics (docs/CONTRACTS.md "Transport"): a send completes only when the matching receive is
posted; messages between an ordered pair of workers match in FIFO order, no tags. Sends are
posted and drained later (at the next ALLREDUCE or STEP, or when 64 are outstanding). A wait
that fails names the worker that stopped answering (`liveness`). On nccl the transfers run on
the process group's streams, ordered after the computation that produced them by CUDA events,
and a wait only orders the current stream after its transfer (`stream_ordered`).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from .liveness import Watchdog
from .plan import Plan, PlanError
from .report import Clock

Tensors = tuple[torch.Tensor, ...]
Shapes = tuple[tuple[tuple[Any, ...], str], ...]  # (symbolic shape, dtype) per tensor
MAX_PENDING = 64  # posted sends before the oldest is waited for


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
    # nccl on a GPU: waits make the current CUDA stream wait for the transfer and return at
    # once. With a timeout, torch's nccl Work.wait also blocks the host until the transfer is
    # done, so the host could not queue the next computation meanwhile; a transfer that never
    # completes then fails through the process group's own timeout (set with the run's).
    stream_ordered: bool = False
    nic_free: float = 0.0
    pending: list[tuple[Any, torch.Tensor, str, str]] = field(default_factory=list)
    watchdog: Watchdog | None = None  # heartbeat and diagnosis (None: the error only)

    def _wait(self, work: Any, what: str, peer: str) -> None:
        if self.stream_ordered:
            work.wait()
            return
        waited = f" after waiting up to {self.timeout:g} s"
        if self.watchdog is not None:
            with self.watchdog.blocking((peer,), what, waited):
                work.wait(datetime.timedelta(seconds=self.timeout))
            return
        try:
            work.wait(datetime.timedelta(seconds=self.timeout))
        except RuntimeError as exc:
            raise PlanError(f"worker {self.me} failed in `{what}`{waited} "
                            f"({str(exc).splitlines()[0]})") from exc

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
