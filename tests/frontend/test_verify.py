"""The IR verifier accepts what the frontend lowers and names each broken invariant."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import ROOT

from pgc.frontend import load_program
from pgc.ir.types import Action, Hop, Path, Prediction, Program, Stage
from pgc.ir.verify import VerifyError, verify_program


@pytest.fixture(scope="module")
def chain() -> Program:
    return load_program(ROOT / "examples" / "chain4.pgc")


@pytest.fixture(scope="module")
def ring() -> Program:
    return load_program(ROOT / "examples" / "skippipe_ring.pgc")


def _path(mb: int) -> Path:
    return Path(mb, "n0", tuple(Hop(f"s{i}", f"n{i}") for i in range(4)))


def test_lowered_examples_verify(chain: Program, ring: Program) -> None:
    verify_program(chain)
    verify_program(ring)
    verify_program(replace(chain, paths=tuple(_path(m) for m in range(chain.microbatches))))


BREAKS = [
    ("worker `n1` appears twice", lambda p: replace(p, workers=p.workers + (p.workers[1],))),
    ("non-positive rate", lambda p: replace(p, workers=(replace(p.workers[0], rate=0.0),) + p.workers[1:])),
    ("lists unknown segment `s9`", lambda p: replace(p, stages=(Stage("s0", ("s9",)),) + p.stages[1:])),
    ("chain roles wrong", lambda p: replace(p, segments=(replace(p.segments[0], role="body"),) + p.segments[1:])),
    ("placed on unknown worker `n9`", lambda p: replace(p, placement=(("s0", ("n9",)),) + p.placement[1:])),
    ("worker `n1` holds both", lambda p: replace(p, placement=(("s0", ("n1",)),) + p.placement[1:])),
    ("wants 1 replicas, placed on 2", lambda p: replace(p, placement=(("s0", ("n0", "n9")),) + p.placement[1:])),
    ("skip ratio 3/2 out of [0, 1)", lambda p: replace(p, skip=replace(p.skip, ratio=(3, 2)))),
    ("skips 1.33333 stages, not a whole number", lambda p: replace(p, skip=replace(p.skip, ratio=(1, 3)))),
    ("paths must cover microbatches", lambda p: replace(p, paths=(_path(0),))),
    ("does not hold `s1`", lambda p: replace(p, paths=tuple(replace(_path(m), hops=(Hop("s0", "n0"), Hop("s1", "n2"), Hop("s2", "n2"), Hop("s3", "n3"))) for m in range(8)))),
    ("must run from `s0` to `s3`", lambda p: replace(p, paths=tuple(replace(_path(m), hops=_path(m).hops[:3]) for m in range(8)))),
    ("actions for unknown worker", lambda p: replace(p, actions=(("n9", (Action("STEP"),)),))),
    ("action F nowhere m0 names unknown segment", lambda p: replace(p, actions=(("n0", (Action("F", "nowhere", 0),)),))),
    ("microbatch out of range", lambda p: replace(p, actions=(("n0", (Action("F", "s0", 99),)),))),
    ("has a bad peer", lambda p: replace(p, actions=(("n0", (Action("SEND_F", mb=0, peer="n0"),)),))),
    ("lower bound exceeds", lambda p: replace(p, prediction=Prediction(1.0, 2.0, 3.0, 0.5))),
    ("at least one worker", lambda p: replace(p, workers=(), placement=(), links=())),
]


@pytest.mark.parametrize(("message", "breaker"), BREAKS, ids=[m for m, _ in BREAKS])
def test_each_broken_invariant_is_named(chain: Program, message: str, breaker: object) -> None:
    broken = breaker(chain)  # type: ignore[operator]
    with pytest.raises(VerifyError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        verify_program(broken)


def test_ring_paths_must_return_to_their_origin(ring: Program) -> None:
    placed = replace(ring, placement=ring.placement + tuple((f"s{i}", (f"n{i + 1}",)) for i in range(1, 6)))
    hops = (Hop("origin.pro", "n0"), Hop("s1", "n2"), Hop("s2", "n3"), Hop("origin.epi", "n1"))
    with pytest.raises(VerifyError, match="must end at its origin"):
        verify_program(replace(placed, paths=tuple(Path(m, "n0", hops) for m in range(ring.microbatches))))
