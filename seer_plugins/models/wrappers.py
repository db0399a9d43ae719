"""The module inside a wrapper: DDP, and anything else exposing `.module`."""

from torch import nn


def unwrap(module):
    """`module` without its wrappers (DDP's `.module`, repeatedly)."""
    while isinstance(getattr(module, "module", None), nn.Module):
        module = module.module
    return module
