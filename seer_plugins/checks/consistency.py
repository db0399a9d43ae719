"""Keys that must agree with each other, checked when a config is composed.

- `OPTIMIZER.num_epochs` and a per-epoch multistep LR schedule's milestones: a
  milestone at or after the last epoch failed in ClassyVision only once training was
  built ("Milestone must be smaller than total number of updates");
- the accuracy meter's top-k and `DATA.NUM_CLASSES`: top-5 of 3 classes failed at
  the first meter update ("selected index k out of range").
"""

from seer_plugins.config import inference
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.errors import ConfigError

ACCURACY_METER = "accuracy_list_meter"


@register_config_inferrer(order=inference.CONSISTENCY)
def check_lr_milestones(config) -> None:
    lr = config.OPTIMIZER.get("param_schedulers", {}).get("lr", {}) or {}
    if lr.get("name") != "multistep" or lr.get("update_interval") != "epoch":
        return
    milestones = list(lr.get("milestones", None) or [])
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
