"""Each way a spec can disagree with the real model is a diagnostic at the spec's line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from capture_util import chain_logits, instantiate, program

from pgc.capture import stage_code
from pgc.capture.codegen import STAGE_BASE
from pgc.capture.pass_capture import PASS
from pgc.diagnostics import UserError
from pgc.frontend import load_program

HEADER = """\
model m = "{target}" {{ {args} }}
node n[0..3] {{ rate = 1 GFLOPS; memory = 1 GiB }}
link default {{ latency = 1 ms; bandwidth = 1 Gbps }}
pipeline p {{
  model = m
  layout = chain
"""
FOOTER = """\
  place s0 on n0
  place s1 on n1
  place s2 on n2
  microbatch {{ size = 2; seq = 8; count = 2 }}
  {policy}
  schedule {schedule}
}}
"""
LLAMA = ("examples.models.llama:build", "vocab = 64, dim = 32, layers = 4, heads = 4")


def _spec(tmp_path: Path, stages: list[str], model: tuple[str, str] = LLAMA,
          policy: str = "") -> Path:
    """Stage i is declared on line 7 + i, its selector list starting at column 14."""
    body = "".join(f"  stage s{i} = {sel}\n" for i, sel in enumerate(stages))
    text = HEADER.format(target=model[0], args=model[1]) + body + FOOTER.format(policy=policy, schedule="skippipe" if policy else "gpipe")
    path = tmp_path / "spec.pgc"
    path.write_text(text)
    return path


def _error(path: Path) -> str:
    with pytest.raises(UserError) as info:
        PASS(load_program(path))
    return info.value.render()


def test_unknown_module_names_the_closest(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embd, layers[0:2]]", "layers[2:4]", "[norm, head]"])
    out = _error(path)
    assert out.startswith(f"{path}:7:15: error: unknown module `embd` in the model")
    assert "did you mean `embed`?" in out


def test_module_selected_twice(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "[layers[1].mlp, layers[2:4]]", "[norm, head]"])
    assert _error(path).startswith(
        f"{path}:8:15: error: module `layers.1.mlp` is selected by both `s0` and `s1`")


def test_module_in_no_stage(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "head"])
    out = _error(path)
    assert out.startswith(
        f"{path}:8:3: error: module `norm` (parameter `norm.weight`) is not selected by any stage")
    assert "hint: add `norm` to `s1` or to the stage after it" in out


def test_stage_out_of_execution_order(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:4]]", "head", "norm"])
    assert _error(path).startswith(
        f"{path}:8:14: error: stage `s1` (module `head`) uses a value computed by `s2`, "
        "which runs after it")


def test_non_tensor_value_cannot_cross(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, stem]", "layers[0]", "[layers[1], head]"],
                 model=("capture_models:pairs", "dim = 16"))
    assert _error(path).startswith(
        f"{path}:9:3: error: stage `s2` needs `stats` (tuple) computed by `s0`; "
        "only tensors can cross a stage boundary")


def test_skip_policy_needs_matching_signatures(tmp_path: Path) -> None:
    model = ("capture_models:widen", "dim = 16, layers = 4")
    stages = ["[embed, layers[0:2]]", "layers[2]", "[layers[3], head]"]
    path = _spec(tmp_path, stages, model, policy="skip { ratio = 1/3; never = [s0] }")
    out = _error(path)
    assert out.startswith(
        f"{path}:14:18: error: stage `s1` cannot be skipped: `s1` takes float32[B, T, 16] but "
        "returns float32[B, T, 32]")
    assert "hint: add `s1` to `never`" in out


def test_every_stage_a_skip_would_break_is_reported_at_once(tmp_path: Path) -> None:
    """A long skip connection from s0 to s2: s1 carries it (one input, two outputs) and s2
    consumes it (two inputs, one output); neither can be skipped, and one run says both."""
    stages = ["[embed, layers[0]]", "layers[1]", "layers[2]", "[layers[3], head]"]
    text = _spec(tmp_path, stages, ("capture_models:skip_over", "dim = 16"),
                 policy="skip { ratio = 1/4 }").read_text().replace(
                     "  place s2 on n2\n", "  place s2 on n2\n  place s3 on n3\n")
    path = tmp_path / "skip.pgc"
    path.write_text(text)
    out = _error(path)
    assert out.startswith(f"{path}:16:18: error: stage `s1` cannot be skipped: `s1` takes "
                          "float32[B, T, 16] but returns float32[B, T, 16], float32[B, T, 16]")
    assert (f"{path}:16:18: error: stage `s2` cannot be skipped: `s2` takes float32[B, T, 16], "
            "float32[B, T, 16] but returns float32[B, T, 16]") in out
    assert "hint: add `s1` to `never`" in out and "hint: add `s2` to `never`" in out


def test_swap_needs_two_adjacent_skippable_stages(tmp_path: Path) -> None:
    model = ("capture_models:widen", "dim = 16, layers = 5")
    stages = ["[embed, layers[0]]", "layers[1]", "layers[2]", "[layers[3:5], head]"]
    text = _spec(tmp_path, stages, model, policy="skip { ratio = 1/4; never = [s0, s2, s3] } "
                 "swap { max = 1 }").read_text().replace("  place s2 on n2\n",
                                                         "  place s2 on n2\n  place s3 on n3\n")
    path = tmp_path / "swap.pgc"
    path.write_text(text)
    out = _error(path)
    assert "error: no two adjacent stages can be swapped" in out
    assert out.startswith(f"{path}:16:")


def test_long_skip_connection_is_carried_and_exact() -> None:
    """UNet adds the embedding back after the last block: the value is carried through s1."""
    stages = [("s0", ("embed", "layers[0]")), ("s1", ("layers[1:3]",)), ("s2", ("layers[3]", "head"))]
    codes = stage_code(program("capture_models:unet", {}, stages))
    assert [len(c.outputs) for c in codes.values()] == [2, 2, 0]
    assert codes["s1"].inputs[0] == codes["s1"].outputs[0]  # passed through unchanged
    import capture_models

    torch.manual_seed(0)
    model = capture_models.unet()
    mods = instantiate(codes, model)
    for shape in ((2, 8), (3, 5)):
        ids = torch.randint(0, 32, shape)
        assert torch.equal(chain_logits(mods, ids), model(ids))


def test_model_module_that_does_not_import(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=("examples.models.nosuch:build", "dim = 8"))
    out = _error(path)
    assert out.startswith(f"{path}:1:1: error: cannot import model module `examples.models.nosuch`")


def test_factory_rejects_arguments(tmp_path: Path) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=("examples.models.llama:build", "width = 8"))
    assert "model factory `examples.models.llama:build` rejected its arguments" in _error(path)


@pytest.mark.parametrize(("source", "message", "where"), [
    ("def build(**kw):\n    raise RuntimeError('no GPU here')\n",
     "model factory `{mod}:build` raised RuntimeError: no GPU here", "raised at {file}:2"),
    ("def build(:\n", "importing `{mod}` failed: SyntaxError", "at {file}:1"),
    ("def build(**kw):\n    return 'dim' + kw['dim']\n",  # not "rejected its arguments"
     "model factory `{mod}:build` raised TypeError: can only concatenate str",
     "raised at {file}:2"),
    ("x = 1 / 0\ndef build(**kw):\n    pass\n",
     "importing `{mod}` failed: ZeroDivisionError: division by zero", "raised at {file}:1"),
])
def test_broken_model_code_is_a_located_error(tmp_path: Path, source: str, message: str,
                                              where: str) -> None:
    """The user's own module or factory failing is their mistake: a diagnostic at the model
    line pointing into their file, not pgc's internal-error traceback."""
    mod = "broken_" + tmp_path.name.replace("-", "_")  # fresh: sys.modules keeps old imports
    file = tmp_path / f"{mod}.py"
    file.write_text(source)
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=(f"{mod}:build", "dim = 8"))
    out = _error(path)
    assert out.startswith(f"{path}:1:1: error: " + message.format(mod=mod))
    assert "hint: " + where.format(file=file.resolve()) in out


