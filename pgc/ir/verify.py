"""Structural invariants of a Program, checked after lowering and after every pass.

`verify_program` raises `VerifyError` naming the broken invariant; the pass driver
(`pgc.pipeline.run_passes`) adds the pass that broke it. It never judges the user's input
(that is the frontend's job, with diagnostics): a VerifyError is a bug in pgc.
Cost: O(size of the program).
"""

from __future__ import annotations

import math
from fractions import Fraction

from pgc.ir.types import Action, Path, Program
from pgc.runtime.rules import skip_ratio_problem, skipped_stage_count


class VerifyError(Exception):
    """An IR invariant does not hold. `pass_name`: the pass after which it was found
    (empty when the verifier was called directly)."""

    def __init__(self, message: str, pass_name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pass_name = pass_name

    def __str__(self) -> str:
        return f"pass `{self.pass_name}` broke an IR invariant: {self.message}" if self.pass_name else self.message


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise VerifyError(message)


def verify_program(program: Program) -> None:
    _names(program)
    _segments(program)
    _placement(program)
    _policies(program)
    # explicit paths are the user's words, judged with located diagnostics by the `routed`
    # pass; the paths it produces must hold every invariant
    _paths(program, program.paths, "path")
    _actions(program)
    _prediction(program)


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        _require(n not in seen, f"{kind} `{n}` appears twice")
        seen.add(n)


def _names(p: Program) -> None:
    _unique("segment", [s.name for s in p.segments])
    _unique("stage", [s.name for s in p.stages])
    _unique("worker", [w.name for w in p.workers])
    _require(bool(p.stages), "a program has at least one stage")
    _require(bool(p.workers), "a program has at least one worker")
    for w in p.workers:
        _require(w.rate > 0 and w.memory > 0, f"worker `{w.name}` has a non-positive rate or memory")
    workers = {w.name for w in p.workers}
    for link in p.links:
        _require(link.latency >= 0 and link.bandwidth > 0, f"link {link.src}-{link.dst} has bad figures")
        if link.scope == "pair":
            _require({link.src, link.dst} <= workers, f"link {link.src}-{link.dst} names an unknown worker")


def _segments(p: Program) -> None:
    seg_names = [s.name for s in p.segments]
    owner: dict[str, str] = {}
    for st in p.stages:
        _require(bool(st.segments), f"stage `{st.name}` has no segment")
        for seg in st.segments:
            _require(seg in seg_names, f"stage `{st.name}` lists unknown segment `{seg}`")
            _require(seg not in owner, f"segment `{seg}` belongs to `{owner.get(seg)}` and `{st.name}`")
            owner[seg] = st.name
    for segment in p.segments:
        claimed = owner.get(segment.name)
        _require(claimed == segment.stage, f"segment `{segment.name}` says stage `{segment.stage}`, but `{claimed}` owns it")
    roles = [s.role for s in p.segments]
    if p.layout == "ring":
        _require(roles[0] == "prologue" and roles[-1] == "epilogue", f"ring segments must run prologue first and epilogue last, got {roles}")
        _require(p.segments[0].stage == p.segments[-1].stage == p.stages[0].name, "the ring origin owns the prologue and epilogue")
        _require(set(roles[1:-1]) <= {"body"}, f"ring body segments must have role body, got {roles}")
    elif len(roles) == 1:
        _require(roles == ["whole"], f"a one-stage chain's segment has role whole, got {roles}")
    else:
        _require(roles[0] == "first" and roles[-1] == "last" and set(roles[1:-1]) <= {"body"}, f"chain roles wrong: {roles}")
    stages = {s.name for s in p.stages}
    for part in p.partitions:
        _require(set(part.stages) <= stages, f"partition names unknown stages {part.stages}")


def _placement(p: Program) -> None:
    stages = {s.name: s for s in p.stages}
    workers = {w.name for w in p.workers}
    holder: dict[str, str] = {}
    for stage, group in p.placement:
        _require(stage in stages, f"placement names unknown stage `{stage}`")
        _require(bool(group), f"stage `{stage}` is placed on no worker")
        want = stages[stage].replicas
        _require(want is None or want == len(group), f"stage `{stage}` wants {want} replicas, placed on {len(group)}")
        for w in group:
            _require(w in workers, f"stage `{stage}` is placed on unknown worker `{w}`")
            _require(w not in holder, f"worker `{w}` holds both `{holder.get(w)}` and `{stage}`")
            holder[w] = stage
    _unique("placed stage", [s for s, _ in p.placement])
    for stage in p.auto_place:
        _require(stage in stages, f"auto placement names unknown stage `{stage}`")


def _policies(p: Program) -> None:
    num, den = p.skip.ratio
    _require(den > 0 and 0 <= num < den, f"skip ratio {num}/{den} out of [0, 1)")
    _require(den <= 0 or skipped_stage_count(Fraction(num, den), len(p.stages)) is not None,
             (skip_ratio_problem(Fraction(num, den), len(p.stages)) or "") if den > 0 else "")
    names = {s.name for s in p.stages}
    _require(set(p.skip.never) <= names, f"never-skip names unknown stages {p.skip.never}")
    _require(p.swap.max_swaps >= 0, f"swap max {p.swap.max_swaps} is negative")
    _require(p.microbatches >= 1 and p.microbatch_size >= 1 and p.seq_len >= 1 and p.inflight >= 1, f"microbatch figures must be positive: {p.microbatches} x {p.microbatch_size} x {p.seq_len}, inflight {p.inflight}")


def _paths(p: Program, paths: tuple[Path, ...], label: str) -> None:
    if not paths:
        return
    placed = dict(p.placement)
    stage_of = {s.name: s.stage for s in p.segments}
    mbs = [path.mb for path in paths]
    _require(len(set(mbs)) == len(mbs), f"two {label}s for one microbatch")
    if label == "path":
        _require(sorted(mbs) == list(range(p.microbatches)), f"paths must cover microbatches 0..{p.microbatches - 1}")
    first, last = p.segments[0].name, p.segments[-1].name
    for path in paths:
        _require(0 <= path.mb < p.microbatches, f"{label} for microbatch {path.mb} out of range")
        _require(bool(path.hops), f"{label} mb{path.mb} is empty")
        _require(path.hops[0].segment == first and path.hops[-1].segment == last, f"{label} mb{path.mb} must run from `{first}` to `{last}`")
        _require(path.hops[0].worker == path.origin, f"{label} mb{path.mb} must start at its origin")
        if p.layout == "ring":
            _require(path.hops[-1].worker == path.origin, f"{label} mb{path.mb} must end at its origin")
        segs = [h.segment for h in path.hops]
        _require(len(set(segs)) == len(segs), f"{label} mb{path.mb} visits a segment twice")
        for hop in path.hops:
            _require(hop.segment in stage_of, f"{label} mb{path.mb} visits unknown segment `{hop.segment}`")
            group = placed.get(stage_of[hop.segment])
            _require(group is None or hop.worker in group, f"{label} mb{path.mb}: `{hop.worker}` does not hold `{hop.segment}`")


def _actions(p: Program) -> None:
    workers = {w.name for w in p.workers}
    segments = {s.name for s in p.segments} | {s.name for s in p.stages} | {g for g, _ in p.shared_groups}
    for worker, actions in p.actions:
        _require(worker in workers, f"actions for unknown worker `{worker}`")
        for a in actions:
            problem = _action_problem(a, worker, workers, segments, p.microbatches)
            if problem:  # the message is formatted only for a broken action: lists are long
                raise VerifyError(f"`{worker}`: action {a} {problem}")


def _action_problem(a: Action, worker: str, workers: set[str], segments: set[str],
                    microbatches: int) -> str:
    """What is wrong with action `a` of `worker`; empty when nothing is."""
    if a.kind in ("F", "B", "ALLREDUCE") and a.segment not in segments:
        return "names unknown segment"
    if a.kind in ("F", "B", "SEND_F", "RECV_F", "SEND_B", "RECV_B") and not 0 <= a.mb < microbatches:
        return "names microbatch out of range"
    if a.kind.startswith(("SEND", "RECV")) and (a.peer not in workers or a.peer == worker):
        return "has a bad peer"
    return ""


def _prediction(p: Program) -> None:
    pred = p.prediction
    if pred is None:
        return
    for name in ("pipeline_time", "iteration_time", "lower_bound", "pipeline_lower_bound"):
        x = getattr(pred, name)
        _require(math.isfinite(x) and x >= 0, f"prediction {name} = {x}")
    slack = 1e-9 * max(1.0, pred.iteration_time)
    _require(pred.lower_bound <= pred.iteration_time + slack, "the lower bound exceeds the predicted iteration time")
    _require(pred.pipeline_lower_bound <= pred.pipeline_time + slack, "the pipeline lower bound exceeds the pipeline time")
