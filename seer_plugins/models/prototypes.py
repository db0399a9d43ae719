"""Finding a model's SwAV prototype layers by role, whatever head holds them.

A head lists its prototypes with a `prototype_layers()` method (`seer_swav_head`, or
another plugin's head); VISSL's `swav_head` keeps them as `prototypes<k>`. Hooks that
freeze or normalise prototypes, and the queue, find them here.
"""

from torch import nn
from vissl.models.heads.swav_prototypes_head import SwAVPrototypesHead

from seer_plugins.models.wrappers import unwrap


def _listed_prototypes(model: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for module in model.modules():
        if callable(getattr(module, "prototype_layers", None)):
            found = module.prototype_layers()
        elif isinstance(module, SwAVPrototypesHead):
            found = [getattr(module, f"prototypes{k}") for k in range(module.nmb_heads)]
        else:
            continue
        layers += [layer for layer in found if all(layer is not x for x in layers)]
    return layers


def find_prototype_layers(
    model: nn.Module,
    num_prototypes: list[int] | None = None,
    embedding_dim: int | None = None,
) -> list[nn.Module]:
    """The prototype layers of `model` (wrapped or not), in the order of their scores.

    Args:
        model: a model, a task's DDP-wrapped model, or a head.
        num_prototypes: K_i of each prototype head, as the loss expects them. With
            `embedding_dim`, the layers found are checked against these sizes, and a
            head that lists none is searched by role: its last bias-free nn.Linear
            layers mapping `embedding_dim` to K_i.
        embedding_dim: input dimension of the prototype layers.

    Returns:
        the layers; without sizes, every listed one ([] if there are none).

    Raises:
        ValueError: sizes given and no layers of these sizes; the message lists what
            was found.
    """
    model = unwrap(model)
    layers = _listed_prototypes(model)
    if num_prototypes is None or embedding_dim is None:
        return layers
    if not layers:
        heads = getattr(model, "heads", None)
        head = heads[-1] if heads else model
        candidates = [
            m
            for m in head.modules()
            if isinstance(m, nn.Linear)
            and m.bias is None
            and m.in_features == embedding_dim
        ]
        # Prototypes come after the projection in module order.
        layers = candidates[-len(num_prototypes) :]
    shapes = [tuple(layer.weight.shape) for layer in layers]
    expected = [(k, embedding_dim) for k in num_prototypes]
    if shapes != expected:
        raise ValueError(
            f"prototype layers with weights {expected} not found in the model's head "
            f"(found bias-free layers {shapes}). A head exposes its prototypes with "
            "a `prototype_layers()` method or as its last bias-free nn.Linear "
            "layers (embedding_dim -> K_i), one per entry of num_prototypes"
        )
    return layers
