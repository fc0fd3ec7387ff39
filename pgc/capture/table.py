"""The stage table: one row per segment with its profile (and measured times when given),
then peak memory per stage under the inflight cap, then shared parameter groups."""

from __future__ import annotations

from pgc.capture.memory import peak_memory
from pgc.ir.text import text_table
from pgc.ir.types import Program, Segment

MIB = 1024.0**2


def _num(x: float | int | None, scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x / scale)


def _row(seg: Segment, loss: bool) -> list[str]:
    return [
        seg.name,
        " ".join(seg.selectors) or "-",
        str(seg.layers),
        "-" if seg.params is None else f"{seg.params:,}",
        _num(seg.flops, 1e6, "{:.1f}"),
        "loss" if loss else (", ".join(seg.boundary_out) or "-"),
        _num(seg.activation_bytes, MIB),
        "-" if seg.skippable is None else ("yes" if seg.skippable else "no"),
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(text_table([header, *rows])) + "\n"


def format_stage_table(program: Program, times: dict[str, tuple[float, float]] | None = None) -> str:
    """Deterministic text for `pgc profile` and `--emit=traced` goldens. `times` maps a segment
    to measured (forward, backward) seconds; their share of the total is shown next to the
    FLOP model's share."""
    header = ["segment", "modules", "layers", "params", "MFLOP/mb", "boundary out", "act MiB",
              "skip"]
    last = program.segments[-1].name
    rows = [_row(s, s.name == last) for s in program.segments]
    if times:
        header += ["fwd ms", "bwd ms", "time share", "flop share"]
        total_t = sum(f + b for f, b in times.values()) or 1.0
        total_f = sum(s.flops or 0.0 for s in program.segments) or 1.0
        for row, seg in zip(rows, program.segments):
            f, b = times.get(seg.name, (0.0, 0.0))
            row += [f"{f * 1e3:.2f}", f"{b * 1e3:.2f}", f"{(f + b) / total_t:.3f}",
                    f"{(seg.flops or 0.0) / total_f:.3f}"]
    out = f"stages of `{program.name}` (microbatch {program.microbatch_size} x " \
          f"{program.seq_len} tokens)\n" + _table(header, rows)
    mem_rows = []
    for stage in program.stages:
        segs = [program.segment(n) for n in stage.segments]
        peak = peak_memory(segs, program.inflight, program.train.optimizer,
                           program.train.precision,
                           {stage.name: program.train.recompute_of(stage.name)},
                           dict(program.train.optimizer_args))
        workers = program.replicas(stage.name)
        fits = "-" if not workers else (
            "yes" if all(peak <= program.worker(w).memory for w in workers) else "NO")
        mem_rows.append([stage.name, f"{peak / MIB:.2f}", " ".join(workers) or "auto", fits])
    out += f"\npeak memory per worker (inflight {program.inflight}, {program.train.optimizer})\n"
    out += _table(["stage", "MiB", "workers", "fits"], mem_rows)
    if program.shared_groups:
        out += "\nshared parameters\n"
        out += "".join(f"  {name}: {', '.join(segs)}\n" for name, segs in program.shared_groups)
    return out
