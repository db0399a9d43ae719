"""Fill in and check `LOSS.seer_swav_loss` when a config is composed.

VISSL's `infer_losses_config` sizes the SwAV loss only for the name `swav_loss`
and only for VISSL's own head names. This inferrer does the same for
`seer_swav_loss` and any SwAV head (`swav_head`, `seer_swav_head`, or one that
lists its `prototype_layers()`):

- `num_crops` from the multi-crop transform (`total_num_crops`, or `num_times` of
  `ImgReplicatePil`);
- `num_prototypes`, `embedding_dim` from the last head (its `num_clusters` and
  `dims[-1]`, or else the head built on the meta device);
- `queue.queue_length` rounded down to a multiple of the global batch (as VISSL
  does), `queue.local_queue_length` = queue_length / world size;
- `output_dir` = the checkpoint folder when unset.

A size set explicitly in the config must agree: a mismatch is an error naming the
key, its value and the inferred one. (The SwAV hooks switch themselves on from the
loss's declared capabilities: see :mod:`seer_plugins.hooks.registry`.)
"""

import logging

import torch

from seer_plugins.config import inference
from seer_plugins.config.derived import global_batch_size, num_crops, world_size
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.errors import ConfigError
from seer_plugins.losses.seer_swav_loss import LOSS_NAME
from seer_plugins.losses.swav_criterion import check_crops_for_assign
from seer_plugins.models.head_params import head_entries


class InconsistentConfigError(ConfigError):
    """An explicit config value disagrees with the value inferred from the model."""


def head_sizes(model_config) -> tuple[list[int] | None, int | None]:
    """`(num_prototypes, embedding_dim)` of the last head of `MODEL.HEAD.PARAMS`."""
    entries = head_entries(model_config.HEAD.PARAMS)
    if not entries:
        return None, None
    name, kwargs = entries[-1].name, entries[-1].kwargs
    if "num_clusters" in kwargs and "dims" in kwargs:
        clusters = kwargs["num_clusters"]
        clusters = list(clusters) if isinstance(clusters, list | tuple) else [clusters]
        return [int(k) for k in clusters], int(kwargs["dims"][-1])
    from vissl.models.heads import get_model_head

    # Any other head: build it without memory and ask it for its prototypes.
    with torch.device("meta"):
        head = get_model_head(name)(model_config, **kwargs)
    lister = getattr(head, "prototype_layers", None)
    if not callable(lister) or not lister():
        return None, None
    layers = lister()
    return [layer.weight.shape[0] for layer in layers], layers[0].weight.shape[1]


def _set_or_check(block, key: str, inferred, where: str) -> None:
    current = block.get(key)
    if inferred is None:
        if current is None:
            raise InconsistentConfigError(
                f"config.LOSS.{LOSS_NAME}.{key}",
                current,
                f"could not be inferred from {where}",
                "set it explicitly",
            )
        return
    if current is not None and current != inferred:
        raise InconsistentConfigError(
            f"config.LOSS.{LOSS_NAME}.{key}",
            current,
            f"disagrees with {where}, which gives {inferred!r}",
            "remove the key to have it inferred",
        )
    block[key] = inferred


@register_config_inferrer(order=inference.LOSS)
def infer_seer_swav_loss(config) -> None:
    if config.LOSS.name != LOSS_NAME:
        return
    loss = config.LOSS[LOSS_NAME]
    entries = head_entries(config.MODEL.HEAD.PARAMS)
    head = entries[-1].name if entries else None
    num_prototypes, embedding_dim = head_sizes(config.MODEL)
    _set_or_check(loss, "num_prototypes", num_prototypes, f"the head {head!r}")
    _set_or_check(loss, "embedding_dim", embedding_dim, f"the head {head!r}")
    crops = num_crops(config.DATA.TRAIN.TRANSFORMS)
    _set_or_check(loss, "num_crops", crops, "config.DATA.TRAIN.TRANSFORMS")
    try:
        check_crops_for_assign(
            loss.crops_for_assign,
            loss.num_crops,
            key=f"config.LOSS.{LOSS_NAME}.crops_for_assign",
        )
    except ConfigError as error:
        raise InconsistentConfigError(
            error.key, error.value, error.problem, error.valid
        ) from None

    processes = world_size(config)
    global_batch = global_batch_size(config)
    queue = loss.queue
    length = int(queue.queue_length or 0)
    rounded = length - length % global_batch
    if length and not rounded:
        raise InconsistentConfigError(
            f"config.LOSS.{LOSS_NAME}.queue.queue_length",
            length,
            f"is shorter than the global batch size {global_batch} "
            "(BATCHSIZE_PER_REPLICA x world size)",
            f"set 0 (no queue) or a multiple of {global_batch}",
        )
    if rounded != length:
        logging.warning(
            "config.LOSS.%s.queue.queue_length=%d rounded down to %d, a multiple of "
            "the global batch size %d",
            LOSS_NAME,
            length,
            rounded,
            global_batch,
        )
        queue.queue_length = rounded
    local = rounded // processes
    if queue.get("local_queue_length") not in (None, 0, local):
        raise InconsistentConfigError(
            f"config.LOSS.{LOSS_NAME}.queue.local_queue_length",
            queue.local_queue_length,
            f"disagrees with queue_length {rounded} / world size {processes} = {local}",
            "remove the key to have it inferred",
        )
    queue.local_queue_length = local

    if not loss.get("output_dir"):
        loss.output_dir = config.CHECKPOINT.DIR
