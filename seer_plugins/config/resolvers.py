"""OmegaConf resolvers that derive head widths from the trunk, classes from the data.

A preset is one row of `PRESETS`: a head, fine-tuning or linear-evaluation config
reads the trunk's widths from it instead of copying them, so switching
`MODEL.TRUNK.SEER_REGNET.preset` alone gives a consistent model:

- `${seer.width:FEATURE}`: channels of a trunk feature (`conv1`, `res2`..`res5`,
  `avgpool`, `flatten`), e.g. a SwAV head's `dims: [${seer.width:res5}, 8192, ...]`;
- `${seer.pooled_dim:FEATURE}`: the flattened size of that feature after its pool
  op in `MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP` (channels times
  the pooled grid), what a linear-evaluation `eval_mlp` head reads.

They read `config.MODEL.TRUNK` of the config being composed (`seer_regnet` only).

- `${seer.num_classes:DEFAULT}`: the number of class subfolders of the training
  folder, `config.DATA.TRAIN.DATA_PATHS[0]`, counted as torchvision's `ImageFolder`
  (VISSL's `disk_folder`) labels them; DEFAULT when that is not a folder (no
  `DATA_PATHS`: a dataset catalog entry; a file list). The benchmark data configs
  set `DATA.NUM_CLASSES` with it, so the classifier fits any image folder;
  `config.DATA.NUM_CLASSES=N` replaces it.
"""

import math
import os

from omegaconf import OmegaConf
from torchvision.datasets.folder import find_classes

from seer_plugins.checks.errors import ConfigError
from seer_plugins.models.regnet_params import CONFIG_KEY, resolve_params, stage_specs

WIDTH = "seer.width"
POOLED_DIM = "seer.pooled_dim"
NUM_CLASSES = "seer.num_classes"
FEATURES = ("conv1", "res2", "res3", "res4", "res5", "avgpool", "flatten")
POOL_OPS_KEY = "MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP"
_SIZED_POOLS = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
_FLAT_FEATURES = ("avgpool", "flatten")


def _model(root):
    return root.config.MODEL


def feature_width(feature: str, trunk_config, trunk_name: str = "seer_regnet") -> int:
    """Channels of `feature` for the trunk `trunk_config` (MODEL.TRUNK.SEER_REGNET)."""
    if trunk_name != "seer_regnet":
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


def class_count(folder: str, default: int) -> int:
    """Class subfolders of `folder` (torchvision's `find_classes`), or `default`
    when `folder` is not a folder."""
    if not (folder and os.path.isdir(folder)):
        return int(default)
    try:
        return len(find_classes(folder)[0])
    except FileNotFoundError as error:  # a folder without class subfolders
        raise ConfigError(
            "config.DATA.TRAIN.DATA_PATHS[0]",
            folder,
            f"has no class subfolders (for ${{{NUM_CLASSES}:{default}}})",
            "expected <folder>/<class>/<image>, or set config.DATA.NUM_CLASSES",
        ) from error


def _num_classes(default: int, *, _root_) -> int:
    paths = _root_.config.DATA.TRAIN.get("DATA_PATHS", None) or []
    return class_count(str(paths[0]) if len(paths) else "", default)


def register() -> None:
    """Make the resolvers known to OmegaConf (idempotent)."""
    OmegaConf.register_new_resolver(WIDTH, _width, replace=True)
    OmegaConf.register_new_resolver(POOLED_DIM, _pooled_dim, replace=True)
    OmegaConf.register_new_resolver(NUM_CLASSES, _num_classes, replace=True)


register()
