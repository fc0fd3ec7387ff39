"""`pgc export-model CKPT -o model.pt`: reassemble a pgc checkpoint into the model's state_dict."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HELP = "reassemble a checkpoint's per-worker files into the model's own state_dict"
EXAMPLES = """\
  pgc export-model out/checkpoints --from out -o model.pt     # newest complete checkpoint
  pgc export-model ckpt/step_00000030 --spec spec.pgc -o model.pt
  pgc export-model ck-alpha ck-beta --from out -o model.pt   # each host kept its own files
  # then: model = build(**args); model.load_state_dict(torch.load("model.pt"))
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="+",
                   help="a checkpoint directory (step_*) or the directory holding them; several "
                   "when hosts kept their workers' files in folders of their own")
    p.add_argument("-o", "--out", required=True,
                   help="the state_dict file to write (--format hf: the folder)")
    p.add_argument("--format", choices=("pt", "hf"), default="pt",
                   help="pt: a torch state_dict file; hf: a transformers save_pretrained folder "
                   "(safetensors) of the model, or of the transformers model it wraps")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from", dest="compiled", metavar="DIR",
                        help="the compiled folder (its plan.json) whose model the checkpoint trained")
    source.add_argument("--spec", metavar="SPEC", help="the spec whose model the checkpoint trained")
    p.add_argument("--trust-checkpoint-model", action="store_true",
                   help="export even when the checkpoint's manifest names another model or other "
                   "arguments; the model is still the one --from/--spec names")


def run(args: argparse.Namespace) -> int:
    import torch

    step_dir, manifest, folders = find_checkpoint([Path(c) for c in args.checkpoint])
    target, model_args, factory = named_model(args)
    same_model(step_dir, manifest, target, model_args, args.trust_checkpoint_model)
    merged = merge_workers(step_dir, manifest, folders)
    with torch.device("meta"):
        model = factory(**model_args)
    state = full_state_dict(model, merged, step_dir)
    if args.format == "hf":
        save_pretrained(factory, model_args, state, Path(args.out))
    else:
        torch.save(state, args.out)
    print(f"wrote {args.out}: {len(state)} tensors from {step_dir} (step {manifest['step']})")
    return 0


def save_pretrained(factory: Any, model_args: dict[str, Any], state: dict[str, Any],
                    out: Path) -> None:
    """The model with the checkpoint's tensors, saved by the transformers model it is (or the
    first it holds) with `save_pretrained` (safetensors), so `from_pretrained(out)` loads it."""
    try:
        from transformers import PreTrainedModel
    except ImportError:
        raise _fail("--format hf needs the `transformers` package (pip install transformers)") from None
    model = factory(**model_args)
    hf = next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
    if hf is None:
        raise _fail(f"--format hf: `{type(model).__name__}` is not a transformers PreTrainedModel "
                    "and holds none; export a state_dict with --format pt")
    model.load_state_dict(state, strict=True)
    hf.save_pretrained(out, safe_serialization=True)


def _fail(message: str) -> Exception:
    from pgc.diagnostics import Diagnostic, UserError

    return UserError(Diagnostic(span=_no_span(), message=message))


def _no_span() -> Any:
    from pgc.ir.types import NO_SPAN

    return NO_SPAN


def find_checkpoint(paths: list[Path]) -> tuple[Path, dict[str, Any], list[Path]]:
    """The newest step with a manifest (`manifest.json`, written where rank 0 ran) in one of
    `paths` (each a step folder, or a folder of them): its folder, the manifest, and that
    step's folder in every path (hosts without a shared filesystem each keep their files)."""
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
            if isinstance(manifest, dict) and "files" in manifest and "model" in manifest:
                return d, manifest, steps[name]
    shown = ", ".join(str(p) for p in paths)
    raise _fail(f"{shown}: no complete checkpoint (a step_* directory with a manifest.json)")


def merge_workers(step_dir: Path, manifest: dict[str, Any],
                  folders: list[Path] | None = None) -> dict[str, Any]:
    """Every worker file, found in one of `folders` (default: the manifest's), checked
    against its sha256 and loaded without unpickling code."""
    import torch

    merged: dict[str, Any] = {}
    files = manifest["files"]
    if not isinstance(files, dict) or not all(
            isinstance(n, str) and isinstance(d, str) and Path(n).name == n and n not in (".", "..")
            for n, d in files.items()):
        raise _fail(f"{step_dir / 'manifest.json'}: `files` must map plain file names in the "
                    "checkpoint folder to sha256 digests")
    for name, digest in sorted(files.items()):
        f = next((d / name for d in folders or [] if (d / name).exists()), step_dir / name)
        if not f.exists() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            raise _fail(f"{f}: missing or its sha256 differs from the manifest")
        try:
            blob = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError or RuntimeError
            raise _fail(f"{f}: refused, not a plain tensor file ({str(exc).splitlines()[0]})") from exc
        tensors = blob.get("tensors") if isinstance(blob, dict) else None
        if not isinstance(tensors, dict):
            raise _fail(f"{f}: not a pgc checkpoint file (no mapping of `tensors`)")
        for key, tensor in tensors.items():
            merged.setdefault(key, tensor)
    return merged


def named_model(args: argparse.Namespace) -> tuple[str, dict[str, Any], Any]:
    """(target, arguments, factory) of the model the user names with --from or --spec. A
    checkpoint never chooses code: its manifest is only compared with this (`same_model`)."""
    if args.compiled:
        from pgc.runtime.model import import_factory
        from pgc.runtime.plan import PlanError, load_plan

        try:
            plan = load_plan(Path(args.compiled) / "plan.json")
            factory = import_factory(plan)
        except PlanError as exc:
            raise _fail(f"--from {args.compiled}: {exc}") from None
        return plan.model.target, _json(plan.model.args), factory
    if args.spec:
        from pgc.capture.model import plain_args, resolve_factory
        from pgc.frontend import load_program

        program = load_program(args.spec)
        factory, _ = resolve_factory(program.model, program.file)
        return program.model.target, _json(plain_args(program.model)), factory
    raise _fail("name the model the checkpoint trained: --from COMPILED_DIR (its plan.json) or "
                "--spec SPEC; a checkpoint's manifest never chooses the code pgc runs")


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def same_model(step_dir: Path, manifest: dict[str, Any], target: str, args: dict[str, Any],
               trust: bool) -> None:
    """Refuse a checkpoint whose manifest names another model than the user's, unless trusted."""
    named = manifest.get("model")
    named = named if isinstance(named, dict) else {}
    if named.get("target") == target and _json(named.get("args")) == args:
        return
    message = (f"{step_dir / 'manifest.json'}: the checkpoint names the model "
               f"`{named.get('target')}` with {named.get('args')}, not `{target}` with {args}")
    if not trust:
        raise _fail(message + "; refused (a checkpoint does not choose the model: pass "
                    "--trust-checkpoint-model to export its tensors into yours anyway)")
    print(f"pgc: warning: {message}; exporting into `{target}` as asked", file=sys.stderr)


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
