"""Emit the standalone training script: the runtime template with the plan and stage code filled in.

`emit(program, out_dir)` writes `train.py` and `plan.json`. The template
(`pgc/codegen/template.py`) is a real Python module (linted and type-checked with pgc); the
emitter replaces its two marked regions: the embedded runtime plan and the stage classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pgc.diagnostics import error
from pgc.ir.topology import link_table
from pgc.ir.types import Action, Program

TEMPLATE = Path(__file__).with_name("template.py")
RUNTIME_VERSION = 1


class SegmentCodeLike(Protocol):
    """What the runtime needs of a segment's code (capture's `SegmentCode` provides it)."""

    class_name: str
    source: str


@dataclass(frozen=True)
class StageCode:
    """A segment's module source and its output boundary signatures.

    `outputs` lists (shape, dtype) per boundary tensor, shapes symbolic in "B" and "T";
    empty for the loss segment."""

    class_name: str
    source: str
    outputs: tuple[tuple[tuple[int | str, ...], str], ...]


def action_text(a: Action) -> str:
    """The action text form of DESIGN.md §5 (kept in step with pgc.ir.actions)."""
    if a.kind in ("F", "B"):
        return f"{a.kind} {a.segment} m{a.mb}"
    if a.kind.startswith("SEND"):
        return f"{a.kind} m{a.mb} ->{a.peer}"
    if a.kind.startswith("RECV"):
        return f"{a.kind} m{a.mb} <-{a.peer}"
    if a.kind == "ALLREDUCE":
        return f"ALLREDUCE {a.segment}"
    return "STEP"


def buckets(program: Program) -> list[dict[str, Any]]:
    """Gradient buckets: parameters grouped by the exact set of workers holding them.

    A parameter held only by one stage's replicas is reduced in that stage's bucket (named like
    the stage); a parameter held by several stages (tied embedding and head) forms a shared
    bucket over the union of their workers, named `shared:<name>`. Every parameter is thus
    all-reduced exactly once over exactly its holders (DESIGN.md §4). A bucket lists alias
    groups: the names one tensor has in the segments that use it (each worker holds one)."""
    alias = _aliases(program)
    holders: dict[str, set[str]] = {}
    owner_stages: dict[str, set[str]] = {}
    for seg in program.segments:
        for name in seg.param_names:
            key = alias.get(name, name)
            holders.setdefault(key, set()).update(program.replicas(seg.stage))
            owner_stages.setdefault(key, set()).add(seg.stage)
    members: dict[str, list[str]] = {}
    for name, key in sorted(alias.items()):
        members.setdefault(key, []).append(name)
    order = {w.name: i for i, w in enumerate(program.workers)}
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, ws in holders.items():
        groups.setdefault(tuple(sorted(ws, key=order.__getitem__)), []).append(key)
    out = []
    for held_by, keys in groups.items():
        stages = {s for k in keys for s in owner_stages[k]}
        label = next(iter(stages)) if len(stages) == 1 else "shared:" + sorted(keys)[0]
        params = [sorted(set(members.get(k, [k]))) for k in sorted(keys)]
        out.append({"name": label, "workers": list(held_by), "params": params})
    return sorted(out, key=lambda b: str(b["name"]))


def _aliases(program: Program) -> dict[str, str]:
    """name -> canonical name for parameters shared between segments (shared groups list the
    canonical name and, where a segment knows the tensor by another name, `canonical=alias`)."""
    out: dict[str, str] = {}
    for name, _segments in program.shared_groups:
        canonical, *others = name.split("=")
        out[canonical] = canonical
        for other in others:
            out[other] = canonical
    return out


def compute_times(program: Program) -> dict[str, list[float]]:
    """Predicted (forward, backward) seconds per `segment@worker` for --emulate-compute."""
    out: dict[str, list[float]] = {}
    for seg in program.segments:
        for w in program.replicas(seg.stage):
            rate = program.worker(w).rate * program.cost.efficiency
            fwd = seg.fwd_time if seg.fwd_time is not None else (seg.flops or 0.0) / rate
            out[f"{seg.name}@{w}"] = [fwd, fwd * program.cost.backward_ratio]
    return out


def runtime_plan(
    program: Program, code: dict[str, StageCode], import_root: str | None
) -> dict[str, Any]:
    """The plan as the generated script reads it (embedded in train.py)."""
    try:
        from pgc.ir.plan_schema import SCHEMA_VERSION
    except ImportError:
        SCHEMA_VERSION = 0

    origins: list[str] = []
    for p in program.paths:
        if p.origin not in origins:
            origins.append(p.origin)
    first = program.segments[0].name
    loss = program.segments[-1].name
    args = dict(program.model.args)
    return {
        "runtime_version": RUNTIME_VERSION,
        "schema_version": SCHEMA_VERSION,
        "spec_hash": program.spec_hash,
        "name": program.name,
        "launch": launch_command(program, "train.py"),
        "model": {"target": program.model.target, "args": args, "import_root": import_root},
        "vocab": args.get("vocab", args.get("vocab_size", 256)),
        "layout": program.layout,
        "workers": [{"name": w.name, "host": w.host} for w in program.workers],
        "segments": [
            {
                "name": s.name,
                "stage": s.stage,
                "first": s.name == first,
                "loss": s.name == loss,
                "skippable": bool(s.skippable),
                "outputs": [[list(shape), dtype] for shape, dtype in code[s.name].outputs],
            }
            for s in program.segments
        ],
        "stages": [
            {
                "name": st.name,
                "segments": list(st.segments),
                "replicas": list(program.replicas(st.name)),
                "never_skip": st.never_skip,
            }
            for st in program.stages
        ],
        "buckets": buckets(program),
        "microbatch_size": program.microbatch_size,
        "seq_len": program.seq_len,
        "microbatches": program.microbatches,
        "origins": origins,
        "paths": [
            {"mb": p.mb, "origin": p.origin, "hops": [[h.segment, h.worker] for h in p.hops]}
            for p in program.paths
        ],
        "actions": {w: [action_text(a) for a in acts] for w, acts in program.actions},
        "train": _train(program),
        "eval": {"every": program.eval.every, "batches": program.eval.batches},
        "links": {f"{a}->{b}": list(v) for (a, b), v in link_table(program).items()},
        "message_overhead": program.cost.message_overhead,
        "compute_times": compute_times(program),
        "prediction": _prediction(program),
    }


def _train(program: Program) -> dict[str, Any]:
    t = program.train
    return {
        "steps": t.steps,
        "optimizer": t.optimizer,
        "optimizer_args": [list(kv) for kv in t.optimizer_args],
        "lr_schedule": t.lr_schedule,
        "lr_schedule_args": [list(kv) for kv in t.lr_schedule_args],
        "clip": t.clip,
        "data": t.data,
        "data_args": dict(t.data_args),
        "seed": t.seed,
        "checkpoint_every": t.checkpoint_every,
        "checkpoint_dir": t.checkpoint_dir,
        "checkpoint_keep": t.checkpoint_keep,
    }


def _prediction(program: Program) -> dict[str, float] | None:
    p = program.prediction
    if p is None:
        return None
    return {
        "pipeline_time": p.pipeline_time,
        "iteration_time": p.iteration_time,
        "lower_bound": p.lower_bound,
    }


def render(plan: dict[str, Any], code: dict[str, StageCode]) -> str:
    """The template with the plan and the stage classes filled in."""
    text = TEMPLATE.read_text(encoding="utf-8")
    plan_src = "PLAN: dict[str, Any] = json.loads(\n    r'''\n" + json.dumps(
        plan, indent=1, sort_keys=True
    ) + "\n'''\n)\n"
    stages = "\n\n".join(c.source.strip() + "\n" for c in code.values())
    table = "".join(f"    {name!r}: {c.class_name},\n" for name, c in code.items())
    stage_src = (
        f"{stages}\n\nSEGMENT_CLASSES: dict[str, Callable[[torch.nn.Module], torch.nn.Module]]"
        f" = {{\n{table}}}\n"
    )
    text = _replace_region(text, "plan", plan_src)
    return _replace_region(text, "stages", stage_src)


def _replace_region(text: str, name: str, body: str) -> str:
    begin, end = f"# pgc:begin-{name}\n", f"# pgc:end-{name}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + body + end + tail


def launch_command(program: Program, script: str) -> str:
    """The torchrun command line(s) that run the plan: one host, or one per host label."""
    hosts: dict[str, int] = {}
    for w in program.workers:
        hosts[w.host] = hosts.get(w.host, 0) + 1
    if len(hosts) == 1:
        return f"torchrun --nproc-per-node {len(program.workers)} {script}"
    lines = [
        f"PGC_HOST={h or '<any>'} torchrun --nnodes {len(hosts)} --nproc-per-node {n} "
        f"--rdzv-backend c10d --rdzv-endpoint HOST0:29500 {script}"
        for h, n in hosts.items()
    ]
    return "\n".join(lines)


def find_import_root(program: Program) -> str | None:
    """The directory from which the model's module imports: the spec's directory or one of its
    parents, else the current directory; None when it is importable without help (installed)."""
    import importlib.util

    module = program.model.target.partition(":")[0]
    rel = Path(*module.split("."))
    start = Path(program.file).resolve().parent
    for d in [start, *start.parents, Path.cwd()]:
        if (d / rel).with_suffix(".py").exists() or (d / rel / "__init__.py").exists():
            return str(d)
    if importlib.util.find_spec(module.split(".")[0]) is not None:
        return None
    raise error(
        program.model.span,
        f"cannot find the model module `{module}`",
        hint="put the spec next to the module's package, or install it",
    )


def emit(program: Program, out_dir: Path, code: dict[str, StageCode] | None = None) -> list[Path]:
    """Write `train.py` and `plan.json` into `out_dir`; returns the written paths."""
    from pgc.ir.plan_schema import plan_to_dict

    if code is None:
        code = stage_code(program)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = runtime_plan(program, code, find_import_root(program))
    script = out_dir / "train.py"
    script.write_text(render(plan, code), encoding="utf-8")
    plan_file = out_dir / "plan.json"
    plan_file.write_text(json.dumps(plan_to_dict(program), indent=1, sort_keys=True) + "\n")
    return [script, plan_file]


def stage_code(program: Program) -> dict[str, StageCode]:
    """Capture's stage code for every segment, in the form the template embeds."""
    from pgc.capture import stage_code as capture_stage_code  # type: ignore[attr-defined]

    out = {}
    for name, sc in capture_stage_code(program).items():
        outputs = tuple((tuple(shape), str(dtype)) for shape, dtype in sc.outputs)
        out[name] = StageCode(sc.class_name, sc.source, outputs)
    return out
