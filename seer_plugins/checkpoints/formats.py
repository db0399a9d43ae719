"""What a checkpoint file is: reading it, and telling its RegNet layout.

Three layouts of RegNetY weights are read (:mod:`seer_plugins.checkpoints.convert`
maps their keys):

- VISSL's (our `seer_regnet` writes the same): a checkpoint with
  `classy_state_dict -> base_model -> model -> trunk`, or a bare state dict of
  `_feature_blocks.*` keys (optionally under `trunk.`);
- timm's `RegNet`: a flat state dict, `stem.conv.weight`, `s1.b1.*`, ...;
- torchvision's `regnet_y_*`: `stem.0.weight`, `trunk_output.*`.

A sharded run's checkpoint is VISSL's layout with a reference to its folder of
shards in place of the weights (:mod:`seer_plugins.checkpoints.sharded`).
"""

import pickle
import re
from collections.abc import Mapping

import torch

VISSL_PREFIX = "_feature_blocks."


class ConversionError(ValueError):
    """A key or a checkpoint layout the conversion does not know."""


def unwrap_state_dict(checkpoint: Mapping) -> Mapping:
    """The state dict inside a `{"state_dict": ...}` or `{"model": ...}` wrapper."""
    for key in ("state_dict", "model"):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint


def guess_format(checkpoint: Mapping) -> str | None:
    """'vissl', 'timm', 'torchvision' (the RegNet layouts read here) or None."""
    if "classy_state_dict" in checkpoint:
        return "vissl"
    keys = [k for k in unwrap_state_dict(checkpoint) if isinstance(k, str)]
    if any(k.startswith((VISSL_PREFIX, "trunk." + VISSL_PREFIX)) for k in keys):
        return "vissl"
    if "stem.conv.weight" in keys:
        return "timm"
    if "stem.0.weight" in keys and any(k.startswith("trunk_output.") for k in keys):
        return "torchvision"
    return None


def detect_format(checkpoint: Mapping) -> str:
    """'vissl' (a VISSL checkpoint or bare trunk state dict), 'timm' or 'torchvision'."""
    found = guess_format(checkpoint)
    if found is None:
        keys = list(unwrap_state_dict(checkpoint))
        raise ConversionError(
            "not a RegNet checkpoint this tool knows: expected VISSL's "
            "classy_state_dict / `_feature_blocks.*` keys, timm's `stem.conv.weight`, "
            f"`s1.b1.*` or torchvision's `trunk_output.*`; first keys: {keys[:5]}"
        )
    return found


def load_checkpoint(path: str, trust_pickle: bool = False) -> Mapping:
    """torch.load on CPU; arbitrary pickled objects only with `trust_pickle`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as error:
        # torch's weights-only unpickler names a class it refuses ("Unsupported
        # global"); anything else is not a pickle of tensors at all.
        found = re.search(r"Unsupported global: (?:GLOBAL )?\S+", str(error))
        if not found:
            raise ConversionError("is not a torch checkpoint") from None
        raise ConversionError(
            f"holds objects other than tensors and containers ({found.group(0)}); "
            "if you trust the file, allow full unpickling (--trust-pickle)"
        ) from None
    except Exception as error:  # torch.load fails on garbage in many ways
        raise ConversionError(
            f"is not a torch checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:160] if str(error) else ''})"
        ) from None