def test_model_that_fails_on_a_batch_names_the_module(tmp_path: Path) -> None:
    """A block whose weights do not fit its input traces fine but fails when run: a located
    error naming the block, not an internal error."""
    (tmp_path / "misfit_model.py").write_text(
        "import torch\nimport examples.models.llama as L\n\n"
        "def build(**kw):\n    m = L.build(**kw)\n    m.layers[3] = torch.nn.Linear(7, 5)\n"
        "    return m\n")
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=("misfit_model:build", LLAMA[1]))
    out = _error(path)
    assert out.startswith(f"{path}:1:1: error: cannot capture model `m`: running it on a "
                          "[2, 8] token batch fails at `layers.3`: RuntimeError: ")
    assert "While executing" not in out


def test_slice_past_the_end(tmp_path: Path) -> None:
    """The spec leaves the block count to the factory's default, so only the model can tell
    the slice is too long (with `layers = 4` written, `pgc check` already rejects it)."""
    model = ("examples.models.gpt2:build", "dim = 16, heads = 2")
    path = _spec(tmp_path, ["[wte, wpe, h[0:2]]", "h[2:5]", "[ln_f, lm_head]"], model)
    out = _error(path)
    assert out.startswith(f"{path}:8:14: error: slice `h[2:5]` is out of range: `h` has 4 blocks")


