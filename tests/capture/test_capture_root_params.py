"""Parameters registered on the model itself, microbatches as long as the model allows, and
what capture says when the model refuses the shapes it is probed with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from capture_util import chain_logits, instantiate, program
from test_capture_errors import _error, _spec

from pgc.capture import stage_code
from tests.runtime.learned_pos import build

ARGS = dict(vocab=64, dim=16, layers=4, max_seq=8)
TARGET = "tests.runtime.learned_pos:build"
STAGES = [("s0", ("embed", "pos", "layers[0:2]")), ("s1", ("layers[2:4]", "norm", "head"))]


def test_root_parameter_is_selected_by_name_at_the_maximum_length() -> None:
    """`pos` is a parameter of the root module, named in `s0`; the microbatch's seq is the
    model's maximum (8), so capture must not probe a longer one."""
    codes = stage_code(program(TARGET, ARGS, STAGES, seq=8))
    assert codes["s0"].param_names[:2] == ("embed.weight", "pos")
    assert "pos" not in codes["s1"].param_names
    assert [o.text() for o in codes["s0"].outputs] == [f"{codes['s0'].outputs[0].name}: "
                                                       "float32[B, T, 16]"]
    torch.manual_seed(0)
    model = build(**ARGS).eval()
    mods = instantiate(codes, model)
    for batch, seq in ((2, 8), (3, 5)):
        ids = torch.randint(0, 64, (batch, seq), generator=torch.Generator().manual_seed(seq))
        with torch.no_grad():
            assert torch.equal(chain_logits(mods, ids), model(ids))


def test_root_parameter_left_out_names_itself(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=(TARGET, "vocab = 64, dim = 16, layers = 4, max_seq = 8"))
    out = _error(path)
    assert out.startswith(f"{path}:7:3: error: parameter `pos` is not selected by any stage"), out
    assert "hint: add `pos` to `s0` or to the stage after it" in out


FIXED = ("import torch\n\nclass Fixed(torch.nn.Module):\n"
         "    def __init__(self):\n        super().__init__()\n"
         "        self.embed = torch.nn.Embedding(64, 16)\n"
         "        self.pos = torch.nn.Parameter(torch.zeros(8, 16))\n"
         "        self.head = torch.nn.Linear(16, 64)\n\n"
         "    def forward(self, ids):\n        return self.head(self.embed(ids) + self.pos)\n\n"
         "def build():\n    return Fixed()\n")


@pytest.mark.parametrize("seq, probed", [
    (6, "running it on a \\[2, 6\\] token batch fails at `add`: RuntimeError: .* \\(the microbatch "
        "shape the spec gives\\)"),
    (8, "running it on a \\[3, 10\\] token batch fails at `add`: RuntimeError: .*; running it "
        "on a \\[3, 7\\] token batch fails at `add`: .* \\(pgc runs the model on a second shape "
        "next to the spec's \\[2, 8\\] to tell batch and sequence dimensions from constants"),
])
def test_probe_failure_says_what_was_probed_and_why(tmp_path: Path, seq: int, probed: str) -> None:
    """A model that accepts only T = 8 cannot be captured with symbolic lengths; the error
    names every shape tried, and why pgc tried it."""
    (tmp_path / "fixed_model.py").write_text(FIXED)
    path = tmp_path / "spec.pgc"
    path.write_text(
        'model m = "fixed_model:build" {}\nnode n[0..1] { rate = 1 GFLOPS; memory = 1 GiB }\n'
        'link default { latency = 1 ms; bandwidth = 1 Gbps }\npipeline p {\n  model = m\n'
        '  layout = chain\n  stage s0 = [embed, pos]\n  stage s1 = head\n  place s0 on n0\n'
        f'  place s1 on n1\n  microbatch {{ size = 2; seq = {seq}; count = 2 }}\n'
        '  schedule gpipe\n}\n')
    out = _error(path)
    assert re.match(f"{re.escape(str(path))}:1:1: error: cannot capture model `m`: {probed}",
                    out), out


@pytest.mark.parametrize("target, args", [
    ("capture_models:functional_dropout", {}),
    (TARGET, {**ARGS, "dropout": 0.5}),
])
def test_dropout_follows_the_stage_mode(target: str, args: dict[str, object]) -> None:
    """Train mode drops out exactly as the whole model does under the same seed; eval mode
    does not drop at all. Capture must not freeze either mode into the stage code."""
    import importlib

    stages = [("s0", ("embed", "layers[0]")), ("s1", ("layers[1]", "head"))]
    if "max_seq" in args:
        stages = [("s0", ("embed", "pos", "layers[0:2]")), ("s1", ("layers[2:4]", "norm", "head"))]
    codes = stage_code(program(target, args, stages))
    module, _, name = target.partition(":")
    torch.manual_seed(0)
    model = getattr(importlib.import_module(module), name)(**args)
    mods = instantiate(codes, model)
    ids = torch.randint(0, 32, (2, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for m in (model, *mods):
            m.eval()
        kept = model(ids)
        assert torch.equal(chain_logits(mods, ids), kept)
        for m in (model, *mods):
            m.train()
        torch.manual_seed(5)
        dropped = model(ids)
        torch.manual_seed(5)
        assert torch.equal(chain_logits(mods, ids), dropped)
        assert not torch.equal(dropped, kept)
