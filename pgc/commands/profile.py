"""`pgc profile FILE`: per-stage profile table and measured CPU forward/backward times."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "measure per-stage forward/backward time on this machine (CPU) next to the FLOP model"
EXAMPLES = (
    "  pgc profile examples/chain4.pgc\n"
    "  pgc profile examples/skippipe_ring.pgc -o ring.profile.json   # then cost { profile = ... }\n"
    "  pgc profile examples/chain4.pgc --no-measure                  # static table only\n"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="pipeline spec")
    parser.add_argument("-o", "--output", metavar="JSON", help="write a profile file (version 1)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per segment (minimum)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--no-measure", action="store_true", help="print the static table only")
    parser.add_argument("--seed", type=int, default=0, help="seed for building the model")


def run(args: argparse.Namespace) -> int:
    from pgc.capture.table import format_stage_table
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes

    program = run_passes(load_program(args.file), until="partitioned")
    if args.no_measure:
        print(format_stage_table(program), end="")
        return 0
    data = measure(program, args)
    times = {name: (t["fwd_time"], t["bwd_time"]) for name, t in data["segments"].items()}
    print(format_stage_table(program, times), end="")
    if args.output:
        Path(args.output).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def measure(program: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A version-1 profile: measured segment and block times plus the static fields."""
    import torch

    from pgc.capture.codegen import emit_segment
    from pgc.capture.cut import analyse
    from pgc.capture.measure import model_vocab, time_segments
    from pgc.capture.model import build_model, resolve_factory
    from pgc.capture.split import captured_model, split_program
    from pgc.capture.synthetic import FIELDS, PROFILE_VERSION
    from pgc.capture.trace_profile import expand_specs
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes

    torch.manual_seed(args.seed)
    model = build_model(program.model, program.file)
    vocab = model_vocab(model)
    b, t = program.microbatch_size, program.seq_len
    cut, source = split_program(program)

    def timed(c: Any, segs: list[Any]) -> dict[str, dict[str, float]]:
        codes = [emit_segment(c, seg, source.module) for seg in segs]
        times = time_segments(codes, model, b, t, vocab, args.warmup, args.repeat)
        return {tm.name: {"fwd_time": tm.fwd, "bwd_time": tm.bwd} for tm in times}

    seg_times = timed(cut, cut.segments)
    segments: dict[str, Any] = {}
    for seg in cut.segments:
        s = program.segment(seg.name)
        static = {k: getattr(s, k) for k in FIELDS if getattr(s, k) is not None}
        segments[seg.name] = {**static, "skippable": s.skippable,
                              "boundary_in": list(s.boundary_in),
                              "boundary_out": list(s.boundary_out), **seg_times[seg.name]}
    blocks: dict[str, Any] = {}
    traced = run_passes(load_program(args.file), until="traced")
    if traced.partitions:
        _, source = resolve_factory(traced.model, traced.file)
        cap = captured_model(traced.model, traced.file, b, t)
        unit_cut = analyse(cap, expand_specs(traced, dict(cap.model.named_modules())))
        wanted = {blk.selector: blk for p in traced.partitions for blk in p.blocks}
        units = [seg for seg in unit_cut.segments if seg.name in wanted]
        unit_times = timed(unit_cut, units)
        for seg in units:
            blk = wanted[seg.name]
            static = {k: getattr(blk, k) for k in FIELDS if getattr(blk, k) is not None}
            blocks[seg.name] = {**static, "signature": list(blk.signature), **unit_times[seg.name]}
    return {"version": PROFILE_VERSION, "spec": program.file, "microbatch_size": b,
            "seq_len": t, "threads": torch.get_num_threads(), "segments": segments,
            "blocks": blocks, "shared_groups": {k: list(v) for k, v in program.shared_groups}}
