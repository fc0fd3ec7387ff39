"""`pgc export-model CKPT -o model.pt`: reassemble a pgc checkpoint into the model's state_dict."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

HELP = "reassemble a checkpoint's per-worker files into the model's own state_dict"
EXAMPLES = """\
  pgc export-model checkpoints -o model.pt               # the newest complete checkpoint
  pgc export-model checkpoints/step_00000030 -o model.pt
  # then: model = build(**args); model.load_state_dict(torch.load("model.pt"))
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint directory (step_*) or the directory holding them")
    p.add_argument("-o", "--out", required=True, help="the state_dict file to write")


def run(args: argparse.Namespace) -> int:
    import torch

    step_dir, manifest = find_checkpoint(Path(args.checkpoint))
    merged = merge_workers(step_dir, manifest)
    model = build_model(manifest["model"])
    state = full_state_dict(model, merged, step_dir)
    torch.save(state, args.out)
    print(f"wrote {args.out}: {len(state)} tensors from {step_dir} (step {manifest['step']})")
    return 0


def _fail(message: str) -> Exception:
    from pgc.diagnostics import Diagnostic, UserError

    return UserError(Diagnostic(span=_no_span(), message=message))


def _no_span() -> Any:
    from pgc.ir.types import NO_SPAN

    return NO_SPAN


def find_checkpoint(path: Path) -> tuple[Path, dict[str, Any]]:
    """The step directory and its manifest: `path` itself, or the newest complete one under it."""
    candidates = [path] if (path / "manifest.json").exists() else sorted(path.glob("step_*"))[::-1]
    for d in candidates:
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and "files" in manifest and "model" in manifest:
            return d, manifest
    raise _fail(f"{path}: no complete checkpoint (a step_* directory with a manifest.json)")


def merge_workers(step_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Every worker file checked against its sha256 and loaded without unpickling code."""
    import torch

    merged: dict[str, Any] = {}
    for name, digest in sorted(manifest["files"].items()):
        f = step_dir / name
        if not f.exists() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            raise _fail(f"{f}: missing or its sha256 differs from the manifest")
        try:
            blob = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError or RuntimeError
            raise _fail(f"{f}: refused, not a plain tensor file ({str(exc).splitlines()[0]})") from exc
        for key, tensor in blob["tensors"].items():
            merged.setdefault(key, tensor)
    return merged


def build_model(model: dict[str, Any]) -> Any:
    """The user's model, built on the meta device (names and tying only, no memory)."""
    import torch

    root = model.get("import_root")
    if root and root not in sys.path:
        sys.path.insert(0, root)
    module_name, _, func = model["target"].partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), func)
    except (ImportError, AttributeError) as exc:
        raise _fail(f"cannot import the model factory `{model['target']}`: {exc}") from exc
    with torch.device("meta"):
        return factory(**model["args"])


def full_state_dict(model: Any, merged: dict[str, Any], where: Path) -> dict[str, Any]:
    """Every key of the model's state_dict, tied names filled from the name a stage kept."""
    aliases: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(p), []).append(name)
    other_names = {n: names for names in aliases.values() for n in names}
    state: dict[str, Any] = {}
    for key in model.state_dict():
        found = next((merged[n] for n in other_names.get(key, [key]) if n in merged), None)
        if found is None:
            raise _fail(f"{where}: the checkpoint has no tensor for `{key}`")
        state[key] = found
    return state
