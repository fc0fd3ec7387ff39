"""What a rehearsal (`--emulate-compute`, `--emulate-network`) tells its user at the end.

A rehearsal pads each action and message to its predicted time times `--time-scale`, so its
steps should take the plan's predicted step time times the scale. At the end of the run rank 0
prints the predicted against the measured time per step (the mean over the run's steps after
the first, which warms up), and warns, per worker, when real compute took longer than the time
it was to be padded to: those steps measure the machine, not the plan.
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


def summary(plan: Plan, scale: float, times: list[float],
            overruns: list[tuple[str, Overrun]]) -> tuple[dict[str, Any], list[str]]:
    """The log record and the lines rank 0 prints at the end of a rehearsal."""
    measured = times[1:] or times
    mean = sum(measured) / max(1, len(measured))
    predicted = plan.predicted_step * scale if plan.predicted_step is not None else None
    record: dict[str, Any] = {
        "rehearsal": {"time_scale": scale, "predicted_step_s": predicted,
                      "measured_step_s": mean, "steps": len(measured),
                      "overruns": {w: o.over for w, o in overruns if o.over}}}
    if predicted is None:
        lines = [f"rehearsal: measured {mean:.3f} s/step (time scale {scale:g}); the plan has "
                 "no prediction to compare with"]
    else:
        lines = [f"rehearsal: predicted {plan.predicted_step:.3f} s/step x time scale {scale:g}"
                 f" = {predicted:.3f} s, measured {mean:.3f} s (mean of {len(measured)} steps, "
                 f"{mean / predicted:.2f}x the prediction)" if predicted > 0 else
                 f"rehearsal: predicted 0 s/step, measured {mean:.3f} s"]
    for w, o in overruns:
        if o.over:
            lines.append(f"warning: worker {w}: real compute exceeded its emulated time in "
                         f"{o.over} of {o.actions} actions (worst `{o.what}` by "
                         f"{o.worst * 1e3:.0f} ms); those steps measure this machine, not the "
                         "plan: raise --time-scale")
    return record, lines