def test_shape_of_another_stages_parameter_is_a_constant() -> None:
    stages = [("s0", ("embed", "layers[0]")), ("s1", ("layers[1]", "head"))]
    codes = stage_code(program("capture_models:scaled", {}, stages))
    assert len(codes["s0"].outputs) == 1 and codes["s1"].shared == ()
    assert "embed" not in codes["s1"].source.split("def logits")[1]
    import capture_models

    model = capture_models.scaled()
    ids = torch.randint(0, 32, (2, 5))
    assert torch.equal(chain_logits(instantiate(codes, model), ids), model(ids))


def test_selected_modules_are_called_not_inlined() -> None:
    """A module a stage selects whole is called (its own code runs, `torch.fx.wrap`ped helpers
    and all), so the stage reads as the user's blocks; a tuple it returns is unpacked."""
    stages = [("s0", ("embed", "stem", "layers")), ("s1", ("head",))]
    codes = stage_code(program("capture_models:pairs", {}, stages))
    src = codes["s0"].source
    assert "self.stem(embed)" in src and 'getattr(self.layers, "1")(' in src
    assert "stats" not in src and codes["s0"].imports == ("import torch", STAGE_BASE)
    import capture_models

    model = capture_models.pairs()
    ids = torch.randint(0, 32, (2, 5))
    assert torch.equal(chain_logits(instantiate(codes, model), ids), model(ids))


@pytest.mark.parametrize("target", ["builtins:print", "sys:exit"])
def test_builtin_target_is_located(tmp_path: Path, target: str) -> None:
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=(target, "code = 3"))
    out = _error(path)
    assert out.startswith(f"{path}:1:1: error: model module `{target.split(':')[0]}` is built "
                          "into Python, not a file"), out


def test_factory_calling_exit_is_located(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text("import sys\n\ndef build(code):\n    sys.exit(code)\n")
    path = _spec(tmp_path, ["[embed, layers[0:2]]", "layers[2:4]", "[norm, head]"],
                 model=("exits:build", "code = 3"))
    out = _error(path)
    assert out.startswith(f"{path}:1:1: error: model factory `exits:build` raised SystemExit: 3")


def test_symbolic_dims_are_never_evaluated_as_code() -> None:
    from pgc.capture.measure import symbolic_dim

    assert [symbolic_dim(d, 3, 8) for d in ("B", "T", "2*B", "B*T", "4*B*T")] == [3, 8, 6, 24, 96]
    with pytest.raises(ValueError):
        symbolic_dim("__import__('os').getcwd()", 3, 8)
