"""Mixed precision and recomputation in the runtime (docs/CONTRACTS.md "Precision",
"Recomputation").

- bf16 (spec `train { precision = bf16; recompute { ... } }`) over real torchrun equals the
  single-process bf16 reference running the same paths (autocast, outputs cast at every
  segment boundary): losses within rtol 1e-2 over 10 steps, and far nearer it than the fp32
  reference (which is itself within that tolerance here);
- fp16 with a loss scale too large for fp16: the first steps overflow and are skipped on every
  worker alike (each worker's parameters after the first step are its initial ones, bit for
  bit), logged, the scale halves, and training then recovers;
- recomputation (whole stages and blocks) is bit-identical to none in fp32, losses and
  gradients, dropout on (in this process, the workers as threads).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from pgc.runtime.liveness import Watchdog
from pgc.runtime.plan import Plan
from pgc.runtime.randomness import forward_rng
from pgc.runtime.recompute import block_names, run_segment
from pgc.runtime.worker import Worker
from tests.conftest import pgc_env
from tests.runtime.reference import (
    builder,
    gather,
    initial_model,
    launch,
    load_script,
    read_log,
    reference,
)
from tests.runtime.test_equivalence import compile_spec, run_plan
from tests.runtime.test_units import CPU, LocalComm, transports

SGD = ("--optimizer", "sgd", "--lr", "0.05", "--clip", "0")


@pytest.mark.torchrun
@pytest.mark.xdist_group("torchrun")
def test_bf16_matches_reference_and_fp16_skips_overflowing_steps(tmp_path: Path) -> None:
    out = compile_spec("tied_bf16", tmp_path / "bf16")
    script = load_script(out / "train.py")
    assert script.PLAN.train.precision == "bf16"
    assert set(script.PLAN.train.recompute.values()) == {"blocks", "stage"}
    log = read_log(run_plan(out, "bf16", 10, *SGD))
    ref = reference(script, 10, *SGD)
    fp32 = reference(script, 10, *SGD, "--precision", "fp32")
    got = torch.tensor([r["loss"] for r in log])
    torch.testing.assert_close(got, torch.tensor(ref.losses), rtol=1e-2, atol=0)
    # bf16 and fp32 differ by less than that tolerance here (measured: at most 7e-4
    # relative over these 10 steps), so it alone would pass a run that ignored the setting:
    # the run must also be far nearer the bf16 reference (measured: 1e-7) than the fp32 one
    to_bf16 = (got - torch.tensor(ref.losses)).abs().max()
    to_fp32 = (got - torch.tensor(fp32.losses)).abs().max()
    assert to_fp32 > 1e-4 and to_bf16 < to_fp32 / 100, (to_bf16, to_fp32)
    assert ref.losses[-1] < ref.losses[0] - 0.02

    # fp16: 2^24 overflows fp16 in this model at once; each overflow halves the scale
    flog = out / "fp16.jsonl"
    r = launch(out, len(script.PLAN.workers), "--steps", "16", "--log-file", str(flog),
               "--timeout", "60", "--precision", "fp16", "--loss-scale", str(2.0 ** 24),
               "--dump-params", str(out / "fp16-params"), "--dump-after", "1", *SGD,
               env=pgc_env())
    assert r.returncode == 0, r.stderr[-4000:]
    recs = read_log(flog)
    skipped = [rec["skipped"] for rec in recs]
    assert skipped[0] and not skipped[-1] and skipped.count(False) >= 8, skipped
    first_good = skipped.index(False)
    # the scale halves after each skipped step and holds otherwise (growth needs 2000 steps)
    scale = 2.0 ** 24
    for rec in recs:
        scale *= 0.5 if rec["skipped"] else 1.0
        assert rec["loss_scale"] == scale, recs
    assert f"step 1: skipped on every worker (an fp16 gradient overflowed); loss scale now " \
           f"{2.0 ** 23:g}" in r.stdout
    # every worker skipped the first step: parameters are still the initial ones
    init = {n: p.detach() for n, p in initial_model(script).named_parameters(
        remove_duplicate=False)}
    after = gather(out / "fp16-params")
    assert after and all(torch.equal(t, init[n]) for n, t in after.items())
    losses = [rec["loss"] for rec in recs]
    assert losses[-1] < losses[first_good] - 0.05, losses


# ----------------------------------------------------------------------------- recomputation
def serialise_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    """One forward or backward at a time across the worker threads: the threads share the
    process's one global generator, which each forward seeds and each recomputation restores
    (in a run each worker is its own process). Waits for messages stay outside the lock."""
    lock = threading.RLock()
    forward, backward = run_segment, torch.autograd.backward

    def locked(fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return fn(*args, **kwargs)
        return call

    @contextlib.contextmanager
    def seeded(*args: Any) -> Any:
        with lock, forward_rng(*args):
            yield

    monkeypatch.setattr("pgc.runtime.worker.forward_rng", seeded)
    monkeypatch.setattr("pgc.runtime.worker.run_segment", locked(forward))
    monkeypatch.setattr(torch.autograd, "backward", locked(backward))


def grads_after_step(script: ModuleType, plan: Plan) -> dict[str, Any]:
    """Each worker of `plan` as a thread over LocalComm, one step; worker -> (loss sum,
    gradients by name)."""
    comm, results = LocalComm(), {}
    ts = transports(plan, comm, 30.0)
    workers = []
    for w in plan.workers:
        segs = builder(script).segments(list(plan.stage_of(w).segments), None, CPU)
        groups = {b.name: (b, None) for b in plan.buckets if w in b.workers}
        workers.append(Worker(plan, w, plan.workers.index(w), segs, ts[w], groups,
                              Watchdog(w, 30.0), CPU))

    def one(worker: Worker) -> None:
        loss, _ = worker.run_step(0)
        results[worker.me] = (loss, {n: p.grad.clone() for n, p in worker.params.items()
                                     if p.grad is not None})

    threads = [threading.Thread(target=one, args=(w,), daemon=True) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    for wk in workers:
        wk.watchdog.close()
    return results


def test_recomputation_is_bit_identical_to_none_in_fp32(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return checkpoint(*args, **kwargs)

    monkeypatch.setattr("pgc.runtime.recompute.checkpoint", counted)
    serialise_compute(monkeypatch)
    out = compile_spec("learned_pos_dropout", tmp_path / "lpd")
    script = load_script(out / "train.py")
    plan: Plan = script.PLAN
    stages = [s.name for s in plan.stages]
    assert all(block_names(script.STAGES[seg]) for s in plan.stages for seg in s.segments)
    base = grads_after_step(script, plan)
    assert not calls
    for modes in ({s: "stage" for s in stages}, {s: "blocks" for s in stages},
                  dict(zip(stages, ("blocks", "none", "stage")))):
        calls.clear()
        again = grads_after_step(script, replace(plan, train=replace(plan.train,
                                                                     recompute=modes)))
        for w, (loss, grads) in base.items():
            assert torch.equal(torch.as_tensor(again[w][0]), torch.as_tensor(loss)), (modes, w)
            assert grads.keys() == again[w][1].keys()
            for n, g in grads.items():
                assert torch.equal(g, again[w][1][n]), (modes, w, n)
        assert calls, f"nothing was recomputed with {modes}"
    # dropout is on: without the forward's random state replayed the grads would differ
    assert plan.model.args["dropout"] > 0
