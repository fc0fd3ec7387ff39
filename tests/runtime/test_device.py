"""Device and backend choice (`--device`, `--backend`): the automatic choice, GPUs shared
through gloo, and the refusals, with torch's view of CUDA monkeypatched; messages staged
through host memory arrive intact; host reads inside a step are counted."""

from __future__ import annotations

from types import ModuleType

import pytest
import torch

from pgc.runtime.device import choose, placement
from pgc.runtime.plan import PlanError
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


def test_staged_messages_arrive_intact(chain4: ModuleType) -> None:  # noqa: F811
    t = transports(chain4.PLAN, LocalComm())
    for tr in t.values():
        tr.staged = True
    sent = (torch.randn(4, 3), torch.arange(6).reshape(2, 3))
    t["n0"].send(sent, "n1", "SEND")
    got = t["n1"].recv(((("B", 3), "float32"), ((2, 3), "int64")), "n0", "RECV")
    assert all(torch.equal(a, b) for a, b in zip(got, sent))
    t["n0"].flush()


def test_one_host_read_per_step_at_most(chain4: ModuleType,  # noqa: F811
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of tensor values by the host (`float()`, `.item()`, `.tolist()`, `bool()`) while
    every worker runs its step's actions: none (the loss stays a tensor; the end-of-step
    all-reduce reads the step's values once)."""
    reads: list[str] = []
    for name in ("__float__", "item", "tolist", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *args: object, _f: object = original,
                    _n: str = name) -> object:
            reads.append(_n)
            return _f(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, counted)
    got = run_workers(chain4, 2)
    assert all(isinstance(r, list) for r in got.values()), got
    assert reads == [], reads
