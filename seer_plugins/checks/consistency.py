"""Keys that must agree with each other, checked when a config is composed.

- a multistep LR schedule's milestones against its values (one fewer, increasing
  from above 0): fvcore refused others only once training was built, after the
  process group had started ("MultiStep scheduler requires a list of 1 miletones");
- `OPTIMIZER.num_epochs` and a multistep LR schedule's milestones, in epochs
  whatever its `update_interval` (ClassyVision passes `num_epochs` as fvcore's
  `num_updates`): a milestone at or after the last epoch failed only once training
  was built ("Milestone must be smaller than total number of updates");
- the accuracy meter's top-k and `DATA.NUM_CLASSES`: top-5 of 3 classes failed at
  the first meter update ("selected index k out of range").
"""

from itertools import pairwise

from seer_plugins.config import inference
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.errors import ConfigError

ACCURACY_METER = "accuracy_list_meter"
MILESTONES_KEY = "config.OPTIMIZER.param_schedulers.lr.milestones"


def check_milestones_fit_values(milestones: list, values: list) -> None:
    """A multistep schedule holds `values[i]` from milestone i - 1 (0 for the first)
    to milestone i: one milestone between each two values, increasing."""
    if not all(isinstance(m, int) and not isinstance(m, bool) for m in milestones):
        raise ConfigError(
            MILESTONES_KEY,
            milestones,
            "must be whole numbers of epochs",
            "e.g. [30, 60]",
        )
    needed = len(values) - 1
    if values and len(milestones) != needed:
        raise ConfigError(
            MILESTONES_KEY,
            milestones,
            f"needs {needed} milestone{'' if needed == 1 else 's'} for the "
            f"{len(values)} value{'' if len(values) == 1 else 's'} of "
            "OPTIMIZER.param_schedulers.lr.values (one "
            "where each value gives way to the next)",
            "give one milestone fewer than values, or drop values",
        )
    if any(b <= a for a, b in pairwise([0, *milestones])):
        raise ConfigError(
            MILESTONES_KEY,
            milestones,
            "must increase from above 0 (the first value holds from 0 to the first)",
            "sort them and drop repeats and 0",
        )


@register_config_inferrer(order=inference.CONSISTENCY)
def check_lr_milestones(config) -> None:
    lr = config.OPTIMIZER.get("param_schedulers", {}).get("lr", {}) or {}
    if lr.get("name") != "multistep":
        return
    milestones = list(lr.get("milestones", None) or [])
    check_milestones_fit_values(milestones, list(lr.get("values", None) or []))
    epochs = config.OPTIMIZER.num_epochs
    late = [m for m in milestones if m >= epochs]
    if late:
        raise ConfigError(
            "config.OPTIMIZER.num_epochs",
            epochs,
            f"is not above the LR milestones {milestones} "
            "(OPTIMIZER.param_schedulers.lr.milestones, in epochs)",
            f"train more than {max(milestones)} epochs, or move the milestones below "
            f"{epochs} (and drop their values)",
        )


TOPK_KEY = f"config.METERS.{ACCURACY_METER}.topk_values"


def accuracy_topk(config) -> list[int]:
    """The accuracy meter's top-k values ([] without that meter)."""
    if config.METERS.get("name", "") != ACCURACY_METER:
        return []
    return list(config.METERS.get(ACCURACY_METER, {}).get("topk_values", []) or [])


def check_topk(config, classes: int, where: str) -> None:
    """Top-k needs k classes; `where` says where the class count comes from."""
    topk = accuracy_topk(config)
    if topk and max(topk) > classes:
        raise ConfigError(
            TOPK_KEY,
            topk,
            f"top-{max(topk)} needs at least {max(topk)} classes; {where} has {classes}",
            f"use values up to {classes}, e.g. [1]",
        )


@register_config_inferrer(order=inference.CONSISTENCY)
def check_topk_classes(config) -> None:
    classes = config.DATA.get("NUM_CLASSES", None)
    if isinstance(classes, int):
        check_topk(config, classes, "DATA.NUM_CLASSES")
