"""The head that reads a RegNet trunk's output must expect the trunk's width.

Checked at compose time (:mod:`seer_plugins.checks.trunk_config`) and, for
`seer_regnet`, again when the trunk is built (a config composed by other means still
fails before training). Other trunks (VISSL's `regnet`, `resnet`, ...) are measured by
a forward pass on the meta device: no memory, no compute.
"""

import logging

import torch
from vissl.models.model_helpers import get_trunk_output_feature_names

from seer_plugins.errors import ConfigError
from seer_plugins.models.head_params import head_entries
from seer_plugins.models.regnet_params import CONFIG_KEY, RegNetParams, out_width


def _trunk_outputs_flatten(model_config) -> bool:
    """True when the first head reads the trunk's final `flatten` features.

    Not so for linear evaluation on res4/res5 pools (its heads set their own widths),
    feature extraction only, or a multi-input head mapping.
    """
    if get_trunk_output_feature_names(model_config):
        return False
    eval_settings = model_config.get("FEATURE_EVAL_SETTINGS", None) or {}
    if eval_settings.get("EVAL_MODE_ON", False) and eval_settings.get(
        "EXTRACT_TRUNK_FEATURES_ONLY", False
    ):
        return False
    return not model_config.get("MULTI_INPUT_HEAD_MAPPING", None)


def check_head_reads(model_config, expected: int, trunk: str) -> None:
    """The first head's `in_channels` / `dims[0]` must be `expected`, the trunk's
    output width (`trunk` describes the trunk in the message)."""
    entries = head_entries(model_config.HEAD.get("PARAMS", None))
    if not entries or not _trunk_outputs_flatten(model_config):
        return
    head = entries[0]
    dims = head.kwargs.get("dims", None)
    found = []
    if "in_channels" in head.kwargs:
        found.append(("in_channels", head.kwargs["in_channels"]))
    if isinstance(dims, (list, tuple)) and dims:
        found.append(("dims[0]", dims[0]))
    for key, value in found:
        if value != expected:
            raise ConfigError(
                f"config.MODEL.HEAD.PARAMS{head.where}[1].{key}",
                value,
                f"head {head.name!r} reads {value} channels but the trunk ({trunk}) "
                f"outputs {expected}",
                f"expected {key}={expected} (the channels of the trunk's last feature)",
            )


def check_head_input_width(model_config, params: RegNetParams) -> None:
    """`seer_regnet`: the first head must read the preset's output width."""
    source = model_config.TRUNK.get("SEER_REGNET", None) or {}
    arch = (
        f"preset={source.get('preset')!r}"
        if source.get("preset")
        else f"depth={params.depth}, w_0={params.w_0}, w_a={params.w_a}, "
        f"w_m={params.w_m}, group_width={params.group_width}"
    )
    check_head_reads(model_config, out_width(params), f"{CONFIG_KEY} {arch}")


def traced_output_width(model_config) -> int | None:
    """Channels of any VISSL trunk's final (N, C) output, from a forward on the meta
    device. None when the trunk cannot be built or run there, or its output is not
    flat (then nothing is checked).
    """
    from vissl.models.trunks import get_model_trunk

    name = model_config.TRUNK.NAME
    try:
        with torch.device("meta"):
            trunk = get_model_trunk(name)(model_config, name)
            outputs = trunk(torch.empty(1, 3, 64, 64))
    except Exception as error:  # an exotic trunk: VISSL will build it for real
        logging.debug("no meta-device width check for trunk %s: %s", name, error)
        return None
    last = outputs[-1] if isinstance(outputs, (list, tuple)) else outputs
    # Only a flat (N, C) feature has one width a head must read; a head on a map or
    # on tokens (AlexNet's 256x6x6, a ViT's tokens) sets its own.
    return int(last.shape[1]) if getattr(last, "dim", lambda: 0)() == 2 else None
