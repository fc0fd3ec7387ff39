"""The initial state (docs/CONTRACTS.md "Initial state"): each worker materialises only its own
stage's parameters, bit-identical to `torch.manual_seed(seed); factory(**args)` (the model's
own initialisation), `pgc init-model` writes the same start for `--init-from`, and models that
cannot be replayed compile to a full build with the reason. Real specs, real `pgc compile`; the
generated script's functions are called in this process for one worker at a time (no torchrun
needed). The replay mechanism on many model habits: test_replay.py."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest
import torch

from pgc.runtime.model import init_description, named_tensors
from pgc.runtime.plan import PlanError
from tests.conftest import ROOT, run_pgc
from tests.runtime.reference import builder, initial_model, load_script, reference

CPU = torch.device("cpu")

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
    return {st.name: list(st.segments) for st in script.PLAN.stages}


def unique(params: object) -> list[torch.nn.Parameter]:
    return list({id(p): p for p in params}.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["chain", "ring"])
def test_each_worker_holds_only_its_own_parameters(
    scripts: dict[str, tuple[ModuleType, str]], name: str
) -> None:
    script, stdout = scripts[name]
    assert script.PLAN.model.init == "replay" and script.PLAN.model.verified
    assert "init: replay (each worker materialises only its own parameters" in stdout
    assert init_description(script.PLAN, None).startswith("init: replay under seed ")  # start-up line
    want = dict(initial_model(script).named_parameters(remove_duplicate=False))
    total = sum(p.numel() for p in unique(want.values()))
    for stage, names in stage_segments(script).items():
        model = builder(script).worker_model(names, None)
        own = unique(p for n in names for p in script.STAGES[n](model).parameters())
        real = [p for p in unique(model.parameters()) if not p.is_meta]
        assert own and {id(p) for p in real} == {id(p) for p in own}, stage
        held = sum(p.numel() * p.element_size() for p in own)
        assert sum(p.numel() * p.element_size() for p in real) == held
        assert sum(p.numel() for p in own) < total  # every stage holds a strict part
        for key, p in model.named_parameters(remove_duplicate=False):
            assert p.is_meta or torch.equal(p, want[key]), f"{stage}: {key}"


@pytest.mark.parametrize("name", ["chain", "ring"])
def test_workers_together_hold_the_one_process_initial_state(
    scripts: dict[str, tuple[ModuleType, str]], name: str
) -> None:
    script, _ = scripts[name]
    seed = script.PLAN.train.seed
    want = initial_model(script).state_dict()
    union: dict[str, torch.Tensor] = {}
    holders: dict[str, list[str]] = {}
    for stage, names in stage_segments(script).items():
        segments = builder(script).segments(names, None, CPU)
        # every worker leaves the global RNG in the same, plan-seeded state
        assert torch.equal(torch.get_rng_state(), torch.manual_seed(seed).get_state())
        for key, t in named_tensors(segments).items():
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
        # the model's own init loop gives the tied weight the embedding's scale
        assert abs(float(union["embed.weight"].detach().std()) - 0.02) < 0.005


def test_init_model_file_gives_the_default_start(
    scripts: dict[str, tuple[ModuleType, str]], tmp_path: Path
) -> None:
    script, _ = scripts["chain"]
    path = tmp_path / "model.pt"
    r = run_pgc("init-model", str(CHAIN_TIED), "-o", str(path))
    assert r.returncode == 0, r.stderr
    assert "init: replay" in r.stdout
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
        default = named_tensors(builder(script).segments(names, None, CPU))
        for f in (path, legacy, one_name):
            loaded = named_tensors(builder(script).segments(names, str(f), CPU))
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
        "not a state_dict of the model; `pgc export-model": {"step": 3, "tensors": state},
    }
    for k, (message, bad) in enumerate(cases.items()):
        f = tmp_path / f"bad{k}.pt"
        torch.save(bad, f)
        with pytest.raises(PlanError, match=message):
            builder(script).segments(names, str(f), CPU)


def toy_spec(tmp_path: Path, kind: str) -> Path:
    spec = tmp_path / f"toy_{kind}.pgc"
    spec.write_text(FULL_BUILD.read_text().replace('kind = "buffer"', f'kind = "{kind}"'))
    return spec


def test_full_build_is_named_and_trains(
    scripts: dict[str, tuple[ModuleType, str]], tmp_path: Path
) -> None:
    script, stdout = scripts["full"]
    assert script.PLAN.model.init == "full-build" and not script.PLAN.model.skeleton
    assert ("init: full build (buffer `layers.0.ref` is computed from a parameter: it stays on "
            "meta when the parameters are)") in stdout
    assert init_description(script.PLAN, None).startswith("init: full build under seed 1 (buffer `")
    want = initial_model(script).state_dict()  # the model's own init, as before
    torch.save(want, tmp_path / "model.pt")
    for names in stage_segments(script).values():
        for f in (None, str(tmp_path / "model.pt")):
            for key, t in named_tensors(builder(script).segments(names, f, CPU)).items():
                assert torch.equal(t, want[key]), key
    losses = reference(script, 10).losses
    assert losses[-1] < 0.9 * losses[0], losses


def test_init_function_pgc_cannot_see_compiles_to_full_build(tmp_path: Path) -> None:
    r = run_pgc("compile", str(toy_spec(tmp_path, "bound")), "-o", str(tmp_path / "b"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert ("init: full build (buffer `layers.1.noise` differs when the parameters are on meta: "
            "the model's init reads parameters' values, or calls an init function pgc does not "
            "see?)") in r.stdout
    script = load_script(tmp_path / "b" / "train.py")
    want = initial_model(script).state_dict()
    for names in stage_segments(script).values():
        for key, t in named_tensors(builder(script).segments(names, None, CPU)).items():
            assert torch.equal(t, want[key]), key


def test_init_from_keeps_the_replayed_non_persistent_buffers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A random buffer outside the state_dict comes out of the constructor in an --init-from
    start exactly as in the default start; a worker whose replay fails builds the whole model."""
    r = run_pgc("compile", str(toy_spec(tmp_path, "plain")), "-o", str(tmp_path / "p"), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    script = load_script(tmp_path / "p" / "train.py")
    assert script.PLAN.model.init == "replay"
    torch.save(initial_model(script).state_dict(), tmp_path / "model.pt")
    for names in stage_segments(script).values():
        default = builder(script).worker_model(names, None)
        loaded = builder(script).worker_model(names, str(tmp_path / "model.pt"))
        noise = {k: b for k, b in default.named_buffers() if k.endswith("noise")}
        assert noise and all(torch.equal(b, loaded.get_buffer(k)) for k, b in noise.items())

    def fails(*args: object) -> None:
        raise RuntimeError("no replay here")

    names = stage_segments(script)["s0"]
    default = named_tensors(builder(script).segments(names, None, CPU))
    broken = builder(script)
    broken._replay_own = fails  # type: ignore[method-assign]
    fallback = named_tensors(broken.segments(names, None, CPU))
    assert "the replay failed on this worker (RuntimeError: no replay here)" in capsys.readouterr().out
    assert sorted(fallback) == sorted(default)
    assert all(torch.equal(fallback[k], t) for k, t in default.items())
