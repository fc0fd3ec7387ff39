"""Emitted stage code, chained in path order, reproduces the full model exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from capture_util import chain_logits, instantiate, program

from examples.models.gpt2 import build as build_gpt2
from examples.models.llama import build as build_llama
from pgc.capture import stage_code
from pgc.capture.codegen import STAGE_BASE

LLAMA = dict(vocab=64, dim=32, layers=4, heads=4, kv_heads=2)
LLAMA_STAGES = [
    ("s0", ("embed", "layers[0:2]")),
    ("s1", ("layers[2:4]",)),
    ("s2", ("norm", "head")),
]


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    out = model(ids)
    return out if isinstance(out, torch.Tensor) else out.logits


def _check_exact(model: torch.nn.Module, codes: dict, vocab: int) -> None:
    model.eval()
    mods = instantiate(codes, model)
    for batch, seq in ((2, 8), (3, 5)):
        ids = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seq))
        with torch.no_grad():
            assert torch.equal(chain_logits(mods, ids), _logits(model, ids))
    counted = {id(p): p.numel() for m in mods for p in m.parameters()}
    assert sum(counted.values()) == sum(p.numel() for p in model.parameters())


def test_llama_untied_stages_reproduce_logits() -> None:
    codes = stage_code(program("examples.models.llama:build", LLAMA, LLAMA_STAGES))
    torch.manual_seed(0)
    _check_exact(build_llama(**LLAMA), codes, 64)


def test_llama_tied_head_is_a_shared_group() -> None:
    args = {**LLAMA, "tied": True}
    codes = stage_code(program("examples.models.llama:build", args, LLAMA_STAGES))
    assert codes["s2"].shared == (("head.weight", "embed.weight"),)
    assert codes["s0"].shared == (("embed.weight", "embed.weight"),)
    torch.manual_seed(0)
    _check_exact(build_llama(**args), codes, 64)


def test_stage_code_signatures_and_names() -> None:
    codes = stage_code(program("examples.models.llama:build", LLAMA, LLAMA_STAGES))
    s0, s1, s2 = codes.values()
    assert s0.first and not s0.computes_loss and s2.computes_loss
    assert [i.text() for i in s0.inputs] == ["input_ids: int64[B, T]"]
    assert [o.text() for o in s0.outputs] == [f"{s0.outputs[0].name}: float32[B, T, 32]"]
    assert s1.inputs == s0.outputs and s2.inputs[:-1] == s1.outputs
    assert s2.inputs[-1].name == "labels" and s2.outputs == ()
    # the source needs torch, the model's module and the runtime's Stage base only
    assert "pgc" not in "".join(s.source for s in codes.values())
    assert {line for s in codes.values() for line in s.imports} <= {"import torch", STAGE_BASE}
    assert s0.param_names[0] == "embed.weight"
    assert all(n.startswith("layers.2.") or n.startswith("layers.3.") for n in s1.param_names)


def test_loss_segment_returns_token_mean_cross_entropy() -> None:
    codes = stage_code(program("examples.models.llama:build", LLAMA, LLAMA_STAGES))
    torch.manual_seed(0)
    model = build_llama(**LLAMA)
    mods = instantiate(codes, model)
    ids = torch.randint(0, 64, (2, 8))
    labels = ids.roll(-1, 1)
    labels[:, -1] = -100
    x = mods[1](*mods[0](ids))
    loss = mods[2](*x, labels)
    want = torch.nn.functional.cross_entropy(model(ids).flatten(0, 1), labels.flatten())
    torch.testing.assert_close(loss, want, rtol=0, atol=0)


def test_a_cut_inside_a_block_inlines_only_that_blocks_own_ops() -> None:
    """A boundary between `layers[1].attn` and `layers[1].mlp`: both stages call the block's
    submodules and every whole block; only the residual additions of the cut block's own
    `forward` are inlined, and the chain still computes the model's logits exactly."""
    stages = [("s0", ("embed", "layers[0]", "layers[1].attn_norm", "layers[1].attn")),
              ("s1", ("layers[1].mlp_norm", "layers[1].mlp", "layers[2:4]")),
              ("s2", ("norm", "head"))]
    codes = stage_code(program("examples.models.llama:build", LLAMA, stages))
    s0, s1 = codes["s0"].source, codes["s1"].source
    assert 'getattr(self.layers, "0")(embed)' in s0 and 'getattr(self.layers, "2")(' in s1
    assert 'getattr(self.layers, "1").attn(' in s0 and 'getattr(self.layers, "1").mlp(' in s1
    assert 'getattr(self.layers, "1")(' not in s0 + s1  # the cut block is not called whole
    bodies = (src.split("def forward")[1].splitlines()[1:] for src in (s0, s1))
    inline = [line.strip() for body in bodies for line in body
              if line.strip() and "self." not in line and "return" not in line]
    assert [line.split(";")[0] for line in inline] == ["add = layers_0 + layers_1_attn",
                                                       "add_1 = add + layers_1_mlp"]
    torch.manual_seed(0)
    _check_exact(build_llama(**LLAMA), codes, 64)


