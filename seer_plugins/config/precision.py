"""Precision names, in one table: the dtype names a config may write, and which of
them each key takes.

`MODEL.AMP_PARAMS.SEER_AMP_DTYPE` (the autocast dtype of `seer_train_step`) takes a
16-bit name, or "" for no autocast; `MODEL.SEER_FSDP.PARAM_DTYPE` and
`REDUCE_DTYPE` (:mod:`seer_plugins.sharding.config`) take theirs from the same
table.
"""

import torch

from seer_plugins.config.defaults import plugin_setting
from seer_plugins.errors import ConfigError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float64": torch.float64,
    "fp64": torch.float64,
}


def names_of(*dtypes: torch.dtype) -> list[str]:
    """The names of `dtypes` in the table, in its order."""
    return [name for name, dtype in DTYPES.items() if dtype in dtypes]


AMP_KEY = "SEER_AMP_DTYPE"
AMP_PATH = f"MODEL.AMP_PARAMS.{AMP_KEY}"
AMP_NAMES = names_of(torch.float16, torch.bfloat16)


def parse_amp_dtype(name: str, key: str = f"config.{AMP_PATH}") -> torch.dtype | None:
    """`float16`/`fp16`, `bfloat16`/`bf16` -> the torch dtype; `""` -> None."""
    name = name or ""
    if name and name not in AMP_NAMES:
        valid = sorted(["", *AMP_NAMES])
        raise ConfigError(key, name, "is unknown", f"valid: {valid}")
    return DTYPES[name] if name else None


def amp_dtype(config) -> torch.dtype | None:
    """The autocast dtype that `MODEL.AMP_PARAMS.SEER_AMP_DTYPE` selects, or None."""
    return parse_amp_dtype(plugin_setting(config, AMP_PATH))
