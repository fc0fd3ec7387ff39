"""The verifier accepts what the order pass builds and rejects hand-made broken plans, naming
the worker and the action."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pgc.diagnostics import UserError
from pgc.ir.types import Program, Span
from pgc.passes.verify import PlanError, verify_plan
from pgc.runtime.actions import format_action, parse_action
from tests.plan.builders import chain, planned, ring, worker_path

SPEC = Span("spec.pgc", 12, 3, 12, 30)


def _with(program: Program, **lists: str) -> Program:
    """Replace workers' action lists, written one action per ` | `-separated item."""
    acts = dict(program.actions)
    for w, text in lists.items():
        acts[w] = tuple(parse_action(t.strip()) for t in text.split("|"))
    return replace(program, actions=tuple(acts.items()))


def _fails(program: Program, worker: str, index: int, message: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        verify_plan(program)
    err = info.value
    assert (err.worker, err.index) == (worker, index), err.render()
    assert message in err.render()
    return err


def two_stages() -> Program:
    return planned(chain(2, 2, schedule="gpipe"), until="ordered")


def test_order_pass_output_verifies() -> None:
    for program in (chain(4, 8), chain(3, 5, schedule="gpipe"), chain(3, 8, replicas=2),
                    ring(3, 2, 3), ring(4, 1, 5, schedule="gpipe", inflight=5)):
        verify_plan(planned(program, until="ordered"))


def test_everyone_sends_first_is_a_deadlock() -> None:
    # the classic 1F1B mistake under rendezvous: n0 sends m1 while n1 sends m0's gradient
    program = _with(
        two_stages(),
        n0="F s0 m0 | SEND_F m0 ->n1 | F s0 m1 | SEND_F m1 ->n1 | RECV_B m0 <-n1 | B s0 m0 "
        "| RECV_B m1 <-n1 | B s0 m1 | STEP",
        n1="RECV_F m0 <-n0 | F s1 m0 | B s1 m0 | SEND_B m0 ->n0 | RECV_F m1 <-n0 | F s1 m1 "
        "| B s1 m1 | SEND_B m1 ->n0 | STEP",
    )
    err = _fails(program, "n0", 3, "deadlock")
    assert "`n1` waits at `SEND_B m0 ->n0` (action 3)" in err.render()
    assert err.action is not None and format_action(err.action) == "SEND_F m1 ->n1"


def test_receiving_in_another_order_than_sent_is_rejected() -> None:
    program = _with(
        two_stages(),
        n1="RECV_F m1 <-n0 | RECV_F m0 <-n0 | F s1 m0 | F s1 m1 | B s1 m0 | SEND_B m0 ->n0 "
        "| B s1 m1 | SEND_B m1 ->n0 | STEP",
    )
    _fails(program, "n0", 1, "meets `RECV_F m1 <-n0` at `n1` (action 0)")


def test_compute_before_its_input_is_rejected() -> None:
    program = _with(
        two_stages(),
        n1="F s1 m0 | RECV_F m0 <-n0 | RECV_F m1 <-n0 | F s1 m1 | B s1 m0 | SEND_B m0 ->n0 "
        "| B s1 m1 | SEND_B m1 ->n0 | STEP",
    )
    _fails(program, "n1", 0, "runs before it has its input (activation of `s0` on `n0`)")


def test_backward_must_retrace_the_forward_worker() -> None:
    program = _with(two_stages(), n1="RECV_F m0 <-n0 | RECV_F m1 <-n0 | F s1 m0 | F s1 m1 "
                    "| B s0 m0 | STEP")
    _fails(program, "n1", 4, "m0's path runs `s0` on `n0`")


def test_sending_what_was_not_computed_is_rejected() -> None:
    program = _with(two_stages(), n0="SEND_F m0 ->n1 | F s0 m0")
    _fails(program, "n0", 0, "sends nothing it computed for `n1`")


def test_inflight_cap_is_enforced() -> None:
    program = replace(two_stages(), inflight=1)  # gpipe lists hold both microbatches
    _fails(program, "n0", 2, "would hold 2 microbatches; inflight = 1")


def test_collectives_in_different_orders_deadlock() -> None:
    base = chain(2, 4, replicas=2, schedule="gpipe")
    base = replace(base, shared_groups=(("embed.weight", ("s0", "s1")),))
    program = planned(base, until="ordered")
    acts = dict(program.actions)
    n0 = list(acts["n0"])
    assert [format_action(a) for a in n0[-3:]] == [
        "ALLREDUCE s0", "ALLREDUCE embed.weight", "STEP"]
    n0[-3], n0[-2] = n0[-2], n0[-3]
    program = replace(program, actions=tuple({**acts, "n0": tuple(n0)}.items()))
    _fails(program, "n0", len(n0) - 3, "deadlock")


def test_step_before_allreduce_is_rejected() -> None:
    program = planned(chain(2, 4, replicas=2, schedule="gpipe"), until="ordered")
    acts = dict(program.actions)
    n2 = acts["n2"][:-2] + acts["n2"][-1:]  # drop ALLREDUCE s1
    program = replace(program, actions=tuple({**acts, "n2": n2}.items()))
    _fails(program, "n2", len(n2) - 1, "steps before all-reducing `s1`")


def _ring_paths(*paths: tuple[str, ...], body: int = 3, skip: tuple[int, int] = (1, 4),
                swaps: int = 0) -> Program:
    explicit = tuple(replace(worker_path(m, *p), span=SPEC) for m, p in enumerate(paths))
    return ring(body, 1, len(paths), schedule="explicit", skip=skip, max_swaps=swaps,
                paths=explicit)


def test_explicit_skip_paths_plan_and_verify() -> None:
    # 4 stages, skip 1/4: each path visits the origin and two of s1..s3
    program = planned(_ring_paths(("n0", "n1", "n2", "n0"), ("n0", "n2", "n3", "n0"),
                                  ("n0", "n1", "n3", "n0")))
    assert program.prediction is not None and program.prediction.iteration_time > 0
    hops = [[h.segment for h in p.hops] for p in program.paths]
    assert hops[1] == ["origin.pro", "s2", "s3", "origin.epi"]


@pytest.mark.parametrize(
    "path,swaps,message",
    [
        (("n0", "n1", "n2", "n3", "n0"), 0, "visits 4 stages; the skip policy needs 3"),
        (("n0", "n2", "n1", "n0"), 0, "makes 1 swap; the swap policy allows 0"),
        (("n0", "n3", "n1", "n0"), 1, "visits `s3` out of order"),
        (("n0", "n1", "n1", "n0"), 0, "visits `n1` too often"),
        (("n1", "n2", "n3", "n0"), 0, "must start with `origin.pro` on its origin"),
        (("n0", "n1", "n2"), 0, "must end with the loss segment `origin.epi`"),
    ],
)
def test_policy_violations_point_at_the_path(path: tuple[str, ...], swaps: int,
                                             message: str) -> None:
    with pytest.raises(UserError) as info:
        planned(_ring_paths(path, swaps=swaps), until="routed")
    text = info.value.render()
    assert text.startswith("spec.pgc:12:3: error: path of m0"), text
    assert message in text


def test_an_allowed_swap_plans() -> None:
    program = planned(_ring_paths(("n0", "n2", "n1", "n0"), swaps=1))
    assert [h.worker for h in program.paths[0].hops] == ["n0", "n2", "n1", "n0"]


def test_a_skipped_stage_must_be_skippable() -> None:
    program = _ring_paths(("n0", "n1", "n2", "n0"))
    segs = tuple(replace(s, skippable=False) if s.name == "s3" else s for s in program.segments)
    with pytest.raises(UserError, match="skips `s3`, whose input and output shapes differ"):
        planned(replace(program, segments=segs), until="routed")


def test_verified_plan_errors_carry_the_path_span() -> None:
    program = planned(_ring_paths(("n0", "n1", "n2", "n0")), until="ordered")
    acts = dict(program.actions)
    acts["n1"] = acts["n1"][1:]  # drop n1's first RECV
    program = replace(program, actions=tuple(acts.items()))
    with pytest.raises(PlanError) as info:
        verify_plan(program)
    assert str(info.value.diagnostics[0].span) == "spec.pgc:12:3"
    assert info.value.worker == "n1"


def test_paths_must_cover_every_microbatch() -> None:
    program = planned(chain(2, 3), until="ordered")
    program = replace(program, paths=program.paths[:2])
    with pytest.raises(PlanError, match="paths cover microbatches"):
        verify_plan(program)


def test_explicit_schedule_needs_every_path() -> None:
    program = ring(2, 1, 2, schedule="explicit", skip=(0, 1),
                   paths=(worker_path(0, "n0", "n1", "n2", "n0"),))
    with pytest.raises(UserError, match="no path for m1"):
        planned(program, until="routed")
