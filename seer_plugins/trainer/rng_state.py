"""Save and restore one process's random generators (Python, NumPy, torch, CUDA).

The states are kept as tensors and plain Python values: VISSL reads checkpoints with
`torch.load`, whose default (`weights_only=True` since torch 2.6) refuses NumPy
arrays.
"""

import random

import numpy as np
import torch


def _numpy_state() -> dict:
    _, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "key": torch.from_numpy(key.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }


def _set_numpy_state(state: dict) -> None:
    key = state["key"].numpy().astype(np.uint32)
    np.random.set_state(
        ("MT19937", key, state["pos"], state["has_gauss"], state["gauss"])
    )


def capture_rng_state(device: torch.device) -> dict:
    """This process's generator states."""
    state = {
        "python": random.getstate(),
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict, device: torch.device) -> None:
    """Put back what :func:`capture_rng_state` returned (CUDA only on a CUDA device)."""
    random.setstate(state["python"])
    _set_numpy_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
