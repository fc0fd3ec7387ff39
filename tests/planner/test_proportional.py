"""The speed-proportional routing baseline (tests/planner/proportional.py): same origins and stage sequences as the
routed plan, each body stage's visits split in proportion to GPU rate (to within one)."""

from __future__ import annotations

from collections import Counter

import pytest

from pgc.passes.route_skippipe import route
from pgc.planner.judge import judge
from tests.planner.planner_programs import random_program
from tests.planner.proportional import proportional


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_swrr_splits_each_stage_by_rate(seed: int) -> None:
    base = route(random_program(seed), budget_s=0.2, polish_s=0.1)
    prop = proportional(base)
    stage_of = {seg: st.name for st in base.stages for seg in st.segments}
    for before, after in zip(base.paths, prop.paths, strict=True):
        assert after.origin == before.origin
        assert [h.segment for h in after.hops] == [h.segment for h in before.hops]
    rate = {w.name: w.rate for w in base.workers}
    for stage, group in base.placement[1:]:
        got = Counter(h.worker for p in prop.paths for h in p.hops
                      if stage_of.get(h.segment) == stage)
        assert set(got) <= set(group)
        total = sum(got.values())
        for w in group:
            assert abs(got[w] - total * rate[w] / sum(rate[x] for x in group)) <= 1.0
    assert judge(prop).pipeline > 0  # the baseline is a plan the simulator can run
