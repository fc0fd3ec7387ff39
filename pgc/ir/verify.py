"""Structural invariants of a Program, checked after every pass in debug mode.

`verify_program` raises AssertionError naming the broken invariant; it never judges the
user's input (that is the frontend's job, with diagnostics). Cost: O(size of the program).
"""

from __future__ import annotations

import math

from pgc.ir.types import Path, Program


def verify_program(program: Program) -> None:
    _names(program)
    _segments(program)
    _placement(program)
    _policies(program)
    for label, paths in (("explicit path", program.explicit_paths), ("path", program.paths)):
        _paths(program, paths, label)
    _actions(program)
    _prediction(program)


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        assert n not in seen, f"{kind} `{n}` appears twice"
        seen.add(n)


def _names(p: Program) -> None:
    _unique("segment", [s.name for s in p.segments])
    _unique("stage", [s.name for s in p.stages])
    _unique("worker", [w.name for w in p.workers])
    assert p.stages, "a program has at least one stage"
    assert p.workers, "a program has at least one worker"
    for w in p.workers:
        assert w.rate > 0 and w.memory > 0, f"worker `{w.name}` has a non-positive rate or memory"
    workers = {w.name for w in p.workers}
    for link in p.links:
        assert link.latency >= 0 and link.bandwidth > 0, f"link {link.src}-{link.dst} has bad figures"
        if link.scope == "pair":
            assert {link.src, link.dst} <= workers, f"link {link.src}-{link.dst} names an unknown worker"


def _segments(p: Program) -> None:
    seg_names = [s.name for s in p.segments]
    owner: dict[str, str] = {}
    for st in p.stages:
        assert st.segments, f"stage `{st.name}` has no segment"
        for seg in st.segments:
            assert seg in seg_names, f"stage `{st.name}` lists unknown segment `{seg}`"
            assert seg not in owner, f"segment `{seg}` belongs to `{owner.get(seg)}` and `{st.name}`"
            owner[seg] = st.name
    for segment in p.segments:
        claimed = owner.get(segment.name)
        assert claimed == segment.stage, f"segment `{segment.name}` says stage `{segment.stage}`, but `{claimed}` owns it"
    roles = [s.role for s in p.segments]
    if p.layout == "ring":
        assert roles[0] == "prologue" and roles[-1] == "epilogue", f"ring segments must run prologue first and epilogue last, got {roles}"
        assert p.segments[0].stage == p.segments[-1].stage == p.stages[0].name, "the ring origin owns the prologue and epilogue"
        assert set(roles[1:-1]) <= {"body"}, f"ring body segments must have role body, got {roles}"
    elif len(roles) == 1:
        assert roles == ["whole"], f"a one-stage chain's segment has role whole, got {roles}"
    else:
        assert roles[0] == "first" and roles[-1] == "last" and set(roles[1:-1]) <= {"body"}, f"chain roles wrong: {roles}"
    stages = {s.name for s in p.stages}
    for part in p.partitions:
        assert set(part.stages) <= stages, f"partition names unknown stages {part.stages}"


def _placement(p: Program) -> None:
    stages = {s.name: s for s in p.stages}
    workers = {w.name for w in p.workers}
    holder: dict[str, str] = {}
    for stage, group in p.placement:
        assert stage in stages, f"placement names unknown stage `{stage}`"
        assert group, f"stage `{stage}` is placed on no worker"
        want = stages[stage].replicas
        assert want is None or want == len(group), f"stage `{stage}` wants {want} replicas, placed on {len(group)}"
        for w in group:
            assert w in workers, f"stage `{stage}` is placed on unknown worker `{w}`"
            assert w not in holder, f"worker `{w}` holds both `{holder.get(w)}` and `{stage}`"
            holder[w] = stage
    _unique("placed stage", [s for s, _ in p.placement])
    for stage in p.auto_place:
        assert stage in stages, f"auto placement names unknown stage `{stage}`"


def _policies(p: Program) -> None:
    num, den = p.skip.ratio
    assert den > 0 and 0 <= num < den, f"skip ratio {num}/{den} out of [0, 1)"
    assert (num * len(p.stages)) % den == 0, "skip ratio does not give a whole number of stages"
    names = {s.name for s in p.stages}
    assert set(p.skip.never) <= names, f"never-skip names unknown stages {p.skip.never}"
    assert p.swap.max_swaps >= 0
    assert p.microbatches >= 1 and p.microbatch_size >= 1 and p.seq_len >= 1 and p.inflight >= 1


def _paths(p: Program, paths: tuple[Path, ...], label: str) -> None:
    if not paths:
        return
    placed = dict(p.placement)
    stage_of = {s.name: s.stage for s in p.segments}
    mbs = [path.mb for path in paths]
    assert len(set(mbs)) == len(mbs), f"two {label}s for one microbatch"
    if label == "path":
        assert sorted(mbs) == list(range(p.microbatches)), f"paths must cover microbatches 0..{p.microbatches - 1}"
    first, last = p.segments[0].name, p.segments[-1].name
    for path in paths:
        assert 0 <= path.mb < p.microbatches, f"{label} for microbatch {path.mb} out of range"
        assert path.hops, f"{label} mb{path.mb} is empty"
        assert path.hops[0].segment == first and path.hops[-1].segment == last, f"{label} mb{path.mb} must run from `{first}` to `{last}`"
        assert path.hops[0].worker == path.origin, f"{label} mb{path.mb} must start at its origin"
        if p.layout == "ring":
            assert path.hops[-1].worker == path.origin, f"{label} mb{path.mb} must end at its origin"
        segs = [h.segment for h in path.hops]
        assert len(set(segs)) == len(segs), f"{label} mb{path.mb} visits a segment twice"
        for hop in path.hops:
            assert hop.segment in stage_of, f"{label} mb{path.mb} visits unknown segment `{hop.segment}`"
            group = placed.get(stage_of[hop.segment])
            assert group is None or hop.worker in group, f"{label} mb{path.mb}: `{hop.worker}` does not hold `{hop.segment}`"


def _actions(p: Program) -> None:
    workers = {w.name for w in p.workers}
    segments = {s.name for s in p.segments} | {s.name for s in p.stages} | {g for g, _ in p.shared_groups}
    for worker, actions in p.actions:
        assert worker in workers, f"actions for unknown worker `{worker}`"
        for a in actions:
            if a.kind in ("F", "B", "ALLREDUCE"):
                assert a.segment in segments, f"`{worker}`: action {a} names unknown segment"
            if a.kind in ("F", "B", "SEND_F", "RECV_F", "SEND_B", "RECV_B"):
                assert 0 <= a.mb < p.microbatches, f"`{worker}`: action {a} names microbatch out of range"
            if a.kind.startswith(("SEND", "RECV")):
                assert a.peer in workers and a.peer != worker, f"`{worker}`: action {a} has a bad peer"


def _prediction(p: Program) -> None:
    pred = p.prediction
    if pred is None:
        return
    for name in ("pipeline_time", "iteration_time", "lower_bound", "pipeline_lower_bound"):
        x = getattr(pred, name)
        assert math.isfinite(x) and x >= 0, f"prediction {name} = {x}"
    slack = 1e-9 * max(1.0, pred.iteration_time)
    assert pred.lower_bound <= pred.iteration_time + slack, "the lower bound exceeds the predicted iteration time"
    assert pred.pipeline_lower_bound <= pred.pipeline_time + slack, "the pipeline lower bound exceeds the pipeline time"
