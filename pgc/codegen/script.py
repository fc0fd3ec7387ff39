"""Render `train.py`: a summary a person reads first, the stage classes, the runtime's entry.

The summary says which rank runs which worker, stage and blocks, the schedule and training
settings, the files beside the script and what each flag does; no data precedes it. The plan
itself lives in plan.json and the runtime in pgc_runtime/ (see `pgc.codegen.emit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgc.capture.codegen import STAGE_BASE
from pgc.codegen.emit import RUNTIME_PACKAGE, StageCode
from pgc.ir.text import text_table
from pgc.ir.types import Program

FLAGS = (
    ("--steps N", "total steps of the run (default: the spec's)"),
    ("--resume", "continue from the newest complete checkpoint in --ckpt-dir"),
    ("--init-from FILE", "start from a state_dict (`pgc init-model`, `pgc export-model`)"),
    ("--import-root DIR", "folder the model's module imports from (or PGC_IMPORT_ROOT)"),
    ("--ckpt-dir D --ckpt-every N --keep K", "checkpoints (default: the spec's)"),
    ("--optimizer --lr --clip", "override the spec's optimizer settings"),
    ("--eval [--skip-ratio K | --skip-stages a,b]", "held-out loss with stages removed"),
    ("--emulate-network --emulate-compute --time-scale X", "rehearse the predicted times"),
    ("--trace DIR", "per-worker Chrome traces on one clock"),
    ("--timeout S", "seconds a wait may take before the run fails, naming the worker "
                    "(default: 20 predicted steps, at least 60 s)"),
)


def _args_text(pairs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs.items())


def summary(program: Program, plan: dict[str, Any], code: dict[str, StageCode]) -> str:
    """The docstring of train.py."""
    rows = [("rank", "worker", "host", "stage", "segment", "blocks")]
    for rank, w in enumerate(program.workers):
        stage = next(st for st in program.stages if w.name in program.replicas(st.name))
        for k, seg in enumerate(stage.segments):
            first = k == 0
            rows.append((str(rank) if first else "", w.name if first else "",
                         (w.host or "-") if first else "", stage.name if first else "", seg,
                         ", ".join(code[seg].selectors) or "-"))
    table = "\n".join("    " + line for line in text_table(rows))
    t, mb = plan["train"], plan["microbatch"]
    pred = plan["prediction"]
    predicted = ("" if pred is None else
                 f"; predicted step {pred['iteration_time']:.4g} s "
                 f"(lower bound {pred['lower_bound']:.4g} s)")
    flags = "\n".join("    " + line for line in text_table(FLAGS))
    launch = plan["runtime"]["launch"].replace("\n", "\n    ")
    return f'''"""pgc: the training script of pipeline `{program.name}` ({Path(program.file).name}).

Run it from anywhere (one line per host):
    {launch} [flags]

Ranks map to workers by host label at start-up (on one host, rank = row):
{table}

Schedule: {program.schedule}, {mb['count']} microbatches of {mb['size']} x {mb['seq_len']} tokens per step, \
inflight {program.inflight}{predicted}.
Training: {t['steps']} steps, {t['optimizer']}({_args_text(t['optimizer_args'])}), \
{t['lr_schedule']} schedule, clip {t['clip']}, data {plan['data']['kind']}({_args_text(plan['data']['args'])}).
Initial state: {plan['runtime']['init']['mode']} of `{plan['model']['target']}` under seed {plan['seeds']['train']}.

Beside this file: plan.json (the plan, validated at start-up; docs/plan_schema.md in pgc) and
{RUNTIME_PACKAGE}/ (pgc's runtime, copied verbatim; needs only torch and the standard library).

Flags (`python train.py --help` lists every one):
{flags}
"""
'''


def render(program: Program, plan: dict[str, Any], code: dict[str, StageCode]) -> str:
    imports = sorted({line for c in code.values() for line in c.imports
                      if line not in ("import torch", STAGE_BASE)})
    classes = "\n\n".join(c.source.strip() + "\n" for c in code.values())
    table = "".join(f"    {name!r}: {c.class_name},\n" for name, c in code.items())
    return (
        summary(program, plan, code)
        + "\nimport sys\nfrom pathlib import Path\n\nimport torch\n\n"
        + "sys.path.insert(0, str(Path(__file__).resolve().parent))  # the runtime beside this file\n"
        + f"from {RUNTIME_PACKAGE}.main import prepare, run_script  # noqa: E402\n"
        + f"from {RUNTIME_PACKAGE}.stage import Stage  # noqa: E402\n\n"
        + "# the validated plan; the model's import root goes on sys.path before its module loads\n"
        + 'PLAN = prepare(Path(__file__).resolve().with_name("plan.json"))\n'
        + "".join(f"{line}  # noqa: E402\n" for line in imports)
        + "\n\n" + classes
        + f"\n\nSTAGES = {{\n{table}}}\n\n"
        + 'if __name__ == "__main__":\n    run_script(PLAN, STAGES)\n'
    )
