"""Rules the compiler and the generated script both apply, each in one place with one message
(standard library only: the compiler imports it from `pgc.runtime.rules`, a compiled folder
from `pgc_runtime.rules`).

Skip ratio (docs/design.md §4): a ratio k counts all S stages, never-skip ones included, and
k x S must be a whole number; each path then visits S - k x S stages.

Direct weighted exchange (docs/CONTRACTS.md "Sync modes"): a bucket's shares name exactly its
workers, each finite and >= 0, summing to 1 within SHARE_SUM_TOLERANCE; member j of the group
(group-rank order) owns the slice `slice_bounds(N, shares)[j]` of the flat N-value tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any


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


SHARE_SUM_TOLERANCE = 1e-6


def shares_problem(shares: Mapping[str, Any], workers: Sequence[str]) -> str | None:
    """The one message for direct-exchange shares that are not one finite share >= 0 per
    worker summing to 1 (None when they are)."""
    missing = [w for w in workers if w not in shares]
    extra = [w for w in shares if w not in workers]
    if missing or extra:
        return (f"expected one share per worker of the bucket ({', '.join(workers)})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not in the bucket {', '.join(extra)}" if extra else ""))
    for w, v in shares.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v < 0:
            return f"share of {w}: expected a finite number >= 0, got {v!r}"
    total = math.fsum(shares.values())
    if abs(total - 1.0) > SHARE_SUM_TOLERANCE:
        return f"shares sum to {total!r}, expected 1 (within {SHARE_SUM_TOLERANCE})"
    return None


def slice_bounds(size: int, shares: Sequence[float]) -> list[tuple[int, int]]:
    """The [start, end) slice of a `size`-element tensor each member owns, in group-rank order:
    boundaries at round(size x cumulative share / total share) (Python's round), so the last
    ends at `size` exactly; a zero share owns an empty slice. A pure function of its arguments,
    so every member cuts alike. O(n) for n members."""
    total, run, cuts = float(sum(shares)), 0.0, [0]
    for s in shares:
        run += s
        cuts.append(min(size, max(cuts[-1], round(size * run / total))))
    cuts[-1] = size
    return list(zip(cuts[:-1], cuts[1:]))
