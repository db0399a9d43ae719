"""The head that reads a RegNet trunk's output must expect the trunk's width.

Checked at compose time (:mod:`seer_plugins.checks.trunk_config`) and again when the
trunk is built (a config composed by other means still fails before training).
"""

from vissl.models.model_helpers import get_trunk_output_feature_names

from seer_plugins.config.head_params import head_entries
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


def check_head_input_width(model_config, params: RegNetParams) -> None:
    """The first head's `in_channels` / `dims[0]` must be the trunk's output width."""
    entries = head_entries(model_config.HEAD.get("PARAMS", None))
    if not entries or not _trunk_outputs_flatten(model_config):
        return
    head = entries[0]
    expected = out_width(params)
    dims = head.kwargs.get("dims", None)
    found = []
    if "in_channels" in head.kwargs:
        found.append(("in_channels", head.kwargs["in_channels"]))
    if isinstance(dims, (list, tuple)) and dims:
        found.append(("dims[0]", dims[0]))
    for key, value in found:
        if value != expected:
            source = model_config.TRUNK.get("SEER_REGNET", None) or {}
            arch = (
                f"preset={source.get('preset')!r}"
                if source.get("preset")
                else f"depth={params.depth}, w_0={params.w_0}, w_a={params.w_a}, "
                f"w_m={params.w_m}, group_width={params.group_width}"
            )
            raise ValueError(
                f"MODEL.HEAD.PARAMS{head.where} ({head.name!r}) {key}={value} does not "
                f"match the output width of {CONFIG_KEY} ({arch}): expected "
                f"{key}={expected} (the channels of res5/avgpool/flatten)"
            )
