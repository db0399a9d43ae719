"""SwAV hooks that key on what the loss can do and what a layer does, not on names.

VISSL's SwAV hooks run only for `LOSS.name == "swav_loss"` and reach the prototypes as
`heads[0].prototypes<i>`. These ask the loss (`has_queue`, `normalize_prototypes`,
`freeze_prototypes_iters`, `num_prototypes`, `embedding_dim`) and find the prototype
layers by role: a head that lists them (`prototype_layers()`, as `seer_swav_head`
does) or else the last bias-free Linear layers of the head mapping the embedding to
K_i scores (VISSL's `swav_head`).

- `seer_swav_queue`: scores the queued embeddings against the current prototypes
  after each forward, for the loss's Sinkhorn. Sharded prototypes are gathered
  whole for it (every rank runs the hook: the all-gather is collective).
- `seer_prototypes_normalize`: L2-normalises prototype rows at the start and after
  every update. Sharded prototypes hold whole rows on each rank (FSDP2 shards dim
  0), so each rank normalises its own rows.
- `seer_prototypes_freeze`: drops the prototypes' gradients before the update for the
  first `freeze_prototypes_iters` iterations (on every rank: LARC all-reduces the
  norms of the parameters that have gradients).

Each is wanted when the configured loss class declares the capability it serves
(`capabilities`, e.g. `seer_swav_loss`'s), and is a no-op at run time with a loss
instance that lacks it.
"""

import logging

import torch
import torch.nn.functional as F
from torch import nn

from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import loss_capabilities, register_hook
from seer_plugins.models.prototypes import find_prototype_layers
from seer_plugins.models.wrappers import unwrap
from seer_plugins.sharding.dtensors import full_tensor, local_tensor, rows_are_local


def _loss_can(capability: str):
    """`wanted` predicate: the configured loss class declares `capability`."""

    def wanted(config) -> bool:
        return capability in loss_capabilities(config)

    return wanted


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


@register_hook("seer_swav_queue", order=10, wanted=_loss_can("swav_queue"))
class SeerSwAVQueueHook(_SwAVHook):
    """After the forward, score the loss's queue against the current prototypes."""

    capability = "has_queue"

    def on_forward(self, task) -> None:
        loss = self._loss(task)
        if task.train and self._active(task) and loss.queue_active:
            with torch.no_grad():
                weights = [
                    full_tensor(layer.weight) for layer in self._prototypes(task)
                ]
            loss.refresh_queue_scores(weights)


@register_hook(
    "seer_prototypes_normalize", order=11, wanted=_loss_can("swav_prototypes")
)
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
            if weight is None:
                continue
            if not rows_are_local(weight):
                raise ValueError(
                    f"prototype weight sharded as {weight.placements}: rows are not "
                    "whole on each rank"
                )
            rows = local_tensor(weight)
            rows.copy_(F.normalize(rows, dim=1, p=2))

    def on_start(self, task) -> None:
        # A resumed run's prototypes were saved normalised; normalising them again
        # moves them by rounding, and the resumed losses would differ in the last
        # digits from an uninterrupted run's.
        if getattr(task, "checkpoint", None) is None:
            self._normalize(task)

    def on_update(self, task) -> None:
        self._normalize(task)


@register_hook("seer_prototypes_freeze", order=12, wanted=_loss_can("swav_prototypes"))
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
