"""plan.json: written from a program, survives JSON, validates, and rejects broken plans."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pgc.ir.plan_schema import actions_from_dict, plan_to_dict
from pgc.runtime.schema import SCHEMA_VERSION, PlanSchemaError, schema_markdown, validate_plan
from tests.plan.builders import chain, planned, ring

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    return plan_to_dict(planned(ring(3, 2, 2)))


def test_plan_round_trips_through_json(plan: dict[str, Any]) -> None:
    loaded = json.loads(json.dumps(plan))
    validate_plan(loaded)
    assert loaded == plan
    assert loaded["version"] == SCHEMA_VERSION
    assert loaded["world_size"] == 5
    assert loaded["data"]["origins"] == ["n0", "n1"]
    assert [p["origin_index"] for p in loaded["paths"]] == [0, 1, 0, 1]
    assert loaded["stages"][0]["workers"] == ["n0", "n1"]
    assert loaded["prediction"]["iteration_time"] > 0


def test_actions_parse_back_to_the_program(plan: dict[str, Any]) -> None:
    program = planned(ring(3, 2, 2))
    assert actions_from_dict(plan) == dict(program.actions)
    assert plan["actions"]["n0"][0] == "F origin.pro m0"
    assert plan["actions"]["n0"][-2:] == ["ALLREDUCE origin", "STEP"]


def test_a_plan_before_simulation_has_no_prediction() -> None:
    d = plan_to_dict(planned(chain(2, 2), until="verified"))
    validate_plan(d)
    assert d["prediction"] is None


def _broken(plan: dict[str, Any], edit: Any) -> dict[str, Any]:
    bad = copy.deepcopy(plan)
    edit(bad)
    return bad


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d.update(version=0), "version: this pgc reads schema version 2, got 0"),
        (lambda d: d.pop("seeds"), "top level: missing seeds"),
        (lambda d: d.update(extra=1), "unknown extra"),
        (lambda d: d["workers"][1].update(host=3), "workers[1].host: expected a string"),
        (lambda d: d["workers"][1].update(rank=7), "workers[1].rank: expected 1"),
        (lambda d: d.update(world_size=4), "world_size is 4 but the worker table has 5"),
        (lambda d: d.update(layout="star"), "layout: expected one of ring, chain"),
        (lambda d: d["actions"]["n0"].append("JUMP"), "actions.n0[18]: not an action"),
        (lambda d: d["actions"]["n0"].append("SEND_F m1 ->n9"), "unknown name 'n9'"),
        (lambda d: d["actions"]["n1"].insert(0, "F s9 m0"), "actions.n1[0]: unknown name 's9'"),
        (lambda d: d["actions"]["n1"].insert(2, "ALLREDUCE x.w"), "actions.n1[2]: unknown name"),
        (lambda d: d["paths"][0]["hops"][1].__setitem__(0, "s7"), "paths[0].hops[1]: unknown"),
        (lambda d: d["prediction"].update(gap="big"), "prediction.gap: expected a number"),
    ],
)
def test_broken_plans_name_the_field(plan: dict[str, Any], edit: Any, message: str) -> None:
    with pytest.raises(PlanSchemaError) as info:
        validate_plan(_broken(plan, edit))
    assert message in str(info.value)


def test_documentation_is_generated_from_the_schema() -> None:
    doc = (ROOT / "docs" / "plan_schema.md").read_text()
    assert doc == schema_markdown(), "regenerate: python -m pgc.runtime.schema > docs/plan_schema.md"
