"""SwAV hooks that key on what the loss can do and what a layer does, not on names.

VISSL's SwAV hooks run only for `LOSS.name == "swav_loss"` and reach the prototypes as
`heads[0].prototypes<i>`. These ask the loss (`has_queue`, `normalize_prototypes`,
`freeze_prototypes_iters`, `num_prototypes`, `embedding_dim`) and find the prototype
layers by role: a head that lists them (`prototype_layers()`, as `seer_swav_head`
does) or else the last bias-free Linear layers of the head mapping the embedding to
K_i scores (VISSL's `swav_head`).

- `seer_swav_queue`: scores the queued embeddings against the current prototypes
  after each forward, for the loss's Sinkhorn.
- `seer_prototypes_normalize`: L2-normalises prototype rows at the start and after
  every update.
- `seer_prototypes_freeze`: drops the prototypes' gradients before the update for the
  first `freeze_prototypes_iters` iterations.

Each is a no-op with a loss that lacks the capability.
"""

import logging

import torch
import torch.nn.functional as F
from torch import nn

from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook


def unwrap(module):
    """The module inside DDP (or any wrapper exposing `.module`)."""
    while isinstance(getattr(module, "module", None), nn.Module):
        module = module.module
    return module


def _listed_prototypes(model: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for module in model.modules():
        lister = getattr(module, "prototype_layers", None)
        if callable(lister):
            layers += [m for m in lister() if all(m is not x for x in layers)]
    return layers


def find_prototype_layers(
    model: nn.Module, num_prototypes: list[int], embedding_dim: int
) -> list[nn.Module]:
    """The prototype layers of `model`, in the order of the scores they produce.

    Args:
        model: the task's model (DDP-wrapped or not) or a head.
        num_prototypes: K_i of each prototype head, as the loss expects them.
        embedding_dim: input dimension of the prototype layers.

    Raises:
        ValueError: no layers of these sizes; the message lists what was found.
    """
    model = unwrap(model)
    layers = _listed_prototypes(model)
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


class _SwAVHook(SeerHook):
    """Finds the loss and prototype layers once, when training starts."""

    # The loss attribute that says whether this hook has work to do.
    capability = ""

    def __init__(self):
        super().__init__()
        self._layers: list[nn.Module] | None = None

    @classmethod
    def from_config(cls, config):
        return cls()

    def _loss(self, task):
        return unwrap(task.loss)

    def _active(self, task) -> bool:
        return bool(getattr(self._loss(task), self.capability, False))

    def _prototypes(self, task) -> list[nn.Module]:
        if self._layers is None:
            loss = self._loss(task)
            self._layers = find_prototype_layers(
                task.model, loss.num_prototypes, loss.embedding_dim
            )
        return self._layers


@register_hook("seer_swav_queue")
class SeerSwAVQueueHook(_SwAVHook):
    """After the forward, score the loss's queue against the current prototypes."""

    capability = "has_queue"

    def on_forward(self, task) -> None:
        loss = self._loss(task)
        if task.train and self._active(task) and loss.queue_active:
            loss.refresh_queue_scores(
                [layer.weight for layer in self._prototypes(task)]
            )


@register_hook("seer_prototypes_normalize")
class SeerNormalizePrototypesHook(_SwAVHook):
    """Keep prototype rows on the unit sphere (SwAV §4: scores are cosines)."""

    capability = "normalize_prototypes"

    @torch.no_grad()
    def _normalize(self, task) -> None:
        if not self._active(task):
            return
        for layer in self._prototypes(task):
            weight = layer._parameters.get("weight")
            # Weight-normalised layers (weight_g, weight_v) are unit rows already.
            if weight is not None:
                weight.copy_(F.normalize(weight, dim=1, p=2))

    def on_start(self, task) -> None:
        # A resumed run's prototypes were saved normalised; normalising them again
        # moves them by rounding, and the resumed losses would differ in the last
        # digits from an uninterrupted run's.
        if getattr(task, "checkpoint", None) is None:
            self._normalize(task)

    def on_update(self, task) -> None:
        self._normalize(task)


@register_hook("seer_prototypes_freeze")
class SeerFreezePrototypesHook(_SwAVHook):
    """No prototype update before `freeze_prototypes_iters` (SwAV's first epoch fix).

    Runs after the backward, before the optimizer step: a parameter without a
    gradient is skipped by SGD entirely (no weight decay, no momentum).
    """

    capability = "freeze_prototypes_iters"

    def on_backward(self, task) -> None:
        iterations = int(getattr(self._loss(task), self.capability, 0) or 0)
        if not task.train or task.iteration >= iterations:
            return
        for layer in self._prototypes(task):
            for param in layer.parameters():
                param.grad = None
        if task.iteration == iterations - 1:
            logging.info("prototypes are trained from iteration %d on", iterations)
