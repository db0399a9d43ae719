"""The module inside a wrapper: DDP's `.module`, ClassyVision's `.classy_model`.

VISSL's model is a ClassyModel, which ClassyVision hands out inside a
`ClassyModelWrapper`: not an `nn.Module`, although it reports the model's class to
`isinstance`. Sharding and state-dict code needs the module itself.
"""

from torch import nn


def unwrap(module):
    """`module` without its wrappers (DDP's `.module`, `.classy_model`, repeatedly)."""
    while True:
        inner = getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(module, "classy_model", None)
        if not isinstance(inner, nn.Module) or inner is module:
            return module
        module = inner
