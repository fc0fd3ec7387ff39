"""Emit the standalone training script: the runtime template with the plan and stage code filled in.

`emit(program, out_dir)` writes `train.py` and `plan.json`. The template
(`pgc/codegen/template.py`) is a real Python module (linted and type-checked with pgc); the
emitter replaces its two marked regions: the embedded runtime plan and the stage classes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgc.diagnostics import error
from pgc.ir.actions import format_action
from pgc.ir.plan_schema import prediction_dict
from pgc.ir.topology import link_table
from pgc.ir.types import ModelRef, Program

TEMPLATE = Path(__file__).with_name("template.py")
RUNTIME_VERSION = 1


@dataclass(frozen=True)
class StageCode:
    """A segment's module source as the template embeds it (from capture's `SegmentCode`).

    `outputs` lists (shape, dtype) per boundary tensor, shapes symbolic in "B" and "T"
    (empty for the loss segment); `shared` maps a local parameter name to its shared group."""

    class_name: str
    source: str
    outputs: tuple[tuple[tuple[int | str, ...], str], ...]
    first: bool
    loss: bool
    imports: tuple[str, ...] = ()
    shared: tuple[tuple[str, str], ...] = ()
    param_names: tuple[str, ...] = ()


def buckets(program: Program, code: dict[str, StageCode]) -> list[dict[str, Any]]:
    """Gradient buckets, named like the ALLREDUCE actions of the order pass (pgc.ir.plan_schema):
    one per stage over its replicas with the parameters no other stage reads, and one per shared
    parameter (tied embedding and head) over every worker holding an owning segment. Every
    parameter is thus summed exactly once over exactly its holders (DESIGN.md §4). A bucket
    lists alias groups: the names one tensor has in different segments (a worker holds one)."""
    aliases: dict[str, set[str]] = {}
    for c in code.values():
        for local, group in c.shared:
            aliases.setdefault(group, {group}).add(local)
    shared_names = {n for names in aliases.values() for n in names}
    order = {w.name: i for i, w in enumerate(program.workers)}
    seg_stage = {s.name: s.stage for s in program.segments}
    out: list[dict[str, Any]] = []
    for stage in program.stages:
        names = {
            n
            for seg in stage.segments
            for n in code[seg].param_names
            if n not in shared_names
        }
        replicas = list(program.replicas(stage.name))
        out.append({"name": stage.name, "workers": replicas, "params": [[n] for n in sorted(names)]})
    for group, segments in program.shared_groups:
        holders = {w for seg in segments for w in program.replicas(seg_stage[seg])}
        out.append(
            {
                "name": group,
                "workers": sorted(holders, key=order.__getitem__),
                "params": [sorted(aliases.get(group, {group}))],
            }
        )
    return out


def predicted_times(program: Program) -> dict[str, Any]:
    """The simulator's own cost model, so that a rehearsal (--emulate-compute, --emulate-network)
    pads to exactly what was predicted: (forward, backward) seconds per `segment@worker`,
    all-reduce seconds per group, optimizer-step seconds per worker."""
    from pgc.passes.order import collective_groups
    from pgc.sim.cost import cost_table

    costs = cost_table(program)
    return {
        "compute_times": {
            f"{seg}@{w}": [f, costs.bwd[(seg, w)]] for (seg, w), f in sorted(costs.fwd.items())
        },
        "allreduce_times": {
            name: costs.allreduce(workers, costs.grad_bytes.get(name, 0.0))
            for name, workers in collective_groups(program)
        },
        "step_times": dict(sorted(costs.step.items())),
    }


def runtime_plan(
    program: Program, code: dict[str, StageCode], import_root: str | None
) -> dict[str, Any]:
    """The plan as the generated script reads it (embedded in train.py)."""
    from pgc.ir.plan_schema import SCHEMA_VERSION

    origins: list[str] = []
    for p in program.paths:
        if p.origin not in origins:
            origins.append(p.origin)
    args = dict(program.model.args)
    return {
        "runtime_version": RUNTIME_VERSION,
        "schema_version": SCHEMA_VERSION,
        "spec_hash": program.spec_hash,
        "name": program.name,
        "launch": launch_command(program, "train.py"),
        "model": {
            "target": program.model.target,
            "args": args,
            "import_root": import_root,
            **init_decision(program),
        },
        "vocab": args.get("vocab", args.get("vocab_size", 256)),
        "layout": program.layout,
        "workers": [{"name": w.name, "host": w.host} for w in program.workers],
        "segments": [
            {
                "name": s.name,
                "stage": s.stage,
                "first": code[s.name].first,
                "loss": code[s.name].loss,
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
        "buckets": buckets(program, code),
        "microbatch_size": program.microbatch_size,
        "seq_len": program.seq_len,
        "microbatches": program.microbatches,
        "origins": origins,
        "paths": [
            {"mb": p.mb, "origin": p.origin, "hops": [[h.segment, h.worker] for h in p.hops]}
            for p in program.paths
        ],
        "actions": {w: [format_action(a) for a in acts] for w, acts in program.actions},
        "train": _train(program),
        "eval": {"every": program.eval.every, "batches": program.eval.batches},
        "links": {f"{a}->{b}": list(v) for (a, b), v in link_table(program).items()},
        "message_overhead": program.cost.message_overhead,
        **predicted_times(program),
        "prediction": prediction_dict(program),
    }


def init_decision(program: Program) -> dict[str, Any]:
    """How the generated script makes the initial state (the plan's `model` fields `init`,
    `init_reason`, `skeleton`, `verified`), decided by the runtime template's own `init_mode`
    on the model built as the workers build it (docs/CONTRACTS.md "Initial state")."""
    args = json.dumps(model_args(program), sort_keys=True)
    return dict(_init_decision(program.model, program.file, args, program.train.seed))


@functools.lru_cache(maxsize=8)
def _init_decision(model: ModelRef, file: str, args: str, seed: int) -> tuple[tuple[str, Any], ...]:
    # cached: emit and `pgc compile`'s report ask once each, and building a model costs
    from pgc.capture.model import resolve_factory
    from pgc.codegen import template

    factory, _ = resolve_factory(model, file)
    return tuple(template.init_mode(factory, json.loads(args), seed).items())


def model_args(program: Program) -> dict[str, Any]:
    """The factory's arguments exactly as the generated script reads them from its plan."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(program.model.args)))
    return loaded


