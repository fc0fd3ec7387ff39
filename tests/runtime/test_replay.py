"""The replay that lets each worker materialise only its own parameters (docs/CONTRACTS.md
"Initial state"), on models with the initialisation habits real models have: every model
either replays bit-exactly for every worker (its own parameters torch.equal to
`torch.manual_seed(seed); factory()`, every other parameter on meta) or `init_mode` reports it
as full-build with the reason. Also: only the building thread is affected, and the patches are
gone afterwards, even when the constructor raises."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from pgc.runtime import init_replay
from tests.runtime import init_models as im

SEED = 5


def hf(name: str, **kw: Any) -> Callable[[], nn.Module]:
    pytest.importorskip("transformers")
    from examples.models import hf as models

    return lambda: getattr(models, name)(**kw)


REPLAYS: dict[str, Callable[[], nn.Module]] = {
    "nanogpt_scaled_c_proj": im.NanoGPT,
    "data_mul_in_init": im.MulData,
    "model_level_init_loop": im.InitLoop,
    "plain_tied_lm": im.PlainTied,
    "orthogonal_trunc_normal_randn": im.Inits,
    "toy_with_random_buffer": im.build,
}
FULL_BUILDS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "item": (im.ReadsValue, "does not build with its parameters on meta (RuntimeError: "
             "Tensor.item() cannot be called on meta tensors)"),
    "copies": (im.copies_embedding, "the replay build raised (NotImplementedError: Cannot "
               "copy out of meta tensor; no data!): the model's init reads other parameters' "
               "values?"),
    "buffer": (lambda: im.build(kind="buffer"), "buffer `layers.0.ref` is computed from a "
               "parameter: it stays on meta when the parameters are"),
    "bound": (lambda: im.build(kind="bound"), "buffer `layers.1.noise` differs when the "
              "parameters are on meta: the model's init reads parameters' values, or calls an "
              "init function pgc does not see?"),
    "bound_no_buffer": (im.BoundOnly, "embed.weight differs when replayed: the model's init "
                        "reads other parameters' values, or calls an init function pgc does "
                        "not see?"),
    "weight_norm": (im.WeightNormed, "layers.0.c_fc.parametrizations.weight.original1 stays "
                    "on meta when replayed"),
}


def full(factory: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(SEED)
    return factory()


def chunks(model: nn.Module, parts: int = 3) -> list[list[str]]:
    """Three 'workers': contiguous runs of the model's parameter names (with duplicates, so a
    tied embedding and head land on the first and the last worker)."""
    names = [n for n, _ in model.named_parameters(remove_duplicate=False)]
    size = -(-len(names) // parts)
    return [names[i:i + size] for i in range(0, len(names), size)]


def check_workers(factory: Callable[[], nn.Module]) -> int:
    """Each worker's replay against the full build; returns how many tied parameters were
    owned by more than one worker."""
    want = dict(full(factory).named_parameters(remove_duplicate=False))
    skeleton, first = init_replay.replay_build(lambda: factory(), {}, SEED)
    assert all(p.is_meta for p in skeleton.parameters())
    named = dict(skeleton.named_parameters(remove_duplicate=False))
    owners: dict[str, int] = {}  # a parameter's first name -> how many workers own it
    for chunk in chunks(skeleton):
        keep = init_replay.registration_indices(first, [named[n] for n in chunk])
        model, rec = init_replay.replay_build(lambda: factory(), {}, SEED, keep)
        assert rec.specs == first.specs
        got = dict(model.named_parameters(remove_duplicate=False))
        own = {id(got[n]) for n in chunk}
        first_name = {id(p): n for n, p in reversed(got.items())}
        for i in own:
            owners[first_name[i]] = owners.get(first_name[i], 0) + 1
        for name, p in got.items():
            if id(p) in own:
                assert not p.is_meta and torch.equal(p, want[name]), name
            else:
                assert p.is_meta, f"{name} is materialised but not owned"
        real = {id(p): p for p in model.parameters() if not p.is_meta}
        assert set(real) == own  # materialised bytes are exactly the worker's own
    return sum(1 for c in owners.values() if c > 1)


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_model_replays_exactly_for_every_worker(name: str) -> None:
    factory = REPLAYS[name]
    assert init_replay.init_mode(lambda: factory(), {}, SEED)["init"] == "replay"
    tied = check_workers(factory)
    if name in ("nanogpt_scaled_c_proj", "model_level_init_loop", "plain_tied_lm"):
        assert tied == 1  # embed (first worker) and head (last worker): one object


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_transformers_models_replay_exactly(name: str) -> None:
    factory = hf(name, layers=3, tied=True) if name == "llama" else hf(name, layers=3)
    fields = init_replay.init_mode(factory, {}, SEED)
    assert fields == {"init": "replay", "init_reason": "", "skeleton": True, "verified": True}
    assert check_workers(factory) == 1  # the tied lm_head on the last worker
    if name == "gpt2":  # transformers scales c_proj from the parent GPT2Attention/MLP
        std = float(full(factory).transformer.h[0].attn.c_proj.weight.detach().std())  # type: ignore[union-attr,index,arg-type]
        assert std < 0.012, std


@pytest.mark.parametrize("name", sorted(FULL_BUILDS))
def test_model_that_cannot_replay_is_full_build_with_the_reason(name: str) -> None:
    factory, reason = FULL_BUILDS[name]
    fields = init_replay.init_mode(lambda: factory(), {}, SEED)
    assert fields["init"] == "full-build", fields
    assert reason in fields["init_reason"]
    # the fallback is the full build itself: the same values as the one-process build
    a = init_replay.build_full(lambda: factory(), {}, SEED).state_dict()
    b = full(factory).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_unverified_above_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_replay, "VERIFY_LIMIT", 1000)
    fields = init_replay.init_mode(im.build, {}, SEED)
    assert fields["init"] == "replay" and not fields["verified"]
    assert fields["init_reason"].startswith("not verified: 0.0 GiB of parameters")


def originals() -> list[object]:
    return [nn.Module.register_parameter, *(getattr(torch.nn.init, n) for n in init_replay._RANDOM_INITS)]


def test_other_threads_are_not_affected_and_patches_are_removed() -> None:
    before = originals()
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def slow() -> nn.Module:
        inside.set()
        assert release.wait(30)
        return nn.Linear(4, 4)

    def build_in_thread() -> None:
        seen["model"], _ = init_replay.replay_build(slow, {}, SEED, frozenset({0}))

    worker = threading.Thread(target=build_in_thread)
    worker.start()
    assert inside.wait(30)
    # while that build is active: this thread builds real modules and its init draws
    other = nn.Linear(4, 4)
    assert not other.weight.is_meta and originals() != before  # the wrappers are installed
    meta = torch.empty(3, 3, device="meta")
    state = torch.get_rng_state()
    torch.nn.init.orthogonal_(meta)  # here torch's own behaviour: returns early, draws nothing
    meta.normal_()  # and no dispatch mode: a random op on meta draws nothing either
    assert torch.equal(torch.get_rng_state(), state)
    # a second build that starts and ends inside the first (exits out of order)
    nested, _ = init_replay.replay_build(lambda: nn.Linear(4, 4), {}, SEED)
    assert nested.weight.is_meta
    release.set()
    worker.join(30)
    # kept index 0 only (its values: torch's generator is one per process, so builds in two
    # threads at once interleave their draws, with or without pgc)
    assert not seen["model"].weight.is_meta and seen["model"].bias.is_meta
    assert originals() == before


def test_patches_are_removed_when_the_constructor_raises() -> None:
    before = originals()

    def broken() -> nn.Module:
        nn.Linear(2, 2)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        init_replay.replay_build(broken, {}, SEED)
    assert originals() == before
    assert not nn.Linear(2, 2).weight.is_meta
