"""The action text form round-trips and rejects malformed lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgc.ir.types import Action
from pgc.runtime.actions import ActionSyntaxError, format_action, parse_action, parse_actions

EXAMPLES = [
    ("F s2 m5", Action("F", segment="s2", mb=5)),
    ("B origin.epi m0", Action("B", segment="origin.epi", mb=0)),
    ("SEND_F m5 ->n7", Action("SEND_F", mb=5, peer="n7")),
    ("RECV_F m12 <-n3", Action("RECV_F", mb=12, peer="n3")),
    ("SEND_B m5 ->w-3", Action("SEND_B", mb=5, peer="w-3")),
    ("RECV_B m5 <-n7", Action("RECV_B", mb=5, peer="n7")),
    ("ALLREDUCE s2", Action("ALLREDUCE", segment="s2")),
    ("ALLREDUCE embed.weight", Action("ALLREDUCE", segment="embed.weight")),
    ("STEP", Action("STEP")),
]


@pytest.mark.parametrize("text,action", EXAMPLES)
def test_examples_round_trip(text: str, action: Action) -> None:
    assert parse_action(text) == action
    assert format_action(action) == text


@pytest.mark.parametrize(
    "bad",
    ["", "F s2", "F s2 m", "F s2 m05", "F s2 5", "SEND_F m5 n7", "SEND_F m5 <-n7", "RECV_B m5 ->n7",
     "ALLREDUCE", "STEP now", " F s2 m5", "F  s2 m5", "X s2 m5", "F 2s m5", "F s2 m-1"],
)
def test_malformed_lines_are_rejected(bad: str) -> None:
    with pytest.raises(ActionSyntaxError, match="not an action"):
        parse_action(bad)


_FIRST = "abcnsw_XY"
names = st.builds(str.__add__, st.sampled_from(_FIRST), st.text(_FIRST + "0189.-", max_size=6))
mbs = st.integers(min_value=0, max_value=10**6)
actions = st.one_of(
    st.builds(lambda k, s, m: Action(k, segment=s, mb=m), st.sampled_from(["F", "B"]), names, mbs),
    st.builds(lambda k, m, p: Action(k, mb=m, peer=p),
              st.sampled_from(["SEND_F", "SEND_B", "RECV_F", "RECV_B"]), mbs, names),
    st.builds(lambda s: Action("ALLREDUCE", segment=s), names),
    st.just(Action("STEP")),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(actions, max_size=20))
def test_any_action_list_round_trips(acts: list[Action]) -> None:
    lines = [format_action(a) for a in acts]
    assert parse_actions(lines) == tuple(acts)
    assert [format_action(a) for a in parse_actions(lines)] == lines
