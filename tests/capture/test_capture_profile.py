"""The `traced` pass: per-segment profiles, FLOPs against FlopCounterMode, shared groups,
synthetic profiles without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from capture_util import program
from conftest import ROOT, pgc_env
from torch.utils.flop_counter import FlopCounterMode

from examples.models.llama import build as build_llama
from pgc.capture import stage_code
from pgc.capture.memory import peak_memory
from pgc.capture.pass_capture import PASS
from pgc.capture.profile import instantiate, meta_inputs
from pgc.capture.split import captured_model
from pgc.ir.types import CostModel

LLAMA = dict(vocab=64, dim=32, layers=4, heads=4, kv_heads=2)
STAGES = [("s0", ("embed", "layers[0:1]")), ("s1", ("layers[1:3]",)),
          ("s2", ("layers[3]",)), ("s3", ("norm", "head"))]
GPT2_STAGES = [("s0", ("wte", "wpe", "h[0:2]")), ("s1", ("h[2:4]",)), ("s2", ("ln_f", "lm_head"))]
GPT2 = dict(vocab=64, dim=32, layers=4, heads=4, max_seq=64)


def test_profile_fields_and_params_counted_once() -> None:
    p = PASS(program("examples.models.llama:build", {**LLAMA, "tied": True}, STAGES))
    segs = p.segments
    assert [s.skippable for s in segs] == [False, True, True, False]
    assert [s.layers for s in segs] == [1, 2, 1, 0]
    assert segs[1].boundary_in == segs[1].boundary_out == ("float32[B, T, 32]",)
    assert segs[0].boundary_bytes == 2 * 8 * 32 * 4 and segs[3].boundary_bytes == 0
    assert p.shared_groups == (("embed.weight", ("s0", "s3")),)
    model = build_llama(**LLAMA, tied=True)
    total = sum(t.numel() for t in model.parameters())  # the tied weight once
    shared = model.embed.weight.numel()
    assert sum(s.params or 0 for s in segs) == total + shared  # each owner counts it
    assert p.model.file.endswith("examples/models/llama.py")
    assert Path(p.model.import_root) == ROOT
    assert all(s.activation_bytes and s.activation_bytes > 0 for s in segs)
    mem = peak_memory(segs[1:2], inflight=3)
    assert mem == segs[1].param_bytes * 4 + 3 * (segs[1].activation_bytes + 2 * segs[1].boundary_bytes)


@pytest.mark.parametrize(
    ("target", "args", "stages"),
    [("examples.models.llama:build", LLAMA, STAGES),
     ("examples.models.gpt2:build", GPT2, GPT2_STAGES)],
)
def test_flops_equal_flop_counter_mode_on_meta(target: str, args: dict, stages: list) -> None:
    """The analytic FLOP model equals torch's FlopCounterMode run over each emitted stage on
    meta tensors (matmul, bmm, attention counted)."""
    prog = program(target, args, stages, batch=3, seq=16)
    traced = PASS(prog)
    codes = stage_code(prog)
    meta_model = captured_model(prog.model, prog.file, 3, 16).model
    for seg in traced.segments:
        code = codes[seg.name]
        stage = instantiate(code, meta_model)
        with FlopCounterMode(display=False) as counter:
            stage(*meta_inputs(code, 3, 16))
        assert seg.flops == counter.get_total_flops() > 0, seg.name


HF_STAGES = {
    "llama": [("s0", ("model.embed_tokens", "model.layers[0:2]")), ("s1", ("model.layers[2:4]",)),
              ("s2", ("model.norm", "lm_head"))],
    "gpt2": [("s0", ("transformer.wte", "transformer.wpe", "transformer.h[0]")),
             ("s1", ("transformer.h[1:4]",)), ("s2", ("transformer.ln_f", "lm_head"))],
}


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_transformers_flops_and_params(name: str) -> None:
    """Same checks on the exported (aten) graphs of transformers models; the tied GPT-2 head
    is counted in both owners and once in the model."""
    pytest.importorskip("transformers")
    from examples.models import hf as hf_models

    prog = program(f"examples.models.hf:{name}", {}, HF_STAGES[name])  # shapes as the export tests
    traced = PASS(prog)
    codes = stage_code(prog)
    meta_model = captured_model(prog.model, prog.file, 2, 8).model
    for seg in traced.segments:
        stage = instantiate(codes[seg.name], meta_model)
        with FlopCounterMode(display=False) as counter:
            stage(*meta_inputs(codes[seg.name], 2, 8))
        assert seg.flops == counter.get_total_flops() > 0, seg.name
    model = getattr(hf_models, name)()
    total = sum(t.numel() for t in model.parameters())
    shared = model.lm_head.weight.numel() if name == "gpt2" else 0
    assert sum(s.params or 0 for s in traced.segments) == total + shared


def _ring_synthetic(cost: CostModel):  # type: ignore[no-untyped-def]
    from pgc.frontend import load_program

    return replace(load_program(ROOT / "examples/skippipe_ring.pgc"), cost=cost)


def test_synthetic_profile_from_seconds_per_sample_per_layer() -> None:
    p = PASS(_ring_synthetic(CostModel(sec_per_sample_per_layer=0.055, backward_ratio=1.5,
                                       loss_ratio=0.25)))
    pro, epi = p.segment("origin.pro"), p.segment("origin.epi")
    assert pro.fwd_time == pytest.approx(0.055 * 2 * 2)
    assert epi.fwd_time == pytest.approx(0.25 * 0.055 * 2)
    assert pro.bwd_time == pytest.approx(1.5 * pro.fwd_time)
    assert pro.boundary_bytes == 4 * 64 * 32 * 2
    blocks = p.partitions[0].blocks
    assert [b.selector for b in blocks] == [f"layers.{i}" for i in range(2, 12)]
    assert all(b.fwd_time == pytest.approx(0.055 * 2) for b in blocks)


def test_synthetic_profile_never_imports_torch(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from dataclasses import replace\n"
        "from pgc.frontend import load_program\n"
        "from pgc.ir.types import CostModel\n"
        "from pgc.capture.pass_capture import PASS as T\n"
        "from pgc.passes.partition import PASS as P\n"
        "p = load_program('examples/skippipe_ring.pgc')\n"
        "p = P(T(replace(p, cost=CostModel(sec_per_sample_per_layer=0.055))))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print([s.selectors for s in p.segments])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=pgc_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "layers[10:12]" in out.stdout


def test_profile_file_fills_segments_and_blocks(tmp_path: Path) -> None:
    blocks = {f"layers.{i}": {"fwd_time": 0.01 * (1 + (i == 7)), "bwd_time": 0.02,
                              "params": 10, "signature": ["f[B, T, 64]", "f[B, T, 64]"]}
              for i in range(2, 12)}
    segs = {"origin.pro": {"fwd_time": 0.03, "skippable": False},
            "origin.epi": {"fwd_time": 0.005, "skippable": False}}
    prof = tmp_path / "prof.json"
    prof.write_text(json.dumps({"version": 1, "segments": segs, "blocks": blocks}))
    p = PASS(_ring_synthetic(CostModel(profile=str(prof))))
    assert p.segment("origin.pro").fwd_time == 0.03
    assert p.partitions[0].blocks[5].fwd_time == 0.02
    assert p.partitions[0].blocks[5].signature == ("f[B, T, 64]", "f[B, T, 64]")
