"""`LOSS.name: seer_swav_loss`: the config adapter over :class:`SeerSwAVCriterion`.

Takes the keys of VISSL's `LOSS.swav_loss` block, so a stock SwAV config switches by
renaming `swav_loss` to `seer_swav_loss`, plus `freeze_prototypes_iters`. The sizes
(`num_crops`, `num_prototypes`, `embedding_dim`, `queue.local_queue_length`) are
filled by :mod:`seer_plugins.losses.swav_config` when the config is composed.

Besides the loss value, the adapter answers the questions the SwAV hooks ask (see
:mod:`seer_plugins.hooks.swav`): does it have a queue, which prototype sizes does it
expect, should prototypes be normalised or frozen, what is the collapsed loss.
"""

from collections.abc import Mapping, Sequence

import torch
from classy_vision.losses import ClassyLoss, register_loss

from seer_plugins.losses.swav_criterion import SeerSwAVCriterion

LOSS_NAME = "seer_swav_loss"
# Keys of VISSL's swav_loss block, and ours.
CONFIG_KEYS = {
    "embedding_dim",
    "temperature",
    "use_double_precision",
    "normalize_last_layer",
    "num_iters",
    "epsilon",
    "num_crops",
    "crops_for_assign",
    "num_prototypes",
    "temp_hard_assignment_iters",
    "output_dir",
    "queue",
    "freeze_prototypes_iters",
}
INFERRED_KEYS = ("num_crops", "num_prototypes", "embedding_dim")


@register_loss(LOSS_NAME)
class SeerSwAVLoss(ClassyLoss):
    """SwAV loss over the head's `[embedding, scores_0, scores_1, ...]` output.

    Args:
        criterion: the loss math.
        normalize_prototypes: L2-normalise prototype rows after every update.
        freeze_prototypes_iters: prototypes get no update before this iteration.
    """

    def __init__(
        self,
        criterion: SeerSwAVCriterion,
        normalize_prototypes: bool = True,
        freeze_prototypes_iters: int = 0,
    ):
        super().__init__()
        self.criterion = criterion
        self.normalize_prototypes = normalize_prototypes
        self.freeze_prototypes_iters = freeze_prototypes_iters

    @classmethod
    def from_config(cls, loss_config: Mapping) -> "SeerSwAVLoss":
        key = f"LOSS.{LOSS_NAME}"
        unknown = set(loss_config) - CONFIG_KEYS - {"name"}
        if unknown:
            raise ValueError(
                f"{key} has unknown keys {sorted(unknown)}; valid keys: "
                f"{sorted(CONFIG_KEYS)}"
            )
        for name in INFERRED_KEYS:
            if loss_config.get(name) is None:
                raise ValueError(
                    f"{key}.{name} is not set: compose the config with "
                    "seer_plugins.compose (its inference fills it from the head and "
                    "the transforms) or set it explicitly"
                )
        queue = loss_config.get("queue") or {}
        output_dir = loss_config.get("output_dir")
        criterion = SeerSwAVCriterion(
            num_crops=int(loss_config["num_crops"]),
            crops_for_assign=list(loss_config.get("crops_for_assign", [0, 1])),
            num_prototypes=_as_list(loss_config["num_prototypes"]),
            embedding_dim=int(loss_config["embedding_dim"]),
            temperature=float(loss_config.get("temperature", 0.1)),
            epsilon=float(loss_config.get("epsilon", 0.05)),
            num_iters=int(loss_config.get("num_iters", 3)),
            use_double_precision=bool(loss_config.get("use_double_precision", False)),
            temp_hard_assignment_iters=int(
                loss_config.get("temp_hard_assignment_iters", 0)
            ),
            local_queue_length=int(queue.get("local_queue_length", 0) or 0),
            queue_start_iter=int(queue.get("start_iter", 0) or 0),
            output_dir=output_dir or None,
        )
        return cls(
            criterion,
            normalize_prototypes=bool(loss_config.get("normalize_last_layer", True)),
            freeze_prototypes_iters=int(loss_config.get("freeze_prototypes_iters", 0)),
        )

    def forward(self, output: Sequence[torch.Tensor], target=None) -> torch.Tensor:
        if not isinstance(output, list | tuple) or len(output) < 2:
            raise ValueError(
                f"{LOSS_NAME} expects the head output [embedding, scores_0, ...]; "
                "use a SwAV head with return_embeddings=True"
            )
        embedding, *scores = output
        return self.criterion(embedding, scores)

    # What the hooks ask (capabilities, not names).
    @property
    def has_queue(self) -> bool:
        return self.criterion.has_queue

    @property
    def queue_active(self) -> bool:
        return self.criterion.queue_active

    def refresh_queue_scores(self, prototype_weights: Sequence[torch.Tensor]) -> None:
        self.criterion.refresh_queue_scores(prototype_weights)

    @property
    def num_prototypes(self) -> list[int]:
        return list(self.criterion.num_prototypes)

    @property
    def embedding_dim(self) -> int:
        return self.criterion.embedding_dim

    @property
    def collapse_value(self) -> float:
        return self.criterion.collapse_value

    def extra_repr(self) -> str:
        return (
            f"normalize_prototypes={self.normalize_prototypes}, "
            f"freeze_prototypes_iters={self.freeze_prototypes_iters}"
        )


def _as_list(value) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
