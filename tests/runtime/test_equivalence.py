"""A pgc run equals single-process training from the same initial state on the same batches
(docs/design.md §4): real spec -> `pgc compile` -> train.py -> real torchrun over gloo, against the
reference loop of `reference.py` in this process.

Both runs of a scenario start from the same state, the second through `pgc init-model` and
`--init-from`. Scenarios: (a) a full 1F1B pipeline with replicated stages (5 workers); (b)+(c) a tied-embedding
model in the chain layout whose explicit paths skip and swap stages (6 workers, a shared group
spanning the first and last stages' replicas).

fp32 sums are not associative: replicas add their microbatches' gradients in another order than
one process does, so results differ in the last bits; SGD runs with a learning rate small enough
that training dynamics do not amplify that rounding past the tolerance in 10 steps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import pgc_env, run_pgc
from tests.runtime.reference import (
    assert_close_all,
    gather,
    launch,
    load_script,
    read_log,
    reference,
)

SPECS = Path(__file__).parent / "specs"
SGD = ("--optimizer", "sgd", "--lr", "0.003", "--clip", "0")
ADAMW = ("--optimizer", "adamw", "--lr", "0.01", "--clip", "0.5")

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]


def compile_spec(name: str, out: Path) -> Path:
    r = run_pgc("compile", str(SPECS / f"{name}.pgc"), "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "torchrun --nproc-per-node" in r.stdout
    return out


def run_plan(out: Path, tag: str, steps: int, *flags: str) -> Path:
    """Train under torchrun; dumps go to out/tag.*; returns the run's log."""
    nproc = len(load_script(out / "train.py").PLAN.workers)
    log = out / f"{tag}.jsonl"
    r = launch(out, nproc, "--steps", str(steps), "--log-file", str(log), "--timeout", "60",
               "--dump-grads", str(out / f"{tag}-grads"), "--dump-params",
               str(out / f"{tag}-params"), *flags, env=pgc_env())
    assert r.returncode == 0, r.stderr[-4000:]
    return log


@pytest.mark.parametrize("spec", ["full_replicas", "tied_skip_swap"])
def test_matches_single_process(spec: str, tmp_path: Path) -> None:
    out = compile_spec(spec, tmp_path / spec)
    # SGD: first-step gradients and parameters after 10 steps.
    sgd_log = read_log(run_plan(out, "sgd", 10, *SGD))
    ref = reference(load_script(out / "train.py"), 10, *SGD)
    assert_close_all(gather(out / "sgd-grads"), ref.first_grads, rtol=1e-5, atol=1e-7)
    assert_close_all(gather(out / "sgd-params"), ref.params, rtol=1e-5, atol=1e-7)
    # AdamW with clipping active: losses over 10 steps, parameters after 3. This run starts
    # from `pgc init-model`'s file: the same start as the default, so step 1's loss (taken
    # before any update) is bit-identical to the SGD run's.
    init = out / "init.pt"
    r = run_pgc("init-model", str(SPECS / f"{spec}.pgc"), "-o", str(init))
    assert r.returncode == 0, r.stderr
    log = read_log(run_plan(out, "adamw", 10, *ADAMW, "--dump-after", "3", "--init-from", str(init)))
    assert log[0]["loss"] == sgd_log[0]["loss"]
    ref10 = reference(load_script(out / "train.py"), 10, *ADAMW)
    assert any(rec["grad_norm"] > 0.5 for rec in log), "clipping never engaged"
    torch.testing.assert_close(
        torch.tensor([rec["loss"] for rec in log]), torch.tensor(ref10.losses), rtol=1e-5, atol=0
    )
    ref3 = reference(load_script(out / "train.py"), 3, *ADAMW)
    got = gather(out / "adamw-params")
    for name, t in got.items():
        want = ref3.params[name]
        rel = float((t - want).norm() / want.norm())
        assert rel <= 1e-5, f"{name}: relative difference {rel:.2e} after 3 AdamW steps"
    if spec == "tied_skip_swap":
        # the tied weight is one tensor: identical on the first and last stages after training
        torch.testing.assert_close(got["embed.weight"], got["head.weight"], rtol=0, atol=0)


def test_root_parameter_full_length_and_dropout_match_single_process(tmp_path: Path) -> None:
    """Scenario (d): `pos` is a parameter of the model itself, seq is the model's maximum, and
    dropout (p = 0.2) is on: each forward draws from the documented per-(step, microbatch,
    segment) seed, so the pipeline's masks are the reference's, replicas included."""
    out = compile_spec("learned_pos_dropout", tmp_path / "lpd")
    log = read_log(run_plan(out, "sgd", 10, *SGD))
    script = load_script(out / "train.py")
    ref = reference(script, 10, *SGD)
    assert_close_all(gather(out / "sgd-grads"), ref.first_grads, rtol=1e-5, atol=1e-7)
    assert_close_all(gather(out / "sgd-params"), ref.params, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(torch.tensor([rec["loss"] for rec in log]),
                               torch.tensor(ref.losses), rtol=1e-5, atol=0)
    no_dropout = reference(script, 1, *SGD, train_mode=False)
    assert abs(no_dropout.losses[0] - ref.losses[0]) > 1e-3, "dropout drew nothing"
