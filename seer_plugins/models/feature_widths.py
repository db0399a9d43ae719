"""OmegaConf resolvers that derive head widths from the trunk.

A preset is one row of `PRESETS`: a head, fine-tuning or linear-evaluation config
reads the trunk's widths from it instead of copying them, so switching
`MODEL.TRUNK.SEER_REGNET.preset` alone gives a consistent model:

- `${seer.width:FEATURE}`: channels of a trunk feature (`conv1`, `res2`..`res5`,
  `avgpool`, `flatten`), e.g. a SwAV head's `dims: [${seer.width:res5}, 8192, ...]`;
- `${seer.pooled_dim:FEATURE}`: the flattened size of that feature after its pool
  op in `MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP` (channels times
  the pooled grid), what a linear-evaluation `eval_mlp` head reads.

They read `config.MODEL.TRUNK` of the config being composed (`seer_regnet` only).
The number of classes, `${seer.num_classes:DEFAULT}`, comes from the data
(:mod:`seer_plugins.data.class_count`).
"""

import math

from omegaconf import OmegaConf

from seer_plugins.errors import ConfigError
from seer_plugins.models.regnet_params import CONFIG_KEY, resolve_params, stage_specs
from seer_plugins.models.seer_regnet import TRUNK_NAME

WIDTH = "seer.width"
POOLED_DIM = "seer.pooled_dim"
FEATURES = ("conv1", "res2", "res3", "res4", "res5", "avgpool", "flatten")
POOL_OPS_KEY = "MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP"
_SIZED_POOLS = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
_FLAT_FEATURES = ("avgpool", "flatten")


def _model(root):
    return root.config.MODEL


def feature_width(feature: str, trunk_config, trunk_name: str = TRUNK_NAME) -> int:
    """Channels of `feature` for the trunk `trunk_config` (MODEL.TRUNK.SEER_REGNET)."""
    if trunk_name != TRUNK_NAME:
        raise ConfigError(
            "config.MODEL.TRUNK.NAME",
            trunk_name,
            f"${{{WIDTH}:{feature}}} reads MODEL.TRUNK.SEER_REGNET",
            "write the width out for this trunk",
        )
    if feature not in FEATURES:
        raise ConfigError(
            f"${{{WIDTH}:{feature}}}",
            feature,
            "is not a trunk feature",
            f"valid: {list(FEATURES)}",
        )
    params = resolve_params(trunk_config, CONFIG_KEY)
    if feature == "conv1":
        return params.stem_width
    stages = stage_specs(params)
    index = -1 if feature in _FLAT_FEATURES else int(feature[3:]) - 2
    return stages[index].width


def _width(feature: str, *, _root_) -> int:
    trunk = _model(_root_).TRUNK
    return feature_width(feature, trunk.get("SEER_REGNET"), trunk.NAME)


def _pooled_grid(feature: str, pool_ops) -> int:
    for name, (op, args) in ((entry[0], entry[1]) for entry in pool_ops or []):
        if name != feature:
            continue
        if op in _SIZED_POOLS:
            size = args[0] if args else 1
            size = [size, size] if isinstance(size, int) else list(size)
            return math.prod(size)
        if op == "Identity" and feature in _FLAT_FEATURES:
            return 1
        raise ConfigError(
            f"config.{POOL_OPS_KEY}",
            op,
            f"pool op for {feature!r} has no known output size (for "
            f"${{{POOLED_DIM}:{feature}}})",
            f"valid: {list(_SIZED_POOLS)} with an output size, or Identity on "
            f"{list(_FLAT_FEATURES)}",
        )
    raise ConfigError(
        f"config.{POOL_OPS_KEY}",
        [entry[0] for entry in pool_ops or []],
        f"has no entry for {feature!r} (for ${{{POOLED_DIM}:{feature}}})",
        f"add one for {feature!r}",
    )


def _pooled_dim(feature: str, *, _root_) -> int:
    model = _model(_root_)
    pool_ops = model.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP
    return _width(feature, _root_=_root_) * _pooled_grid(feature, pool_ops)


def register() -> None:
    """Make the resolvers known to OmegaConf (idempotent)."""
    OmegaConf.register_new_resolver(WIDTH, _width, replace=True)
    OmegaConf.register_new_resolver(POOLED_DIM, _pooled_dim, replace=True)


register()
