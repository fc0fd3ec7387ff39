"""Full-pipeline baselines of a plan and the verdict against them.

A plan is never silently worse than what a plain pipeline would do on the same workers: the
spec's schedule is set next to the full-pipeline schedules pgc can build on the same placement
(GPipe, 1F1B and, when the planner routes, a full pipeline routed by it), each judged by the
same order pass and simulator, under the spec's `inflight` limit where the schedule allows it.
GPipe runs every forward before any backward, so it holds every microbatch a worker sees; its
row is kept for reference and marked when that breaks the limit. The verdict says, in the
spec's objective, whether the spec's schedule is the fastest of the rows that keep the limit,
or which rows beat it and by how much. Skipping changes what is trained, so pgc never swaps the
spec's schedule for a baseline on its own; it says so instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pgc.diagnostics import UserError
from pgc.ir.types import Program, ScheduleKind, SwapPolicy

ROUTED_FULL = "full (routed)"


@dataclass(frozen=True)
class Row:
    """One schedule planned on the spec's placement: its simulated times, or why it failed."""

    label: str
    program: Program | None
    error: str = ""
    inflight_limit: int = 0

    @property
    def peak_inflight(self) -> int:
        p = self.program.prediction if self.program else None
        return max((n for _, n in p.peak_inflight), default=0) if p else 0

    @property
    def within_limit(self) -> bool:
        return self.program is not None and self.peak_inflight <= self.inflight_limit

    def time(self, objective: str) -> float:
        p = self.program.prediction if self.program else None
        if p is None:
            return float("inf")
        return p.pipeline_time if objective == "pipeline" else p.iteration_time


def after_placement(placed: Program) -> Program:
    """Run the pipeline's passes that follow `placed`, through `simulated`."""
    from pgc.pipeline import run_passes

    return run_passes(placed, start="routed", until="simulated")


def replan(placed: Program, schedule: ScheduleKind) -> Program:
    """The placed program re-planned with a full-pipeline schedule on the same workers; GPipe
    holds every microbatch at once, so its inflight is M."""
    program = replace(placed, schedule=schedule, explicit_paths=(), paths=(), actions=(),
                      prediction=None, notes=())
    if schedule == "gpipe":
        program = replace(program, inflight=program.microbatches)
    if schedule == "skippipe":  # the planner's router, every stage visited, no swaps
        program = replace(program, skip=replace(placed.skip, ratio=(0, 1)), swap=SwapPolicy())
    return after_placement(program)


def baselines(placed: Program, spec_schedule: ScheduleKind) -> list[Row]:
    """GPipe, 1F1B and (when the spec's schedule is `skippipe` with skipping or swapping) the
    router's own full pipeline, planned on `placed`'s workers. O(planning a full pipeline)."""
    wanted: list[tuple[str, ScheduleKind]] = [("gpipe", "gpipe"), ("1f1b", "1f1b")]
    skips = placed.skip.ratio[0] > 0 or placed.swap.max_swaps > 0
    if spec_schedule == "skippipe" and skips:
        wanted.append((ROUTED_FULL, "skippipe"))
    rows = []
    for label, schedule in wanted:
        if schedule == spec_schedule and label != ROUTED_FULL:
            continue  # the spec's own row already shows it
        try:
            rows.append(Row(label, replan(placed, schedule), inflight_limit=placed.inflight))
        except UserError as exc:
            rows.append(Row(label, None, exc.diagnostics[0].message, placed.inflight))
    return rows


def verdict(spec: Row, others: list[Row], objective: str) -> list[str]:
    """Plain sentences: whether the spec's schedule is the fastest in `objective` time of the
    rows that keep the inflight limit, and every row that beats it, by how much."""
    measure = f"{objective} time"
    own = spec.time(objective)
    beaten = sorted((r for r in others if r.time(objective) < own * (1 - 1e-9)),
                    key=lambda r: r.time(objective))
    lines = []
    for r in beaten:
        t = r.time(objective)
        line = (f"{spec.label} loses to {r.label} by "
                f"{100 * (own / t - 1):.1f}% in {measure}: {own:.4g} s against {t:.4g} s")
        if not r.within_limit:
            line += (f"; but {r.label} holds {r.peak_inflight} microbatches on a worker, over "
                     f"the spec's inflight = {r.inflight_limit}")
        lines.append(line)
    if not any(r.within_limit for r in beaten):
        kept = [r.label for r in others if r.within_limit]
        lines.append(f"{spec.label} is the fastest in {measure} of the "
                     f"schedules planned within inflight = {spec.inflight_limit}"
                     + (f" ({', '.join(kept)})" if kept else ""))
    return lines
