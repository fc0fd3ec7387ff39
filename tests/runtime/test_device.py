"""Device and backend choice (`--device`, `--backend`): the automatic choice, GPUs shared
through gloo, and the refusals, with torch's view of CUDA monkeypatched; messages staged
through host memory arrive intact; host reads inside a step are counted."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest
import torch

import pgc.runtime.worker as worker_module
from pgc.runtime.device import choose, placement
from pgc.runtime.plan import Plan, PlanError
from pgc.runtime.precision import DTYPES, Precision
from pgc.runtime.transport import Transport
from tests.runtime.test_units import LocalComm, chain4, run_workers, transports  # noqa: F401

CPU, GPU0 = torch.device("cpu"), torch.device("cuda", 0)


def test_automatic_choice() -> None:
    assert choose(None, None, 0, 4, cuda=False, gpus=0).describe() == "device cpu, backend gloo"
    one = choose(None, None, 3, 4, cuda=True, gpus=1)  # chain4 on a one-GPU machine
    assert (one.device, one.backend, one.staged) == (GPU0, "gloo", True)
    assert one.describe() == ("device cuda:0, backend gloo (messages staged through pinned "
                              "host memory)")
    four = choose(None, None, 3, 4, cuda=True, gpus=4)
    assert (four.device, four.backend, four.staged) == (torch.device("cuda", 3), "nccl", False)
    assert choose("cpu", None, 1, 4, cuda=True, gpus=4).device == CPU
    assert choose("cuda", "gloo", 5, 8, cuda=True, gpus=2).device == torch.device("cuda", 1)


@pytest.mark.parametrize(("device", "backend", "local", "cuda", "gpus", "message"), [
    (None, "nccl", 4, True, 1, "--backend nccl needs one GPU per worker, but this host runs 4 "
     "workers and has 1 GPU; use --backend gloo to share the GPUs (messages go through pinned "
     "host memory), or start at most 1 worker per host"),
    ("cuda", "nccl", 8, True, 2, "this host runs 8 workers and has 2 GPUs; use --backend gloo"),
    ("cuda", None, 2, False, 0, "--device cuda: this host has no GPU that torch can use"),
    ("cpu", "nccl", 2, True, 2, "--backend nccl runs on GPUs only; with --device cpu use "
     "--backend gloo"),
    (None, "nccl", 1, False, 0, "--backend nccl runs on GPUs only"),
])
def test_refusals_name_the_counts_and_the_way_out(device: str | None, backend: str | None,
                                                   local: int, cuda: bool, gpus: int,
                                                   message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose(device, backend, 0, local, cuda, gpus)


def test_placement_reads_torch_and_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    got = placement(None, None)
    assert (got.device, got.backend, got.staged) == (GPU0, "gloo", True)
    with pytest.raises(PlanError, match="runs 4 workers and has 1 GPU"):
        placement(None, "nccl")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert placement(None, None).backend == "gloo"


def test_waits_block_the_host_except_on_nccl(chain4: ModuleType) -> None:  # noqa: F811
    """gloo: every wait takes the run's timeout (a dead peer becomes an error naming it); nccl
    on a GPU: `Work.wait()` without one, which only orders the current CUDA stream after the
    transfer (with a timeout torch's nccl wait blocks the host until the transfer is done)."""
    assert choose(None, None, 0, 1, cuda=True, gpus=1).stream_ordered
    assert not choose(None, "gloo", 0, 1, cuda=True, gpus=1).stream_ordered
    assert not choose(None, None, 0, 1, cuda=False, gpus=0).stream_ordered
    for ordered, want in ((False, [30.0, 30.0]), (True, [None, None])):
        comm, timeouts = LocalComm(), []
        t = transports(chain4.PLAN, comm, 30.0)
        for tr in t.values():
            tr.stream_ordered = ordered
            tr.comm = Recording(tr.comm, timeouts)
        t["n0"].send((torch.ones(4, 3),), "n1", "SEND")
        got = t["n1"].recv(((("B", 3), "float32"),), "n0", "RECV")
        t["n0"].flush()
        assert torch.equal(got[0], torch.ones(4, 3)) and timeouts == want, timeouts


class Recording:
    """A transport's comm whose works note the timeout each wait is given."""

    def __init__(self, comm: Any, timeouts: list[float | None]) -> None:
        self.comm, self.timeouts = comm, timeouts

    def isend(self, tensor: torch.Tensor, dst: int) -> Any:
        return self.note(self.comm.isend(tensor, dst))

    def irecv(self, tensor: torch.Tensor, src: int) -> Any:
        return self.note(self.comm.irecv(tensor, src))

    def note(self, work: Any) -> Any:
        wait = work.wait

        def noted(timeout: Any = None) -> bool:
            self.timeouts.append(None if timeout is None else timeout.total_seconds())
            return bool(wait(timeout))
        work.wait = noted
        return work


def test_staged_messages_arrive_intact(chain4: ModuleType) -> None:  # noqa: F811
    t = transports(chain4.PLAN, LocalComm())
    for tr in t.values():
        tr.staged = True
    sent = (torch.randn(4, 3), torch.arange(6).reshape(2, 3))
    t["n0"].send(sent, "n1", "SEND")
    got = t["n1"].recv(((("B", 3), "float32"), ((2, 3), "int64")), "n0", "RECV")
    assert all(torch.equal(a, b) for a, b in zip(got, sent))
    t["n0"].flush()


# Tensor methods through which the host reads a value or a copy of a tensor (on a GPU each
# waits for the device): `float(t)`, `t.item()`, `if t:`, `range(t)`, `f"{t}"`, `t.cpu()`...
HOST_READS = ("__float__", "__int__", "__index__", "__bool__", "__format__", "__repr__",
              "item", "tolist", "cpu", "numpy")


def count_host_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of a `HOST_READS` method from now on, by name."""
    reads: list[str] = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *args: object, _f: object = original,
                    _n: str = name) -> object:
            reads.append(_n)
            return _f(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_no_host_read_inside_a_step(chain4: ModuleType, precision: str,  # noqa: F811
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """While every worker runs two steps' action lists the host reads no tensor value (the
    loss stays a tensor; the end-of-step all-reduce reads the step's values once). bf16 runs
    with recomputation (blocks and whole stages) and sends its boundary tensors in bf16."""
    plan: Plan = chain4.PLAN
    if precision == "bf16":
        modes = dict(zip((s.name for s in plan.stages), ("blocks", "stage", "none", "blocks")))
        plan = replace(plan, train=replace(plan.train, precision="bf16", recompute=modes))
    sent: list[torch.dtype] = []
    send = Transport.send

    def spy(self: Transport, tensors: tuple[torch.Tensor, ...], *args: object) -> None:
        sent.extend(t.dtype for t in tensors if t.is_floating_point())
        send(self, tensors, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Transport, "send", spy)
    reads = count_host_reads(monkeypatch)
    got = run_workers(chain4, 2, plan=plan, precision=Precision(precision))
    assert all(isinstance(r, list) for r in got.values()), got
    assert reads == [], reads
    assert sent and set(sent) == {DTYPES[precision]}, set(sent)


def test_the_host_read_count_sees_a_read(chain4: ModuleType,  # noqa: F811
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The count above would see a read added to a forward: one per forward run."""
    forward = worker_module.run_segment

    def reading(*args: object) -> object:
        out = forward(*args)  # type: ignore[arg-type]
        if isinstance(out, torch.Tensor) and out.dim() == 0:
            float(out.detach())
        return out

    monkeypatch.setattr(worker_module, "run_segment", reading)
    reads = count_host_reads(monkeypatch)
    got = run_workers(chain4, 1)
    assert all(isinstance(r, list) for r in got.values()), got
    assert reads == ["__float__"] * chain4.PLAN.microbatches, reads
