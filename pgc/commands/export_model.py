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
  pgc export-model ck-host-a ck-host-b -o model.pt      # each host kept its own workers' files
  # then: model = build(**args); model.load_state_dict(torch.load("model.pt"))
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="+",
                   help="a checkpoint directory (step_*) or the directory holding them; several "
                   "when hosts kept their workers' files in folders of their own")
    p.add_argument("-o", "--out", required=True, help="the state_dict file to write")


def run(args: argparse.Namespace) -> int:
    import torch

    step_dir, manifest, files = find_checkpoint([Path(c) for c in args.checkpoint])
    merged = merge_workers(files, manifest)
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


def find_checkpoint(paths: list[Path]) -> tuple[Path, dict[str, Any], dict[str, Path]]:
    """The newest step whose manifest (`manifest.json`, written where rank 0 ran) lists files
    that the folders hold between them: its folder, the manifest and each file's path."""
    steps: dict[str, list[Path]] = {}  # step folder name -> that step's folder in each path
    for path in paths:
        own = (path / "manifest.json").exists() or any(path.glob("host-*.json"))
        for d in [path] if own else sorted(path.glob("step_*")):
            steps.setdefault(d.name, []).append(d)
    for name in sorted(steps, reverse=True):
        for d in steps[name]:
            try:
                manifest = json.loads((d / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            if not (isinstance(manifest, dict) and isinstance(manifest.get("files"), dict)
                    and "model" in manifest):
                continue
            files = {f: next((x / f for x in steps[name] if (x / f).exists()), d / f)
                     for f in manifest["files"]}
            if all(p.exists() for p in files.values()):
                return d, manifest, files
    shown = ", ".join(str(p) for p in paths)
    raise _fail(f"{shown}: no complete checkpoint (a step_* directory with a manifest.json "
                "whose files these folders hold)")


def merge_workers(files: dict[str, Path], manifest: dict[str, Any]) -> dict[str, Any]:
    """Every worker file checked against its sha256 and loaded without unpickling code."""
    import torch

    merged: dict[str, Any] = {}
    for name, digest in sorted(manifest["files"].items()):
        f = files[name]
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
