"""Pass `placed`: check the spec's explicit placement; delegate `on auto` stages to the planner.

Requires: stages and workers lowered; `placement` holds every stage not in `auto_place`.
Ensures: `placement` lists every stage, in pipeline order, each with a non-empty replica group
of known, distinct workers; no worker holds two stages; `auto_place` is empty.
"""

from __future__ import annotations

from dataclasses import replace

from pgc.diagnostics import did_you_mean, error
from pgc.ir.passes import Pass
from pgc.ir.types import Program
from pgc.passes.place_auto import place_auto


def _place_auto(program: Program) -> Program:
    """Hand stages placed `on auto` to the planner."""
    return place_auto(program)


def check_placement(program: Program) -> None:
    """Raise UserError for a placement the runtime cannot run."""
    groups = dict(program.placement)
    known = {w.name for w in program.workers}
    owner: dict[str, str] = {}
    for stage in program.stages:
        group = groups.get(stage.name, ())
        if not group:
            raise error(stage.span, f"stage `{stage.name}` is not placed on any worker",
                        hint=f"add `place {stage.name} on <workers>`")
        for w in group:
            if w not in known:
                raise error(stage.span, f"stage `{stage.name}` is placed on unknown worker `{w}`",
                            hint=did_you_mean(w, sorted(known)))
            if w in owner:
                other = owner[w]
                raise error(
                    stage.span,
                    f"worker `{w}` holds both `{other}` and `{stage.name}`"
                    if other != stage.name else f"worker `{w}` is listed twice for `{stage.name}`",
                    hint="a worker holds one stage; give each stage its own workers",
                )
            owner[w] = stage.name
        if stage.replicas is not None and stage.replicas != len(group):
            raise error(stage.span, f"stage `{stage.name}` asks for {stage.replicas} replicas "
                        f"but is placed on {len(group)} workers")


def run(program: Program) -> Program:
    if program.auto_place:
        program = _place_auto(program)
    check_placement(program)
    groups = dict(program.placement)
    ordered = tuple((st.name, tuple(groups[st.name])) for st in program.stages)
    return replace(program, placement=ordered, auto_place=())


PASS = Pass(
    name="placed",
    run=run,
    requires="stages and workers lowered; explicit placement for stages not `on auto`",
    ensures="every stage has a replica group of distinct known workers; one stage per worker",
)