def init_line(fields: dict[str, Any]) -> str:
    """`pgc compile`'s line on the initial state (`fields`: from `init_decision`)."""
    if fields["init"] == "full-build":
        return f"init: full build ({fields['init_reason']})"
    checked = ("verified against a full build" if fields.get("verified", True)
               else fields["init_reason"])
    return ("init: replay (each worker materialises only its own parameters, equal to the full "
            f"build's; {checked})")


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


def render(plan: dict[str, Any], code: dict[str, StageCode]) -> str:
    """The template with the plan and the stage classes filled in."""
    text = TEMPLATE.read_text(encoding="utf-8")
    plan_src = "PLAN: dict[str, Any] = json.loads(\n    r'''\n" + json.dumps(
        plan, indent=1, sort_keys=True
    ) + "\n'''\n)\n"
    imports = sorted({line for c in code.values() for line in c.imports})
    stages = "\n".join(imports) + "\n\n\n" + "\n\n".join(c.source.strip() + "\n" for c in code.values())
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
    plan = runtime_plan(program, code, program.model.import_root or find_import_root(program))
    script = out_dir / "train.py"
    script.write_text(render(plan, code), encoding="utf-8")
    plan_file = out_dir / "plan.json"
    plan_file.write_text(json.dumps(plan_to_dict(program), indent=1, sort_keys=True) + "\n")
    return [script, plan_file]


def stage_code(program: Program) -> dict[str, StageCode]:
    """Capture's stage code for every segment, in the form the template embeds."""
    from pgc.capture import stage_code as capture_stage_code

    return {
        name: StageCode(
            class_name=sc.class_name,
            source=sc.source,
            outputs=tuple((sig.shape, sig.dtype.replace("torch.", "")) for sig in sc.outputs),
            first=sc.first,
            loss=sc.computes_loss,
            imports=sc.imports,
            shared=sc.shared,
            param_names=sc.param_names,
        )
        for name, sc in capture_stage_code(program).items()
    }
