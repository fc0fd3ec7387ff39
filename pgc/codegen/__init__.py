"""Code generation: the standalone `train.py` (runtime template + plan + stage code)."""

from pgc.codegen.emit import emit, launch_command

__all__ = ["emit", "launch_command"]
