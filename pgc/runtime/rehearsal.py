"""What a rehearsal (`--emulate-compute`, `--emulate-network`) tells its user at the end.

A rehearsal pads each action, message and group exchange to its predicted time times
`--time-scale`, so its steps should take the plan's predicted step time times the scale: a
step that syncs its groups (every step in the synchronous modes; with outer steps every
`every`-th, which adds the outer sync) takes the simulated synced step, any other the step
without sync. At the end of the run rank 0 prints the predicted against the measured time per
step (both the mean over the run's steps after the first, which warms up), and warns, per
worker, when real compute took longer than the time it was to be padded to: those steps
measure the machine, not the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .plan import Plan


@dataclass
class Overrun:
    """Actions of one worker whose real compute exceeded their emulated (scaled) time."""

    actions: int = 0  # padded actions
    over: int = 0  # of which ran longer than their emulated time
    worst: float = 0.0  # seconds by which the worst one did
    what: str = ""  # the worst one

    def note(self, excess: float, what: str) -> None:
        self.actions += 1
        if excess > 0:
            self.over += 1
            if excess > self.worst:
                self.worst, self.what = excess, what


def predicted_mean(plan: Plan, steps: range) -> float | None:
    """The simulated seconds per step over `steps` (counted from 0), each step priced as a
    step that syncs or one that does not."""
    if plan.predicted_steps is None or not steps:
        return plan.predicted_step
    plain, synced = plan.predicted_steps
    return sum(synced if plan.sync.syncs_after(s) else plain for s in steps) / len(steps)


def summary(plan: Plan, scale: float, times: list[float], overruns: list[tuple[str, Overrun]],
            first: int = 0) -> tuple[dict[str, Any], list[str]]:
    """The log record and the lines rank 0 prints at the end of a rehearsal; `times[i]` is
    the measured time of step `first + i`."""
    skip = 1 if len(times) > 1 else 0
    measured = times[skip:]
    mean = sum(measured) / max(1, len(measured))
    steps = range(first + skip, first + len(times))
    per_step = predicted_mean(plan, steps)
    predicted = per_step * scale if per_step is not None else None
    synced = sum(plan.sync.syncs_after(s) for s in steps)
    record: dict[str, Any] = {
        "rehearsal": {"time_scale": scale, "predicted_step_s": predicted,
                      "measured_step_s": mean, "steps": len(measured), "synced_steps": synced,
                      "overruns": {w: o.over for w, o in overruns if o.over}}}
    of = (f"mean of {len(measured)} steps" if synced == len(measured) else
          f"mean of {len(measured)} steps, {synced} of them syncing")
    if predicted is None or per_step is None:
        lines = [f"rehearsal: measured {mean:.3f} s/step (time scale {scale:g}); the plan has "
                 "no prediction to compare with"]
    else:
        lines = [f"rehearsal: predicted {per_step:.3f} s/step x time scale {scale:g}"
                 f" = {predicted:.3f} s, measured {mean:.3f} s ({of}, "
                 f"{mean / predicted:.2f}x the prediction)" if predicted > 0 else
                 f"rehearsal: predicted 0 s/step, measured {mean:.3f} s"]
    for w, o in overruns:
        if o.over:
            lines.append(f"warning: worker {w}: real compute exceeded its emulated time in "
                         f"{o.over} of {o.actions} actions (worst `{o.what}` by "
                         f"{o.worst * 1e3:.0f} ms); those steps measure this machine, not the "
                         "plan: raise --time-scale")
    return record, lines