GPT2 = dict(vocab=64, dim=32, layers=4, heads=4, max_seq=64)


def test_gpt2_tied_stages_reproduce_logits() -> None:
    stages = [("s0", ("wte", "wpe", "h[0:2]")), ("s1", ("h[2:4]",)), ("s2", ("ln_f", "lm_head"))]
    codes = stage_code(program("examples.models.gpt2:build", GPT2, stages))
    assert codes["s2"].shared == (("lm_head.weight", "wte.weight"),)
    torch.manual_seed(0)
    _check_exact(build_gpt2(**GPT2), codes, 64)


HF_STAGES = {
    "llama": [
        ("s0", ("model.embed_tokens", "model.layers[0:2]")),
        ("s1", ("model.layers[2:4]",)),
        ("s2", ("model.norm", "lm_head")),
    ],
    "gpt2": [
        ("s0", ("transformer.wte", "transformer.wpe", "transformer.h[0]")),
        ("s1", ("transformer.h[1:4]",)),
        ("s2", ("transformer.ln_f", "lm_head")),
    ],
}


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_transformers_models_via_export(name: str) -> None:
    """transformers 5 models defeat symbolic_trace; export with dynamic dims captures them, and
    exactly one residual tensor crosses each boundary (rotary tables, masks, positions are
    recomputed in every stage)."""
    pytest.importorskip("transformers")
    from examples.models import hf as hf_models

    codes = stage_code(program(f"examples.models.hf:{name}", {}, HF_STAGES[name]))
    assert [len(c.outputs) for c in codes.values()] == [1, 1, 0]
    if name == "gpt2":
        assert codes["s2"].shared == (("lm_head.weight", "transformer.wte.weight"),)
    factory: Callable[[], torch.nn.Module] = getattr(hf_models, name)
    torch.manual_seed(0)
    _check_exact(factory(), codes, 64)


def test_ring_paths_with_skips_and_swaps_match_the_blocks_they_visit() -> None:
    """After partitioning the ring spec, any path (skipping or swapping body stages) through the
    emitted stages equals running the visited blocks of the model in that order."""
    from conftest import ROOT

    from pgc.frontend import load_program
    from pgc.pipeline import run_passes

    prog = run_passes(load_program(ROOT / "examples/skippipe_ring.pgc"), until="partitioned")
    codes = stage_code(prog)
    assert list(codes) == ["origin.pro", "s1", "s2", "s3", "s4", "s5", "origin.epi"]
    torch.manual_seed(0)
    model = build_llama(**{k: v for k, v in prog.model.args})  # type: ignore[arg-type]
    mods = dict(zip(codes, instantiate(codes, model)))
    ids = torch.randint(0, 256, (2, 12))

    def reference(blocks: list[int]) -> torch.Tensor:
        x = model.embed(ids)
        for i in blocks:
            x = model.layers[i](x)
        return model.head(model.norm(x))

    # s2 and s4 skipped; then s3 visited before s1 (one swap of adjacent stages after a skip)
    for path, blocks in (
        (["s1", "s3", "s5"], [0, 1, 2, 3, 6, 7, 10, 11]),
        (["s2", "s1", "s3", "s4"], [0, 1, 4, 5, 2, 3, 6, 7, 8, 9]),
    ):
        x = mods["origin.pro"](ids)
        for name in path:
            x = mods[name](*x)
        with torch.no_grad():
            assert torch.equal(mods["origin.epi"].logits(*x), reference(blocks))


def test_transformers_llama_tied_embeddings() -> None:
    """`tie_word_embeddings=True`: export reads one parameter for both uses; capture names it
    per stage by its alias and reports the shared group."""
    pytest.importorskip("transformers")
    from examples.models import hf

    stages = HF_STAGES["llama"]
    codes = stage_code(program("examples.models.hf:llama", {"tied": True}, stages))
    assert codes["s0"].shared == (("model.embed_tokens.weight", "model.embed_tokens.weight"),)
    assert codes["s2"].shared == (("lm_head.weight", "model.embed_tokens.weight"),)
    torch.manual_seed(0)
    _check_exact(hf.llama(tied=True), codes, 64)
