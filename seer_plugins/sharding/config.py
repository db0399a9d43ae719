"""`MODEL.SEER_FSDP`: parsed into :class:`ShardingSettings`, refused at compose time.

The keys and their defaults are in configs/defaults/sharding.yaml. A composed config
with sharding on is checked here (:func:`check_seer_fsdp_config`), before any process
starts: unknown keys, unknown dtypes, and the combinations that cannot work:

- another task than `seer_self_supervision_task`, the one that shards (VISSL's own
  `self_supervision_task` is switched to it, as `infer_seer_amp` switches the step);
- VISSL's ZeRO optimizer (`OPTIMIZER.use_zero`), a second way of sharding the
  optimizer state;
- `seer_regnet`'s padded blocks (`pad_group_width_to` > 1): their state dict is a
  copy in the published layout and their initialisation keeps the padding zero,
  neither of which is written for shards yet;
- float16 parameters without the float16 gradient scaler of `seer_train_step`
  (`MODEL.AMP_PARAMS.SEER_AMP_DTYPE: float16`): unscaled fp16 gradients underflow.

`PARAM_DTYPE: ""` (the default) gathers in the autocast dtype: what the convolutions
compute in anyway, at half the all-gather traffic and memory of float32.
"""

from dataclasses import dataclass

import torch

from seer_plugins.checks.errors import ConfigError, ConfigValueError
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.trainer.amp import amp_dtype

CONFIG_KEY = "SEER_FSDP"
PREFIX = f"config.MODEL.{CONFIG_KEY}"
TASK_NAME = "seer_self_supervision_task"
# VISSL's default task: switched to ours when sharding is on.
VISSL_TASK_NAME = "self_supervision_task"

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
# Gradient sums only: float64 sums of float32 gradients are exact (for ranks whose
# gradients are within 2^29 of each other), hence the same in any order, on any
# number of nodes, and as DDP's with the same sums; at twice float32's traffic.
REDUCE_ONLY_DTYPES = {"float64": torch.float64, "fp64": torch.float64}
KEYS = (
    "ENABLED",
    "PARAM_DTYPE",
    "REDUCE_DTYPE",
    "RESHARD_AFTER_FORWARD",
    "AUTO_WRAP_THRESHOLD",
)


@dataclass(frozen=True)
class ShardingSettings:
    """What `MODEL.SEER_FSDP` asks for (defaults: configs/defaults/sharding.yaml)."""

    enabled: bool
    param_dtype: torch.dtype
    reduce_dtype: torch.dtype
    reshard_after_forward: bool
    auto_wrap_threshold: int

    @property
    def low_precision(self) -> bool:
        """Gathered parameters in bf16/fp16: BatchNorm then needs float32 units."""
        return self.param_dtype != torch.float32


# A config without the section (composed outside seer_plugins): no sharding.
DISABLED = ShardingSettings(False, torch.float32, torch.float32, True, 0)


def _bool(value, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigValueError(
            f"{PREFIX}.{key}", value, "is not a boolean", "True or False"
        )
    return value


def _dtype(value, key: str) -> torch.dtype:
    if value == "" and key == "PARAM_DTYPE":
        return None  # the autocast dtype
    valid = DTYPES if key == "PARAM_DTYPE" else {**DTYPES, **REDUCE_ONLY_DTYPES}
    if value not in valid:
        empty = ' or "" (the autocast dtype)' if key == "PARAM_DTYPE" else ""
        raise ConfigValueError(
            f"{PREFIX}.{key}",
            value,
            "is not a dtype name",
            f"one of {list(valid)}{empty}",
        )
    return valid[value]


def _threshold(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigValueError(
            f"{PREFIX}.AUTO_WRAP_THRESHOLD",
            value,
            "is not a parameter count",
            "an integer >= 0 (0: no layer is a unit of its own)",
        )
    return value


def sharding_settings(config) -> ShardingSettings:
    """The settings of `config.MODEL.SEER_FSDP` (disabled when the section is absent).

    Raises:
        ConfigError: an unknown key or a bad value, naming the key.
    """
    section = dict(config["MODEL"].get(CONFIG_KEY) or {})
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}.{unknown[0]}",
            section[unknown[0]],
            "is not a SEER_FSDP key",
            f"valid: {list(KEYS)}",
        )
    if not section:
        return DISABLED
    missing = [key for key in KEYS if key not in section]
    if missing:
        raise ConfigError(
            f"{PREFIX}.{missing[0]}",
            None,
            "is missing",
            "every key of configs/defaults/sharding.yaml",
        )
    param_dtype = _dtype(section["PARAM_DTYPE"], "PARAM_DTYPE")
    if param_dtype is None:
        param_dtype = amp_dtype(config) or torch.float32
    return ShardingSettings(
        enabled=_bool(section["ENABLED"], "ENABLED"),
        param_dtype=param_dtype,
        reduce_dtype=_dtype(section["REDUCE_DTYPE"], "REDUCE_DTYPE"),
        reshard_after_forward=_bool(
            section["RESHARD_AFTER_FORWARD"], "RESHARD_AFTER_FORWARD"
        ),
        auto_wrap_threshold=_threshold(section["AUTO_WRAP_THRESHOLD"]),
    )


def sharding_enabled(config) -> bool:
    return sharding_settings(config).enabled


@register_config_inferrer
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
    trunk = config.MODEL.TRUNK
    pad = (trunk.get("SEER_REGNET") or {}).get("pad_group_width_to", 1)
    if trunk.NAME == "seer_regnet" and pad > 1:
        raise ConfigError(
            "config.MODEL.TRUNK.SEER_REGNET.pad_group_width_to",
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
