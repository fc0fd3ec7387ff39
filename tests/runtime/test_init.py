"""The initial state (docs/CONTRACTS.md "Initial state"): each worker materialises only its own
stage's parameters, the values do not depend on which worker makes them, `pgc init-model`
writes the same start for `--init-from`, and models that cannot initialise module by module
fall back to a full build. Real specs, real `pgc compile`; the generated script's functions are
called in this process for one worker at a time (no torchrun needed)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.conftest import ROOT, run_pgc
from tests.runtime.reference import initial_model, load_script, reference

SPECS = Path(__file__).parent / "specs"
CHAIN_TIED = SPECS / "tied_skip_swap.pgc"  # embed on s0, the tied head on s4
RING = ROOT / "examples" / "skippipe_ring.pgc"
FULL_BUILD = SPECS / "full_build.pgc"


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ModuleType, str]]:
    """name -> (the generated train.py loaded as a module, `pgc compile`'s output)."""
    out: dict[str, tuple[ModuleType, str]] = {}
    for name, spec in (("chain", CHAIN_TIED), ("ring", RING), ("full", FULL_BUILD)):
        d = tmp_path_factory.mktemp(name)
        r = run_pgc("compile", str(spec), "-o", str(d), timeout=300)
        assert r.returncode == 0, r.stderr
        out[name] = (load_script(d / "train.py"), r.stdout)
    return out


def stage_segments(script: ModuleType) -> dict[str, list[str]]:
    return {st["name"]: list(st["segments"]) for st in script.PLAN["stages"]}


def unique(params: object) -> list[torch.nn.Parameter]:
    return list({id(p): p for p in params}.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["chain", "ring"])
def test_each_worker_holds_only_its_own_parameters(
    scripts: dict[str, tuple[ModuleType, str]], name: str
) -> None:
    script, stdout = scripts[name]
    assert script.PLAN["model"]["init"] == "per-module"
    assert "init: per-module" in stdout
    total = sum(p.numel() for p in unique(initial_model(script).parameters()))
    for stage, names in stage_segments(script).items():
        model = script.build_worker_model(names, None)
        own = unique(p for n in names for p in script.SEGMENT_CLASSES[n](model).parameters())
        real = [p for p in unique(model.parameters()) if not p.is_meta]
        assert own and {id(p) for p in real} == {id(p) for p in own}, stage
        held = sum(p.numel() * p.element_size() for p in own)
        assert sum(p.numel() * p.element_size() for p in real) == held
        assert sum(p.numel() for p in own) < total  # every stage holds a strict part


@pytest.mark.parametrize("name", ["chain", "ring"])
def test_workers_together_hold_the_one_process_initial_state(
    scripts: dict[str, tuple[ModuleType, str]], name: str
) -> None:
    script, _ = scripts[name]
    seed = int(script.PLAN["train"]["seed"])
    want = initial_model(script).state_dict()
    union: dict[str, torch.Tensor] = {}
    holders: dict[str, list[str]] = {}
    for stage, names in stage_segments(script).items():
        segments = script.build_segments(names, None)
        # every worker leaves the global RNG in the same, plan-seeded state
        assert torch.equal(torch.get_rng_state(), torch.manual_seed(seed).get_state())
        for key, t in script.named_tensors(segments).items():
            union.setdefault(key, t)
            holders.setdefault(key, []).append(stage)
            assert torch.equal(union[key], t), f"{key} differs between workers"
    assert sorted(union) == sorted(want)
    for key, t in want.items():
        assert torch.equal(union[key], t), key
        assert not t.isnan().any()
    if name == "chain":  # the tied weight is built by the first and the last stage alike
        assert holders["embed.weight"] == ["s0"] and holders["head.weight"] == ["s4"]
        assert torch.equal(union["embed.weight"], union["head.weight"])
        assert abs(float(union["embed.weight"].detach().std()) - 0.02) < 0.005  # the model's own scale


def test_init_model_file_gives_the_default_start(
    scripts: dict[str, tuple[ModuleType, str]], tmp_path: Path
) -> None:
    script, _ = scripts["chain"]
    path = tmp_path / "model.pt"
    r = run_pgc("init-model", str(CHAIN_TIED), "-o", str(path))
    assert r.returncode == 0, r.stderr
    assert "init: per-module" in r.stdout
    state = torch.load(path, weights_only=True)
    want = initial_model(script).state_dict()
    assert sorted(state) == sorted(want)
    assert all(torch.equal(state[k], want[k]) for k in want)
    # torch's legacy (non-zip) format cannot be memory-mapped: read whole, same result
    legacy = tmp_path / "legacy.pt"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    # a tied weight may be stored under one of its names only (as transformers saves it)
    one_name = tmp_path / "one_name.pt"
    torch.save({k: v for k, v in state.items() if k != "head.weight"}, one_name)
    for stage, names in stage_segments(script).items():
        default = script.named_tensors(script.build_segments(names, None))
        for f in (path, legacy, one_name):
            loaded = script.named_tensors(script.build_segments(names, str(f)))
            assert sorted(loaded) == sorted(default)
            for key, t in default.items():
                assert torch.equal(loaded[key], t), f"{stage} {f.name}: {key}"


def test_init_from_refuses_a_file_that_does_not_fit(
    scripts: dict[str, tuple[ModuleType, str]], tmp_path: Path
) -> None:
    script, _ = scripts["chain"]
    state = initial_model(script).state_dict()
    names = stage_segments(script)["s1"]
    cases = {
        "missing keys \\['layers.3.mlp.down.weight'\\]":
            {k: v for k, v in state.items() if k != "layers.3.mlp.down.weight"},
        "unknown keys \\['extra.weight'\\]": {**state, "extra.weight": torch.zeros(2)},
        "`layers.1.attn_norm.weight` is \\(3,\\), the model's is \\(32,\\)":
            {**state, "layers.1.attn_norm.weight": torch.zeros(3)},
        "refused: not a plain tensor file": {**state, "hook": os.system},
    }
    for k, (message, bad) in enumerate(cases.items()):
        f = tmp_path / f"bad{k}.pt"
        torch.save(bad, f)
        with pytest.raises(script.PlanError, match=message):
            script.build_segments(names, str(f))


def test_full_build_fallback_is_named_and_trains(
    scripts: dict[str, tuple[ModuleType, str]], tmp_path: Path
) -> None:
    script, stdout = scripts["full"]
    assert script.PLAN["model"]["init"] == "full-build" and script.PLAN["model"]["skeleton"]
    assert ("init: full build (layers.0: Gated has parameters but no reset_parameters(); add "
            "one, or define _init_weights(module) on the model, or use --init-from)") in stdout
    from tests.runtime.init_models import build

    torch.manual_seed(int(script.PLAN["train"]["seed"]))
    want = build(vocab=32, dim=16, layers=2).state_dict()  # the model's own init, as before
    torch.save(want, tmp_path / "model.pt")
    for names in stage_segments(script).values():
        for key, t in script.named_tensors(script.build_segments(names, None)).items():
            assert torch.equal(t, want[key]), key
        # starting from a file needs no full build: the model builds on meta
        model = script.build_worker_model(names, str(tmp_path / "model.pt"))
        own = unique(p for n in names for p in script.SEGMENT_CLASSES[n](model).parameters())
        assert {id(p) for p in model.parameters() if not p.is_meta} == {id(p) for p in own}
        for key, t in script.named_tensors(script.build_segments(names, str(tmp_path / "model.pt"))).items():
            assert torch.equal(t, want[key]), key
    losses = reference(script, 10).losses
    assert losses[-1] < 0.9 * losses[0], losses


def test_initialiser_that_leaves_a_parameter_unset_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "forgetful.pgc"
    text = FULL_BUILD.read_text().replace("layers = 2 }", "layers = 2, forgetful = true }")
    spec.write_text(text)
    r = run_pgc("init-model", str(spec), "-o", str(tmp_path / "m.pt"), cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert "parameter `layers.0.scale` is left unset by its module's reset_parameters()" in r.stderr
    assert "Traceback" not in r.stderr
