"""The skip, swap and path rules of docs/design.md §4, each in one place with one message.

The frontend applies them to the paths a spec writes, the `routed` pass to every path it
checks, the planner to the paths it builds; the skip-ratio rule itself lives in the runtime
package (`pgc.runtime.rules`), which the generated script applies to `--skip-ratio`.
"""

from __future__ import annotations

from fractions import Fraction

from pgc.diagnostics import error
from pgc.ir.types import Program, Span
from pgc.runtime.rules import skip_ratio_hint, skip_ratio_problem, skipped_stage_count

OUT_OF_ORDER_HINT = "a path may only swap two adjacent stages (visit s3 just before s2)"


def stages_visited(program: Program) -> int:
    """Stages each path visits: S - k x S; a UserError at the skip policy when k x S is not
    whole."""
    n = len(program.stages)
    return n - skipped_count(Fraction(*program.skip.ratio), n, program.skip.span)


def skipped_count(ratio: Fraction, stages: int, where: Span) -> int:
    """k x S, or a UserError at `where` with the one message and hint."""
    count = skipped_stage_count(ratio, stages)
    if count is None:
        raise error(where, skip_ratio_problem(ratio, stages) or "", hint=skip_ratio_hint(stages))
    return count


def swap_positions(visited: list[int]) -> tuple[list[int], int | None]:
    """Read `visited` (stage indices in visit order) as sorted order with disjoint swaps of
    consecutive stages: the positions i where it visits ranks i+1, i, and the first position
    that fits no such reading (None when all do)."""
    ranked, out, i = sorted(visited), [], 0
    while i < len(visited):
        if visited[i] == ranked[i]:
            i += 1
        elif (i + 1 < len(visited) and visited[i] == ranked[i + 1]
              and visited[i + 1] == ranked[i] and ranked[i + 1] == ranked[i] + 1):
            out.append(i)
            i += 2
        else:
            return out, i
    return out, None


def path_problem(mb: int, visited: list[int], names: list[str], need: int, never: set[str],
                 unskippable: set[str], max_swaps: int) -> tuple[str, str | None] | None:
    """(message, hint) when microbatch `mb`'s path, visiting stage indices `visited` (in visit
    order) of the stages `names`, breaks the skip or swap policy: it must visit `need` distinct
    stages, skip none of `never` or `unskippable`, keep stage order except for disjoint swaps
    of adjacent stages (none of them unskippable), at most `max_swaps`. None when it obeys."""
    where = f"path of m{mb}"
    if len(set(visited)) != len(visited):
        return f"{where} visits a stage twice", None
    if len(visited) != need:
        return f"{where} visits {len(visited)} stages; the skip policy needs {need}", None
    for i, name in enumerate(names):
        if i in visited:
            continue
        if name in never:
            return f"{where} skips `{name}`, which is never skipped", None
        if name in unskippable:
            return f"{where} skips `{name}`, whose input and output shapes differ", None
    swaps, bad = swap_positions(visited)
    for i in swaps:
        for k in (visited[i + 1], visited[i]):
            if names[k] in unskippable:
                return f"{where} swaps `{names[k]}`, whose input and output shapes differ", None
    if bad is not None:
        return f"{where} visits `{names[visited[bad]]}` out of order", OUT_OF_ORDER_HINT
    if len(swaps) > max_swaps:
        plural = "swap" if len(swaps) == 1 else "swaps"
        return f"{where} makes {len(swaps)} {plural}; the swap policy allows {max_swaps}", None
    return None
