"""The base of every generated stage class: it adopts its part of the user's model.

A stage class lists in `ADOPT` the modules, parameters and buffers its forward reads, under the
model's own dotted names (so its state_dict keys are the model's), and `Stage(model)` takes
exactly those objects from a built model: the same objects, so tied weights stay tied.
"""

from __future__ import annotations

import torch


class Stage(torch.nn.Module):
    # (dotted name, kind): kind is module, param, buffer or buffer-nonpersistent
    ADOPT: tuple[tuple[str, str], ...] = ()

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        for name, kind in self.ADOPT:
            *path, leaf = name.split(".")
            here, there = self, model
            for part in path:
                there = getattr(there, part)
                if part not in here._modules:
                    here.add_module(part, torch.nn.Module())
                here = here._modules[part]  # type: ignore[assignment]
            value = getattr(there, leaf)
            if kind == "module":
                here.add_module(leaf, value)
            elif kind == "param":
                here.register_parameter(leaf, value)
            else:
                here.register_buffer(leaf, value, persistent=kind == "buffer")
