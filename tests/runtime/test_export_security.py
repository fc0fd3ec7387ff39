"""A checkpoint never chooses code: `pgc export-model` builds the model the user names
(`--spec` or `--from`), compares the manifest's model with it, and loads tensors only with
`weights_only=True`. Every hostile checkpoint below names code that would create a marker file;
the marker must never appear."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
import torch

from pgc.cli import main
from tests.runtime.learned_pos import build

ARGS = {"vocab": 64, "dim": 16, "layers": 4, "max_seq": 8}
SPEC = """\
model m = "learned_pos:build" { vocab = 64, dim = 16, layers = 4, max_seq = 8 }
node n[0..1] { rate = 1 GFLOPS; memory = 1 GiB }
link default { latency = 1 ms; bandwidth = 1 Gbps }
pipeline p {
  model = m
  layout = chain
  stage s0 = [embed, pos, layers[0:2]]
  stage s1 = [layers[2:4], norm, head]
  place s0 on n0
  place s1 on n1
  microbatch { size = 2; seq = 8; count = 2 }
  schedule gpipe
}
"""
EVIL = """\
from pathlib import Path
Path({marker!r}).write_text("imported")

def build(**kwargs):
    Path({marker!r}).write_text("called")
"""


class Pickled:
    """An object whose unpickling would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A spec, the model module it names, a module that plants the marker (importable: its
    folder is on sys.path and the working folder), a checkpoint."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "learned_pos.py").write_text(Path(__file__).with_name("learned_pos.py").read_text())
    marker = tmp_path / "MARKER"
    (tmp_path / "evil_model.py").write_text(EVIL.format(marker=str(marker)))
    (tmp_path / "spec.pgc").write_text(SPEC)
    torch.manual_seed(0)
    return {"root": tmp_path, "marker": marker, "spec": tmp_path / "spec.pgc",
            "ckpt": tmp_path / "ckpt" / "step_00000001"}


def _checkpoint(step: Path, model: dict[str, object], blob: object,
                files: dict[str, str] | None = None) -> None:
    step.mkdir(parents=True, exist_ok=True)
    torch.save(blob, step / "n0.pt")
    digest = hashlib.sha256((step / "n0.pt").read_bytes()).hexdigest()
    manifest = {"step": 1, "spec_hash": "", "model": model,
                "files": files if files is not None else {"n0.pt": digest}}
    (step / "manifest.json").write_text(json.dumps(manifest))


def _state() -> dict[str, torch.Tensor]:
    return dict(build(**ARGS).state_dict())


def _export(world: dict[str, Path], *flags: str) -> tuple[int, str]:
    """`pgc export-model` as the CLI runs it (in this process, to keep the test fast)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["export-model", str(world["ckpt"]), "-o", str(world["root"] / "out.pt"),
                     *flags])
    return code, err.getvalue()


OWN = {"target": "learned_pos:build", "args": ARGS}


def test_matching_checkpoint_exports(world: dict[str, Path]) -> None:
    state = _state()
    _checkpoint(world["ckpt"], OWN, {"tensors": state})
    code, err = _export(world, "--spec", str(world["spec"]))
    assert code == 0, err
    out = torch.load(world["root"] / "out.pt", weights_only=True)
    assert all(torch.equal(out[k], v) for k, v in state.items())


@pytest.mark.parametrize("model", [
    {"target": "evil_model:build", "args": {}},
    {"target": "os:system", "args": {"command": "touch MARKER"}},
    {"target": "learned_pos:build", "args": {**ARGS, "dim": 32}},
])
def test_manifest_naming_other_code_is_refused_and_never_run(
        world: dict[str, Path], model: dict[str, object]) -> None:
    _checkpoint(world["ckpt"], model, {"tensors": _state()})
    code, err = _export(world, "--spec", str(world["spec"]))
    assert code == 2, err
    assert "refused (a checkpoint does not choose the model" in err
    assert f"`{model['target']}`" in err
    assert not world["marker"].exists()
    # trusted: the tensors go into the user's model; the manifest's code still never runs
    code, err = _export(world, "--spec", str(world["spec"]), "--trust-checkpoint-model")
    assert code == 0, err
    assert "warning: " in err
    assert not world["marker"].exists()


def test_without_a_named_model_nothing_is_imported(world: dict[str, Path]) -> None:
    _checkpoint(world["ckpt"], {"target": "evil_model:build", "args": {}}, {"tensors": _state()})
    code, err = _export(world)
    assert code == 2
    assert "name the model the checkpoint trained: --from COMPILED_DIR" in err
    assert not world["marker"].exists()


def test_pickled_code_in_a_worker_file_is_refused(world: dict[str, Path]) -> None:
    _checkpoint(world["ckpt"], OWN, {"tensors": _state(), "opt": Pickled(world["marker"])})
    code, err = _export(world, "--spec", str(world["spec"]))
    assert code == 2 and "refused, not a plain tensor file" in err, err
    assert not world["marker"].exists()


@pytest.mark.parametrize("blob, files, message", [
    ({"tensors": [1, 2]}, None, "not a pgc checkpoint file (no mapping of `tensors`)"),
    ([1, 2], None, "not a pgc checkpoint file (no mapping of `tensors`)"),
    ({"tensors": {}}, {"../spec.pgc": "0" * 64}, "`files` must map plain file names"),
])
def test_malformed_checkpoint_is_one_clear_line(world: dict[str, Path], blob: object,
                                                files: dict[str, str] | None, message: str) -> None:
    _checkpoint(world["ckpt"], OWN, blob, files)
    code, err = _export(world, "--spec", str(world["spec"]))
    assert code == 2 and message in err, err
    assert "Traceback" not in err
