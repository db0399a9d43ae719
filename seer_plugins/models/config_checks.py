"""Checks of `MODEL.TRUNK.SEER_REGNET` and of the head that reads the trunk's output.

Run twice: by `seer_plugins.compose` (a registered config inferrer, so a bad config
fails before any process starts) and by the trunk's constructor (so a config built
by other means fails at `build_model`, still before training).
"""

from dataclasses import dataclass

from vissl.models.model_helpers import get_trunk_output_feature_names

from seer_plugins.config_inference import register_config_inferrer
from seer_plugins.models.regnet_params import (
    CONFIG_KEY,
    NUM_STAGES,
    RegNetParams,
    out_width,
    resolve_params,
)

TRUNK_NAME = "seer_regnet"
STAGE_NAMES = tuple(f"res{i + 2}" for i in range(NUM_STAGES))


@dataclass(frozen=True)
class TrunkOptions:
    """Memory and speed options; none changes the function the trunk computes."""

    checkpoint_stages: tuple[str, ...] = ()
    checkpoint_segments: int = 1
    channels_last: bool = False
    pad_group_width_to: int = 1


def resolve_options(model_config) -> TrunkOptions:
    trunk_config = model_config.TRUNK.get("SEER_REGNET", None) or {}
    ac = trunk_config.get("activation_checkpointing", None) or {}
    stages = list(ac.get("stages", None) or [])
    if isinstance(ac.get("stages", None), str):
        stages = [ac["stages"]]
    unknown = [s for s in stages if s not in STAGE_NAMES]
    if unknown:
        raise ValueError(
            f"{CONFIG_KEY}.activation_checkpointing.stages={stages!r} names unknown "
            f"stages {unknown}; valid: {list(STAGE_NAMES)}"
        )
    vissl_ac = model_config.get("ACTIVATION_CHECKPOINTING", None) or {}
    if not stages and vissl_ac.get("USE_ACTIVATION_CHECKPOINTING", False):
        # VISSL's switch, as in SEER's stock configs: checkpoint every stage.
        stages = list(STAGE_NAMES)
    segments = ac.get("segments", 1)
    if not isinstance(segments, int) or segments < 1:
        raise ValueError(
            f"{CONFIG_KEY}.activation_checkpointing.segments={segments!r} is "
            f"invalid: expected an integer >= 1 (checkpointed chunks per stage)"
        )
    pad = trunk_config.get("pad_group_width_to", None) or 1
    if not isinstance(pad, int) or pad < 1:
        raise ValueError(
            f"{CONFIG_KEY}.pad_group_width_to={pad!r} is invalid: expected an "
            f"integer >= 1 (1: no padding; 8: pad each group to a multiple of 8)"
        )
    return TrunkOptions(
        checkpoint_stages=tuple(stages),
        checkpoint_segments=segments,
        channels_last=bool(trunk_config.get("channels_last", False)),
        pad_group_width_to=pad,
    )


def _first_head_module(head_params):
    """(index label, name, kwargs) of the head module that reads the trunk output."""
    if not head_params:
        return None
    first = head_params[0]
    if first and isinstance(first[0], (list, tuple)):  # a composite head
        return "[0][0]", first[0][0], dict(first[0][1] if len(first[0]) > 1 else {})
    return "[0]", first[0], dict(first[1] if len(first) > 1 else {})


def check_head_input_width(model_config, params: RegNetParams) -> None:
    """The first head's input width must be the trunk's output width.

    Only when the trunk's output is `flatten` (no feature-extraction pool ops and no
    multi-input head mapping): linear evaluation on res4/res5 pools sets its own
    widths.
    """
    head = _first_head_module(model_config.HEAD.get("PARAMS", None) or [])
    if head is None or get_trunk_output_feature_names(model_config):
        return
    eval_settings = model_config.get("FEATURE_EVAL_SETTINGS", None) or {}
    if eval_settings.get("EVAL_MODE_ON", False) and eval_settings.get(
        "EXTRACT_TRUNK_FEATURES_ONLY", False
    ):
        return
    if model_config.get("MULTI_INPUT_HEAD_MAPPING", None):
        return
    where, name, kwargs = head
    expected = out_width(params)
    dims = kwargs.get("dims", None)
    found = []
    if "in_channels" in kwargs:
        found.append(("in_channels", kwargs["in_channels"]))
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
                f"MODEL.HEAD.PARAMS{where} ({name!r}) {key}={value} does not match "
                f"the output width of {CONFIG_KEY} ({arch}): expected {key}={expected} "
                f"(the channels of res5/avgpool/flatten)"
            )


def check_model_config(model_config) -> tuple[RegNetParams, TrunkOptions]:
    """Everything the trunk needs, validated; raises ValueError naming the key."""
    params = resolve_params(model_config.TRUNK.get("SEER_REGNET", None))
    options = resolve_options(model_config)
    check_head_input_width(model_config, params)
    return params, options


@register_config_inferrer
def check_seer_regnet_config(config) -> None:
    if config.MODEL.TRUNK.NAME == TRUNK_NAME:
        check_model_config(config.MODEL)
