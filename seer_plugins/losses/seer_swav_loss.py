"""`LOSS.name: seer_swav_loss`: the config adapter over :class:`SeerSwAVCriterion`.

Takes the keys of VISSL's `LOSS.swav_loss` block, so a stock SwAV config switches by
renaming `swav_loss` to `seer_swav_loss`, plus `freeze_prototypes_iters`. The sizes
(`num_crops`, `num_prototypes`, `embedding_dim`, `queue.local_queue_length`) are
filled by :mod:`seer_plugins.losses.swav_config` when the config is composed.

Besides the loss value, the adapter answers the questions the SwAV hooks ask (see
:mod:`seer_plugins.hooks.swav`): does it have a queue, which prototype sizes does it
expect, should prototypes be normalised or frozen, what is the collapsed loss. Its
class declares those `capabilities`, so the hooks switch themselves on for it.

Defaults live in configs/defaults/swav.yaml (always merged when composing); the
constructors' keyword defaults read the same file. `from_config` passes on what the
config sets; a null keeps the default.
"""

from collections.abc import Mapping, Sequence

import torch
from classy_vision.losses import ClassyLoss, register_loss

from seer_plugins.losses.swav_criterion import DEFAULTS, SeerSwAVCriterion

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
# Config keys passed to SeerSwAVCriterion under the same name.
CRITERION_KEYS = (
    "num_crops",
    "crops_for_assign",
    "embedding_dim",
    "temperature",
    "epsilon",
    "num_iters",
    "use_double_precision",
    "temp_hard_assignment_iters",
)
# queue.<key> -> SeerSwAVCriterion argument
QUEUE_KEYS = {
    "local_queue_length": "local_queue_length",
    "start_iter": "queue_start_iter",
}


def _criterion_property(name: str) -> property:
    """The adapter's read-only view of the criterion's attribute `name`."""
    return property(lambda self: getattr(self.criterion, name))


@register_loss(LOSS_NAME)
class SeerSwAVLoss(ClassyLoss):
    """SwAV loss over the head's `[embedding, scores_0, scores_1, ...]` output.

    Args:
        criterion: the loss math.
        normalize_prototypes: L2-normalise prototype rows after every update.
        freeze_prototypes_iters: prototypes get no update before this iteration.
    """

    # What hooks may rely on (seer_plugins.hooks.registry.loss_capabilities).
    capabilities = frozenset({"swav_prototypes", "swav_queue", "collapse_value"})

    def __init__(
        self,
        criterion: SeerSwAVCriterion,
        normalize_prototypes: bool = DEFAULTS["normalize_last_layer"],
        freeze_prototypes_iters: int = DEFAULTS["freeze_prototypes_iters"],
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
        criterion = SeerSwAVCriterion(
            **_given(loss_config, {key: key for key in CRITERION_KEYS}),
            **_given(queue, QUEUE_KEYS),
            num_prototypes=_as_list(loss_config["num_prototypes"]),
            output_dir=loss_config.get("output_dir") or None,  # "" means none too
        )
        adapter_keys = {
            "normalize_last_layer": "normalize_prototypes",
            "freeze_prototypes_iters": "freeze_prototypes_iters",
        }
        return cls(criterion, **_given(loss_config, adapter_keys))

    def forward(self, output: Sequence[torch.Tensor], target=None) -> torch.Tensor:
        if not isinstance(output, list | tuple) or len(output) < 2:
            raise ValueError(
                f"{LOSS_NAME} expects the head output [embedding, scores_0, ...]; "
                "use a SwAV head with return_embeddings=True"
            )
        embedding, *scores = output
        return self.criterion(embedding, scores)

    # What the hooks ask (capabilities, not names), answered by the criterion.
    has_queue = _criterion_property("has_queue")
    queue_active = _criterion_property("queue_active")
    embedding_dim = _criterion_property("embedding_dim")
    collapse_value = _criterion_property("collapse_value")

    def refresh_queue_scores(self, prototype_weights: Sequence[torch.Tensor]) -> None:
        self.criterion.refresh_queue_scores(prototype_weights)

    def reshard_state(self, states: Sequence[dict], rank: int, world_size: int) -> dict:
        """This rank's loss state from those of a run with another number of ranks
        (the SwAV queue redealt: :func:`swav_criterion.reshard_queue`)."""
        prefix = "criterion."
        inner = [
            {k.removeprefix(prefix): v for k, v in s.items() if k.startswith(prefix)}
            for s in states
        ]
        state = self.criterion.reshard_state(inner, rank, world_size)
        return {prefix + k: v for k, v in state.items()}

    @property
    def num_prototypes(self) -> list[int]:
        return list(self.criterion.num_prototypes)

    def extra_repr(self) -> str:
        return (
            f"normalize_prototypes={self.normalize_prototypes}, "
            f"freeze_prototypes_iters={self.freeze_prototypes_iters}"
        )


def _given(block: Mapping, names: Mapping[str, str]) -> dict:
    """`{argument: block[key]}` for the keys `block` sets: a null keeps the
    argument's default (configs/defaults/swav.yaml's)."""
    return {arg: block[key] for key, arg in names.items() if block.get(key) is not None}


def _as_list(value) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
