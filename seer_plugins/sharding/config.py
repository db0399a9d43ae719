"""`MODEL.SEER_FSDP`: parsed into :class:`ShardingSettings`, one line per bad value.

The keys and their defaults are in configs/defaults/sharding.yaml; a config without
the section (composed by VISSL's own code) gets those defaults: no sharding. What
cannot run sharded (another task, ZeRO, padded blocks, unscaled float16) is refused
at compose time by :mod:`seer_plugins.checks.sharding_config`.

`PARAM_DTYPE: ""` (the default) gathers in the autocast dtype: what the convolutions
compute in anyway, at half the all-gather traffic and memory of float32.
"""

from dataclasses import dataclass

import torch

from seer_plugins.config.defaults import plugin_section
from seer_plugins.config.precision import DTYPES, amp_dtype, names_of
from seer_plugins.errors import ConfigError, ConfigValueError

CONFIG_KEY = "SEER_FSDP"
SECTION = f"MODEL.{CONFIG_KEY}"
PREFIX = f"config.{SECTION}"

PARAM_DTYPES = names_of(torch.float32, torch.bfloat16, torch.float16)
# Gradient sums may also be float64: float64 sums of float32 gradients are exact
# (for ranks whose gradients are within 2^29 of each other), hence the same in any
# order, on any number of nodes, and as DDP's with the same sums; at twice float32's
# traffic.
REDUCE_DTYPES = names_of(torch.float32, torch.bfloat16, torch.float16, torch.float64)
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


def _bool(value, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigValueError(
            f"{PREFIX}.{key}", value, "is not a boolean", "True or False"
        )
    return value


def _dtype(value, key: str) -> torch.dtype:
    if value == "" and key == "PARAM_DTYPE":
        return None  # the autocast dtype
    valid = PARAM_DTYPES if key == "PARAM_DTYPE" else REDUCE_DTYPES
    if value not in valid:
        empty = ' or "" (the autocast dtype)' if key == "PARAM_DTYPE" else ""
        raise ConfigValueError(
            f"{PREFIX}.{key}",
            value,
            "is not a dtype name",
            f"one of {list(valid)}{empty}",
        )
    return DTYPES[value]


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
    """The settings of `config.MODEL.SEER_FSDP`, over configs/defaults/sharding.yaml.

    Raises:
        ConfigError: an unknown key or a bad value, naming the key.
    """
    section = plugin_section(config, SECTION)
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}.{unknown[0]}",
            section[unknown[0]],
            "is not a SEER_FSDP key",
            f"valid: {list(KEYS)}",
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
