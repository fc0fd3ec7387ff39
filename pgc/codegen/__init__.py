"""Code generation: a compiled folder (train.py, plan.json, the runtime package)."""

from pgc.codegen.emit import emit, launch_command

__all__ = ["emit", "launch_command"]
