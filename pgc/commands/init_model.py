"""`pgc init-model SPEC -o model.pt`: the initial state a compiled spec starts from, in one file."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the model's initial state_dict, exactly as the compiled workers start (one process)"
EXAMPLES = """\
  pgc init-model examples/chain4.pgc -o model.pt
  # then: torchrun --nproc-per-node 4 out/train.py --init-from model.pt   (the same start)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the .pgc spec (its model and train.seed are used)")
    p.add_argument("-o", "--out", required=True, help="the state_dict file to write")


def run(args: argparse.Namespace) -> int:
    import torch

    from pgc.capture.model import resolve_factory
    from pgc.codegen.emit import init_decision, init_line, model_args
    from pgc.frontend import load_program
    from pgc.runtime.init_replay import initial_model

    program = load_program(args.file)
    fields = init_decision(program)
    factory, _ = resolve_factory(program.model, program.file)
    # one process by design: the full build, which every worker's own part equals
    model = initial_model(factory, model_args(program), program.train.seed)
    state = model.state_dict()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    count = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    print(f"wrote {args.out}: {len(state)} tensors, {count:,} parameters, seed {program.train.seed}")
    print(init_line(fields))
    return 0
