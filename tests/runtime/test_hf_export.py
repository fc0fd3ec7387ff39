"""transformers users' formats: `pgc export-model --format hf` writes a save_pretrained folder
(safetensors) that `from_pretrained` loads and generates with, and `--init-from` reads such a
folder or a `.safetensors` file (a wrapped transformers model's keys get the wrapper's prefix),
also under real torchrun, where the first step's loss is that of the folder's weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from pgc.runtime.files import load_weights
from tests.conftest import pgc_env, run_pgc
from tests.runtime.reference import (
    forward_backward,
    initial_model,
    launch,
    load_script,
    read_log,
)

SPEC = """\
model gpt2 = "examples.models.hf:gpt2" { vocab = 64, dim = 32, layers = 2, heads = 2, max_seq = 32 }
node n[0..1] { rate = 10 GFLOPS; memory = 1 GiB }
link default { latency = 1 ms; bandwidth = 1 Gbps }
pipeline hf {
  model = gpt2
  layout = chain
  stages s[0..1] = [[transformer.wte, transformer.wpe, transformer.h[0:1]],
                    [transformer.h[1:2], transformer.ln_f, lm_head]]
  place s0 on n0
  place s1 on n1
  microbatch { size = 2; seq = 16; count = 2 }
  schedule 1f1b
}
"""
ARGS = {"vocab": 64, "dim": 32, "layers": 2, "heads": 2, "max_seq": 32}


def trained_gpt2() -> torch.nn.Module:
    from examples.models.hf import gpt2

    torch.manual_seed(3)
    model = gpt2(**ARGS)
    with torch.no_grad():  # away from the initial values, so a load that did nothing shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def checkpoint(model: torch.nn.Module, root: Path) -> None:
    """A two-worker checkpoint as the runtime writes one: each worker's tensors under the
    model's names (the tied head kept by the second worker under its own name), a manifest."""
    state = model.state_dict()
    first = {k: v for k, v in state.items() if k.startswith(("transformer.wte", "transformer.wpe",
                                                              "transformer.h.0."))}
    second = {k: v for k, v in state.items() if k not in first}
    step = root / "step_00000010"
    step.mkdir(parents=True)
    files = {}
    for worker, tensors in (("n0", first), ("n1", second)):
        path = step / f"{worker}.pt"
        torch.save({"step": 10, "worker": worker, "tensors": tensors}, path)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {"step": 10, "spec_hash": "x", "files": files,
                "model": {"target": "examples.models.hf:gpt2", "args": ARGS}}
    (step / "manifest.json").write_text(json.dumps(manifest))


def test_export_hf_loads_with_from_pretrained_and_generates(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from transformers import GPT2LMHeadModel

    (tmp_path / "gpt2.pgc").write_text(SPEC)
    model = trained_gpt2()
    checkpoint(model, tmp_path / "ck")
    out = tmp_path / "hf"
    r = run_pgc("export-model", str(tmp_path / "ck"), "--spec", str(tmp_path / "gpt2.pgc"),
                "--format", "hf", "-o", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    loaded = GPT2LMHeadModel.from_pretrained(out).eval()
    for name, t in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], t, rtol=0, atol=0)
    prompt = torch.tensor([[1, 2, 3, 4]])
    got = loaded.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    want = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert got.shape == (1, 12) and torch.equal(got, want)


def test_init_from_reads_safetensors_and_save_pretrained_folders(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from safetensors.torch import save_file

    model = trained_gpt2()
    model.save_pretrained(tmp_path / "hf", safe_serialization=True)
    names = model.state_dict().keys()
    state = load_weights(tmp_path / "hf", names)
    for name, t in state.items():
        torch.testing.assert_close(t, model.state_dict()[name], rtol=0, atol=0)
    assert "transformer.wte.weight" in state
    # a model wrapping the transformers model under `lm`: the keys get its prefix
    save_file({k: v.contiguous() for k, v in model.state_dict().items()
               if k != "lm_head.weight"}, str(tmp_path / "w.safetensors"))
    wrapped = load_weights(tmp_path / "w.safetensors", [f"lm.{n}" for n in names])
    assert sorted(wrapped) == sorted(f"lm.{n}" for n in names if n != "lm_head.weight")
    # a file that is not safetensors is one clear line
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    from pgc.runtime.plan import PlanError

    with pytest.raises(PlanError, match="bad.safetensors: not a safetensors file"):
        load_weights(tmp_path / "bad.safetensors", names)


@pytest.mark.torchrun
@pytest.mark.xdist_group("torchrun")
def test_torchrun_starts_from_a_save_pretrained_folder(tmp_path: Path) -> None:
    """Two workers over gloo start from a save_pretrained folder: the first step's loss is the
    one a single process computes with `from_pretrained`'s model on the same batches (each
    worker reads its own stage's tensors; a stage that kept its initial values would show)."""
    transformers = pytest.importorskip("transformers")
    trained_gpt2().save_pretrained(tmp_path / "hf", safe_serialization=True)
    (tmp_path / "hf.pgc").write_text(SPEC)
    build = tmp_path / "build"
    done = run_pgc("compile", str(tmp_path / "hf.pgc"), "-o", str(build), timeout=300)
    assert done.returncode == 0, done.stderr
    r = launch(build, 2, "--steps", "1", "--init-from", str(tmp_path / "hf"), "--log-every", "1",
               "--log-file", str(tmp_path / "hf.jsonl"), "--timeout", "60", env=pgc_env())
    assert r.returncode == 0, r.stderr[-3000:]
    got = read_log(tmp_path / "hf.jsonl")[0]["loss"]
    script = load_script(build / "train.py")
    plan = script.PLAN
    model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").train()
    stages = {s.name: script.STAGES[s.name](model) for s in plan.segments}
    want = forward_backward(plan, None, 0, lambda seg, _worker: stages[seg])
    assert got == pytest.approx(want, rel=1e-6)
    # the plan's own initial model (no --init-from) gives another loss: the check can fail
    initial = initial_model(script).train()
    fresh = {s.name: script.STAGES[s.name](initial) for s in plan.segments}
    assert abs(forward_backward(plan, None, 0, lambda seg, _w: fresh[seg]) - want) > 1e-3
