"""Pass `traced`: fill every segment's profile from the captured model (or a synthetic one).

Requires: segments with module selectors (stages of an automatic partition may have none).
Ensures: every segment with selectors has param_names, params, param_bytes, flops,
boundary_bytes, activation_bytes, boundary_in/out and skippable; every automatic partition has
one profiled block per module of its range; `Program.shared_groups` names the parameters read by
several segments; `model.file` and `model.import_root` say where the factory lives.
With `cost { seconds_per_sample_per_layer = ... }` or `cost { profile = "file.json" }` the model
is never built (pgc.capture.synthetic).
"""

from __future__ import annotations

from pgc.ir.passes import Pass
from pgc.ir.types import Program


def builds_model(program: Program) -> bool:
    """Whether this pass imports and calls the spec's model factory (no timing from the cost
    block: neither a profile file nor seconds per sample per layer)."""
    return not (program.cost.profile or program.cost.sec_per_sample_per_layer is not None)


def run(program: Program) -> Program:
    from pgc.capture import synthetic
    from pgc.capture.legality import check_policies

    if not builds_model(program):
        filled = synthetic.fill(program)
    else:
        from pgc.capture.trace_profile import fill_from_model

        filled = fill_from_model(program)
    check_policies(filled)
    return filled


PASS = Pass(
    name="traced",
    run=run,
    requires="segments with module selectors (auto-partitioned stages may have none)",
    ensures="segment profiles, block profiles of auto partitions, shared groups, model file",
)
