"""What cannot run sharded, refused when a config with `MODEL.SEER_FSDP.ENABLED` is
composed, before any process starts:

- another task than `seer_self_supervision_task`, the one that shards (VISSL's own
  `self_supervision_task` is switched to it, as `infer_seer_amp` switches the step);
- VISSL's ZeRO optimizer (`OPTIMIZER.use_zero`), a second way of sharding the
  optimizer state;
- `seer_regnet`'s padded blocks (`pad_group_width_to` > 1): their state dict is a
  copy in the published layout and their initialisation keeps the padding zero,
  neither of which is written for shards yet;
- float16 parameters without the float16 gradient scaler of `seer_train_step`
  (`MODEL.AMP_PARAMS.SEER_AMP_DTYPE: float16`): unscaled fp16 gradients underflow.

Unknown keys and bad values of `MODEL.SEER_FSDP` itself are refused by its parser,
:func:`seer_plugins.sharding.config.sharding_settings`.
"""

import torch

from seer_plugins.config import inference
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.config.precision import amp_dtype
from seer_plugins.errors import ConfigError
from seer_plugins.models.regnet_params import CONFIG_KEY as TRUNK_KEY
from seer_plugins.models.seer_regnet import group_padding
from seer_plugins.sharding.config import CONFIG_KEY, PREFIX, sharding_settings
from seer_plugins.trainer.task import TASK_NAME

# VISSL's default task: switched to ours when sharding is on.
VISSL_TASK_NAME = "self_supervision_task"


@register_config_inferrer(order=inference.COMPONENTS)
def check_seer_fsdp_config(config) -> None:
    """Refuse bad `MODEL.SEER_FSDP` values, and what cannot run sharded."""
    settings = sharding_settings(config)
    if not settings.enabled:
        return
    task = config.TRAINER.TASK_NAME
    if task == VISSL_TASK_NAME:
        config.TRAINER.TASK_NAME = TASK_NAME
    elif task != TASK_NAME:
        raise ConfigError(
            "config.TRAINER.TASK_NAME",
            task,
            f"does not shard the model ({PREFIX}.ENABLED=True)",
            f"{TASK_NAME!r}, the task that applies {CONFIG_KEY}",
        )
    if config.OPTIMIZER.get("use_zero", False):
        raise ConfigError(
            "config.OPTIMIZER.use_zero",
            True,
            f"shards the optimizer state a second way ({PREFIX}.ENABLED=True)",
            f"False: {CONFIG_KEY} already shards it",
        )
    pad = group_padding(config.MODEL)
    if pad > 1:
        raise ConfigError(
            f"{TRUNK_KEY}.pad_group_width_to",
            pad,
            f"padded blocks are not sharded yet ({PREFIX}.ENABLED=True)",
            "1 (no padding) when sharding",
        )
    if settings.param_dtype == torch.float16 and amp_dtype(config) != torch.float16:
        raise ConfigError(
            f"{PREFIX}.PARAM_DTYPE",
            config.MODEL[CONFIG_KEY].PARAM_DTYPE,
            "computes gradients in float16 without gradient scaling",
            "set config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=float16 (its scaler), or "
            "PARAM_DTYPE bfloat16 / float32",
        )
