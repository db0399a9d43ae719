"""Mixed precision: the task's fp16 gradient scaler (made by the train step, saved and
restored by the task). The dtype `MODEL.AMP_PARAMS.SEER_AMP_DTYPE` names is read by
:mod:`seer_plugins.config.precision`.
"""

import torch

_SCALER_ATTRIBUTE = "seer_grad_scaler"


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
