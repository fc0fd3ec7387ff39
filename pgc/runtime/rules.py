"""Rules the compiler and the generated script both apply, each in one place with one message
(standard library only: the compiler imports it from `pgc.runtime.rules`, a compiled folder
from `pgc_runtime.rules`).

Skip ratio (docs/design.md §4): a ratio k counts all S stages, never-skip ones included, and
k x S must be a whole number; each path then visits S - k x S stages.
"""

from __future__ import annotations

from fractions import Fraction


def skipped_stage_count(ratio: Fraction, stages: int) -> int | None:
    """k x S for a skip ratio k of S stages; None when it is not a whole number."""
    skipped = Fraction(ratio) * stages
    return int(skipped) if skipped.denominator == 1 else None


def skip_ratio_problem(ratio: Fraction, stages: int) -> str | None:
    """The one message for a skip ratio that does not give a whole number of stages (None when
    it does)."""
    if skipped_stage_count(ratio, stages) is not None:
        return None
    skipped = Fraction(ratio) * stages
    return (f"skip ratio {Fraction(ratio)} of {stages} stages skips {float(skipped):g} stages, "
            "not a whole number")


def skip_ratio_hint(stages: int) -> str:
    """The ratios that do give a whole number of stages (the first few)."""
    ok = sorted({Fraction(j, stages) for j in range(1, stages)})
    return f"with {stages} stages use one of " + ", ".join(str(f) for f in ok[:6])
