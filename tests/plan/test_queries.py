"""The questions several parts ask of a Program (`pgc.ir.queries`) get one answer everywhere:
the order of the origins (plan.json's data-order table and the pictures' colours), the
workers holding a shared parameter (its all-reduce group and plan.json), and the stage each
worker holds (the simulator's memory, the order pass, the pictures)."""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.plan_schema import plan_to_dict
from pgc.ir.queries import collective_groups, holders, origins, stage_of_worker
from pgc.ir.types import Program
from pgc.sim import simulate
from pgc.viz.layout import origin_colours
from pgc.viz.predicted import timeline_of
from tests.plan.builders import planned, ring


def _reordered() -> Program:
    """A ring whose origin group is written against worker order (n2, n0, n1), with a weight
    shared between the prologue and the second body stage, planned through `simulated`."""
    base = ring(2, 3, 2)
    placement = (("origin", ("n2", "n0", "n1")),) + base.placement[1:]
    segs = tuple(replace(s, param_names=("tok.weight",)) if s.name in ("origin.pro", "s2")
                 else s for s in base.segments)
    return planned(replace(base, placement=placement, segments=segs,
                           shared_groups=(("tok.weight", ("origin.pro", "s2")),)))


def test_origins_are_numbered_by_first_microbatch_everywhere() -> None:
    program = _reordered()
    first = {}
    for p in sorted(program.paths, key=lambda p: p.mb):
        first.setdefault(p.origin, p.mb)
    want = tuple(sorted(first, key=first.__getitem__))
    assert origins(program) == want
    assert want != tuple(w.name for w in program.workers if w.name in first)  # not worker order
    plan = plan_to_dict(program)
    assert plan["data"]["origins"] == list(want)
    assert all(want[p["origin_index"]] == p["origin"] for p in plan["paths"])
    assert tuple(origin_colours(program)) == want
    assert timeline_of(program, simulate(program), None).origins == want


def test_a_shared_parameter_is_held_by_its_segments_workers_in_worker_order() -> None:
    program = _reordered()
    held = holders(program, ("origin.pro", "s2"))
    assert held == ("n0", "n1", "n2", "n4")  # the origin group and s2's worker, worker order
    assert dict(collective_groups(program))["tok.weight"] == held
    plan = plan_to_dict(program)
    assert [g["workers"] for g in plan["shared_groups"]] == [list(held)]


def test_each_worker_holds_the_stage_its_group_names() -> None:
    program = _reordered()
    held = stage_of_worker(program)
    assert held == {"n2": "origin", "n0": "origin", "n1": "origin", "n3": "s1", "n4": "s2"}
    plan = plan_to_dict(program)
    assert {w: st["name"] for st in plan["stages"] for w in st["workers"]} == held
