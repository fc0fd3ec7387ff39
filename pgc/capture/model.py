"""Import and build the user's model from a spec's `ModelRef` (`"module.path:factory"`).

The factory's module is searched on sys.path first, then relative to the spec file's directory
and its parents; the directory that made the import work is the *import root* the generated
script needs (recorded next to the module's file).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pgc.diagnostics import error
from pgc.ir.types import ModelRef, Value


@dataclass(frozen=True)
class ModelSource:
    """Where a model factory lives: `module:function`, the module's file, its import root."""

    module: str
    function: str
    file: str
    import_root: str


def _candidate_roots(spec_file: str) -> list[Path]:
    start = Path(spec_file).resolve().parent if spec_file and spec_file != "<none>" else Path.cwd()
    return [start, *start.parents][:6] + [Path.cwd()]


@contextlib.contextmanager
def _on_path(root: Path | None) -> Iterator[None]:
    if root is None:
        yield
        return
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))


def resolve_factory(ref: ModelRef, spec_file: str) -> tuple[Callable[..., Any], ModelSource]:
    """The factory function named by `ref` and where it was found; UserError if unimportable."""
    module_name, sep, func_name = ref.target.partition(":")
    if not sep or not module_name or not func_name:
        raise error(ref.span, f"model target `{ref.target}` must look like `package.module:factory`")
    module = None
    root_used: Path | None = None
    for root in [None, *_candidate_roots(spec_file)]:
        with _on_path(root):
            try:
                module = importlib.import_module(module_name)
                root_used = root
                break
            except ModuleNotFoundError as exc:
                if exc.name is None or not module_name.startswith(exc.name):
                    raise error(ref.span, f"importing `{module_name}` failed: {exc}") from exc
            except Exception as exc:  # the user's module itself fails (syntax, top-level code)
                raise error(ref.span, f"importing `{module_name}` failed: "
                            f"{type(exc).__name__}: {exc}", hint=_where(exc)) from exc
    if module is None:
        raise error(
            ref.span,
            f"cannot import model module `{module_name}`",
            hint="run pgc from the directory that holds the package, or set PYTHONPATH",
        )
    module_file = getattr(module, "__file__", None)
    if not module_file:
        raise error(ref.span, f"model module `{module_name}` is built into Python, not a file",
                    hint="a model factory is a function in your own Python file, "
                    "e.g. `models.gpt:build`")
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise error(ref.span, f"module `{module_name}` has no callable `{func_name}`")
    file = str(Path(module_file).resolve())
    root = root_used or _root_of(Path(file), module_name)
    return factory, ModelSource(module_name, func_name, file, str(root))


def _root_of(file: Path, module_name: str) -> Path:
    """The sys.path entry under which `file` is importable as `module_name`."""
    depth = module_name.count(".") + 1
    return file.parents[depth - 1] if file.name != "__init__.py" else file.parents[depth]


def _where(exc: BaseException) -> str | None:
    """`file:line` in the user's code where `exc` was raised (a syntax error's own line)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"at {exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    return f"raised at {frames[-1].filename}:{frames[-1].lineno}" if frames else None


def _plain(value: Value) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def plain_args(ref: ModelRef) -> dict[str, Any]:
    """The spec's model arguments as the factory receives them (lists for tuples)."""
    return {k: _plain(v) for k, v in ref.args}


def build_model(ref: ModelRef, spec_file: str, device: str | None = None) -> torch.nn.Module:
    """Call the factory with the spec's arguments; `device="meta"` builds without memory."""
    factory, _ = resolve_factory(ref, spec_file)
    kwargs = plain_args(ref)
    ctx = torch.device(device) if device else contextlib.nullcontext()
    try:
        with ctx:
            model = factory(**kwargs)
    except (Exception, SystemExit) as exc:  # a bug or a refusal in the user's factory
        tb = exc.__traceback__
        if isinstance(exc, TypeError) and tb is not None and tb.tb_next is None:
            # raised by the call itself, before any line of the factory ran: the arguments
            raise error(ref.span, f"model factory `{ref.target}` rejected its arguments: "
                        f"{exc}") from exc
        raise error(ref.span, f"model factory `{ref.target}` raised {type(exc).__name__}: {exc}",
                    hint=_where(exc)) from exc
    if not isinstance(model, torch.nn.Module):
        raise error(ref.span, f"model factory `{ref.target}` returned {type(model).__name__}, "
                    "not a torch.nn.Module")
    return model
