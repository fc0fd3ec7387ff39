"""Skip and swap legality (docs/design.md §4): a stage may be skipped only if its input and output
boundary signatures match, and two adjacent stages may be swapped only if both may be skipped.
Checked against the spec's policies; a violation is a diagnostic at the policy's line."""

from __future__ import annotations

from pgc.diagnostics import Diagnostic, UserError, error
from pgc.ir.types import Program


def stage_skippable(program: Program) -> dict[str, bool]:
    """Per stage: every segment skippable (auto-partitioned stages: every block maps its input
    signature to the same output signature, so any run of blocks does)."""
    out: dict[str, bool] = {}
    auto = {s: p for p in program.partitions for s in p.stages}
    for stage in program.stages:
        segs = [program.segment(n) for n in stage.segments]
        if stage.name in auto and not any(s.selectors for s in segs):
            blocks = auto[stage.name].blocks
            out[stage.name] = bool(blocks) and all(b.signature[0] == b.signature[1]
                                                   for b in blocks)
        else:
            out[stage.name] = all(bool(s.skippable) for s in segs)
    return out


def _why(program: Program, stage: str) -> str:
    for name in program.stage(stage).segments:
        seg = program.segment(name)
        if not seg.skippable:
            if not seg.boundary_out:
                return f"`{name}` computes the loss"
            return (f"`{name}` takes {', '.join(seg.boundary_in) or 'nothing'} but returns "
                    f"{', '.join(seg.boundary_out)}")
    return "its blocks change the boundary signature"


def check_policies(program: Program) -> None:
    """Raise UserError if the skip or swap policy needs a stage that cannot be skipped (one
    diagnostic per such stage, all in one run)."""
    ok = stage_skippable(program)
    num, den = program.skip.ratio
    if num:
        bad = [Diagnostic(program.skip.span,
                          f"stage `{stage.name}` cannot be skipped: {_why(program, stage.name)}",
                          hint=f"add `{stage.name}` to `never`")
               for stage in program.stages
               if stage.name not in program.skip.never and not stage.never_skip
               and not ok[stage.name]]
        if bad:
            raise UserError(*bad)
    if program.swap.max_swaps:
        order = [s.name for s in program.stages if not s.never_skip]
        if not any(ok[a] and ok[b] for a, b in zip(order, order[1:])):
            raise error(
                program.swap.span,
                "no two adjacent stages can be swapped: swapping needs both stages' input and "
                "output boundary signatures to match",
                hint="remove the `swap` policy",
            )
