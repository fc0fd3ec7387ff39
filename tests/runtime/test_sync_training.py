"""Sync modes under real torchrun (docs/CONTRACTS.md "Sync modes"): `every = 1, outer = sgd(lr =
1)` trains exactly as the synchronous single-process reference; outer steps (Nesterov, every 2
steps, 3 rounds) equal a single-process reference that keeps one copy of each stage per worker
and routes each microbatch as the plan does; a run stopped in the middle of an outer round and
resumed reproduces the uninterrupted losses bit for bit; a rehearsal of it (emulated network
and compute, outer syncs included) takes the predicted time per step. The spec is the
tied-embedding chain with replicated, skipped and swapped stages (a shared group across three
workers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import pgc_env, run_pgc
from tests.runtime.reference import launch, load_script, outer_reference, read_log, reference

SPEC = Path(__file__).parent / "specs" / "tied_skip_swap.pgc"
SGD = ("--optimizer", "sgd", "--lr", "0.05", "--clip", "0")

pytestmark = [pytest.mark.torchrun, pytest.mark.xdist_group("torchrun")]


def compile_with(sync: str, out: Path) -> Path:
    text = SPEC.read_text(encoding="utf-8").replace("  train {", f"  {sync}\n  train {{", 1)
    spec = out.parent / f"{out.name}.pgc"
    spec.write_text(text, encoding="utf-8")
    r = run_pgc("compile", str(spec), "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    return out


# a deliberately uneven direct exchange for every bucket: a zero share, workers of one bucket
# given in an order other than their ranks', a one-worker bucket (nothing to exchange)
SHARES = {"s0": {"n1": 0.3, "n0": 0.7}, "embed.weight": {"n5": 0.65, "n0": 0.0, "n1": 0.35},
          "s2": {"n3": 1.0}}


def with_shares(out: Path) -> None:
    """Give plan.json's buckets the direct-exchange shares of SHARES (the runtime's reading of
    them: docs/CONTRACTS.md "Sync modes")."""
    path = out / "plan.json"
    plan = json.loads(path.read_text(encoding="utf-8"))
    for bucket in plan["runtime"]["buckets"]:
        if bucket["name"] in SHARES:
            bucket["shares"] = SHARES[bucket["name"]]
    path.write_text(json.dumps(plan, indent=1), encoding="utf-8")


def direct_exchange(out: Path, tag: str) -> dict[str, dict[str, float]]:
    """What the run's log says it exchanges directly, by group."""
    return next(rec["direct_exchange"] for rec in read_log(out / f"{tag}.jsonl")
                if "direct_exchange" in rec)


def train(out: Path, tag: str, *flags: str) -> list[float]:
    log = out / f"{tag}.jsonl"
    r = launch(out, 6, "--log-file", str(log), "--timeout", "60", *SGD, *flags, env=pgc_env())
    assert r.returncode == 0, r.stderr[-4000:]
    return [rec["loss"] for rec in read_log(log) if "loss" in rec]


def test_every_one_with_sgd_one_is_synchronous(tmp_path: Path) -> None:
    out = compile_with("sync { every = 1; outer = sgd(lr = 1) }", tmp_path / "every1")
    script = load_script(out / "train.py")
    assert script.PLAN.sync.synchronous
    got = train(out, "every1", "--steps", "6")
    want = reference(script, 6, *SGD).losses
    torch.testing.assert_close(torch.tensor(got), torch.tensor(want), rtol=1e-5, atol=0)
    # the same plan with uneven direct-exchange shares trains the same, rehearsed (each group's
    # exchange inside its emulated time)
    with_shares(out)
    weighted = train(out, "shares", "--steps", "6", "--emulate-network")
    assert direct_exchange(out, "shares") == {k: v for k, v in SHARES.items() if k != "s2"}
    torch.testing.assert_close(torch.tensor(weighted), torch.tensor(got), rtol=1e-5, atol=0)


def test_outer_steps_match_the_per_worker_reference_and_resume_exactly(tmp_path: Path) -> None:
    out = compile_with("sync { every = 2; outer = nesterov(lr = 0.7, momentum = 0.9) }",
                       tmp_path / "outer")
    script = load_script(out / "train.py")
    assert not script.PLAN.sync.synchronous and script.PLAN.sync.every == 2
    whole = train(out, "whole", "--steps", "6")
    want = outer_reference(script, 6, 0.05)
    torch.testing.assert_close(torch.tensor(whole), torch.tensor(want), rtol=1e-5, atol=0)
    # the rounds end after steps 2, 4, 6: stop after step 3, mid-round, and resume
    ckpt = str(out / "ckpt")
    first = train(out, "first", "--steps", "3", "--ckpt-every", "3", "--ckpt-dir", ckpt)
    rest = train(out, "rest", "--steps", "6", "--ckpt-every", "3", "--ckpt-dir", ckpt,
                 "--resume")
    assert first + rest == whole
    # a rehearsal emulates the outer syncs too: steps 2..5 (two of them syncing) take the
    # predicted time of a step without sync and of one with it, at the time scale; with
    # uneven direct-exchange shares in the plan, it trains as the plain plan did
    with_shares(out)
    rehearsed = train(out, "rehearsal", "--steps", "5", "--emulate-network",
                      "--emulate-compute", "--time-scale", "500")
    assert set(direct_exchange(out, "rehearsal")) == {"s0", "embed.weight"}
    torch.testing.assert_close(torch.tensor(rehearsed), torch.tensor(whole[:5]), rtol=1e-5,
                               atol=0)
    log = out / "rehearsal.jsonl"
    summary = next(rec["rehearsal"] for rec in read_log(log) if "rehearsal" in rec)
    pred = script.PLAN.predicted_steps
    assert pred is not None and pred[1] > pred[0]
    assert summary["steps"] == 4 and summary["synced_steps"] == 2
    assert summary["predicted_step_s"] == pytest.approx(500 * (pred[0] + pred[1]) / 2)
    assert summary["measured_step_s"] == pytest.approx(summary["predicted_step_s"], rel=0.25)
