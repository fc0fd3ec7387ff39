"""Held-out evaluation with stages removed (SkipPipe's robustness measure).

Each evaluation batch (`batch(plan, ., index, 0, 0, "val")`) runs forward, one at a time,
through the remaining segments in model order on each stage's first replica. Stages are
removed by name, or at random (seeded per batch) as a fraction of all stages, which must be a
whole number of stages, as in a spec's `skip { ratio }`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.distributed as dist

from .data import batch, generator, sample_seed
from .plan import Plan, PlanError
from .rules import skip_ratio_hint, skip_ratio_problem, skipped_stage_count
from .transport import Tensors
from .worker import Worker

EVAL_SEED = 17  # seeds the random choice of removed stages per batch


def skippable_stages(plan: Plan) -> list[str]:
    return [st.name for st in plan.stages if not st.never_skip
            and all(s.skippable for s in plan.segments if s.stage == st.name)]


def whole_stage_count(ratio: str, stages: int) -> int:
    """k * S for a skip ratio k of S stages (k counts all stages); a ratio that does not give a
    whole number of stages is refused with the message `pgc check` gives for a spec
    (`rules.skip_ratio_problem`)."""
    try:
        k = Fraction(ratio)
    except (ValueError, ZeroDivisionError):
        raise PlanError(f"--skip-ratio {ratio!r} is not a fraction like 1/3 or 0.5") from None
    if not 0 <= k <= 1:
        raise PlanError(f"--skip-ratio {ratio}: a fraction between 0 and 1 of the stages")
    count = skipped_stage_count(k, stages)
    if count is None:
        raise PlanError(f"--skip-ratio {ratio}: {skip_ratio_problem(k, stages)} "
                        f"({skip_ratio_hint(stages)})")
    return count


def skipped_stages(plan: Plan, named: str, ratio: str, index: int) -> set[str]:
    """Stages removed for evaluation batch `index`: the `named` ones (comma-separated), or a
    random subset (seeded per batch) of the skippable stages, `ratio` x all stages."""
    skippable = skippable_stages(plan)
    if named:
        chosen = {s.strip() for s in named.split(",") if s.strip()}
        bad = sorted(chosen - set(skippable))
        if bad:
            raise PlanError(f"--skip-stages: {bad} cannot be skipped (skippable: {skippable})")
        return chosen
    count = whole_stage_count(ratio, len(plan.stages))
    if count > len(skippable):
        raise PlanError(f"--skip-ratio {ratio}: only {len(skippable)} stages can be skipped")
    order = torch.randperm(len(skippable), generator=generator(sample_seed(EVAL_SEED, index, 0)))
    return {skippable[i] for i in order[:count].tolist()}


def evaluate(w: Worker, batches: int, named: str, ratio: str) -> float | None:
    """The mean held-out loss over `batches` batches with stages removed (rank 0; else None)."""
    for mod in w.segments.values():
        mod.eval()  # no dropout; restored to train mode at the end
    try:
        return _evaluate(w, batches, named, ratio)
    finally:
        for mod in w.segments.values():
            mod.train()


def _evaluate(w: Worker, batches: int, named: str, ratio: str) -> float | None:
    plan = w.plan
    first_replica = {st.name: st.replicas[0] for st in plan.stages}
    total = 0.0
    for index in range(batches):
        skip = skipped_stages(plan, named, ratio, index)
        hops = [(s.name, first_replica[s.stage]) for s in plan.segments if s.stage not in skip]
        ids, labels = (t.to(w.device) for t in batch(plan, w.source, index, 0, 0, split="val"))
        x: Tensors = (ids,)
        with torch.no_grad():
            for k, (seg, worker) in enumerate(hops):
                if worker != w.me:
                    continue
                what = f"eval {seg} batch {index}"
                if k > 0 and hops[k - 1][1] != w.me:
                    x = w.transport.recv(plan.segment(hops[k - 1][0]).outputs, hops[k - 1][1], what)
                if plan.segment(seg).loss:
                    total += float(w.segments[seg](*x, labels))
                    continue
                out = w.segments[seg](*x)
                x = out if isinstance(out, tuple) else (out,)
                if k + 1 < len(hops) and hops[k + 1][1] != w.me:
                    w.transport.send(x, hops[k + 1][1], what)
    w.transport.flush()
    result = torch.tensor([total], dtype=torch.float64, device=w.device)
    dist.all_reduce(result)
    return result.item() / batches if w.rank == 0 else None


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
