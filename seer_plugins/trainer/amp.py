"""Mixed precision: the dtype names `MODEL.AMP_PARAMS.SEER_AMP_DTYPE` accepts, and the
task's fp16 gradient scaler (made by the train step, saved and restored by the task).
"""

import torch

from seer_plugins.checks.errors import ConfigError

AMP_KEY = "SEER_AMP_DTYPE"
AMP_DTYPES = {
    "": None,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
_SCALER_ATTRIBUTE = "seer_grad_scaler"


def parse_amp_dtype(name: str, key: str = f"config.MODEL.AMP_PARAMS.{AMP_KEY}"):
    """`float16`/`fp16`, `bfloat16`/`bf16` -> the torch dtype; `""` -> None."""
    name = name or ""
    if name not in AMP_DTYPES:
        raise ConfigError(key, name, "is unknown", f"valid: {sorted(AMP_DTYPES)}")
    return AMP_DTYPES[name]


def amp_dtype(config) -> torch.dtype | None:
    """The autocast dtype that `MODEL.AMP_PARAMS.SEER_AMP_DTYPE` selects, or None."""
    return parse_amp_dtype(config["MODEL"]["AMP_PARAMS"].get(AMP_KEY) or "")


def grad_scaler(task) -> torch.amp.GradScaler | None:
    """The task's fp16 gradient scaler, or None before the first fp16 step."""
    return getattr(task, _SCALER_ATTRIBUTE, None)


def set_grad_scaler(task, scaler: torch.amp.GradScaler) -> None:
    setattr(task, _SCALER_ATTRIBUTE, scaler)


def ensure_grad_scaler(task, dtype) -> torch.amp.GradScaler | None:
    """The task's scaler for an fp16 step, created on first use; None for bf16."""
    if dtype is not torch.float16:
        return None
    if grad_scaler(task) is None:
        set_grad_scaler(task, torch.amp.GradScaler(task.device.type))
    return grad_scaler(task)
