"""Model capture: fx/export graphs, stage mapping, cut analysis, stage code, profiles.

Entry points:

* `stage_code(program) -> dict[str, SegmentCode]`: readable source of one `torch.nn.Module`
  per segment (see `SegmentCode`), for the runtime to embed in train.py;
* pass `traced` (`pgc.capture.pass_capture.PASS`): fills the segments' profile fields;
* pass `partitioned` (`pgc.passes.partition.PASS`): resolves automatic partitions.

Importing this package does not import torch (synthetic profiles never need it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgc.capture.codegen import SegmentCode, TensorSig
    from pgc.ir.types import Program

__all__ = ["SegmentCode", "TensorSig", "stage_code"]


def __getattr__(name: str) -> Any:
    if name in ("SegmentCode", "TensorSig"):
        from pgc.capture import codegen

        return getattr(codegen, name)
    raise AttributeError(name)


def stage_code(program: Program) -> dict[str, SegmentCode]:
    """Per segment (in `program.segments` order) the stage module's code. Raises UserError
    for a spec that does not fit the model (unknown, overlapping, missing, out-of-order
    modules; a non-tensor value crossing a boundary). Run it after `partitioned`, so every
    segment has selectors."""
    from pgc.capture.codegen import emit_segment, imports_located
    from pgc.capture.split import split_program

    cut, source = split_program(program)
    with imports_located(program.model):
        return {seg.name: emit_segment(cut, seg, source.module) for seg in cut.segments}
