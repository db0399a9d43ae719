"""Every plugin a config names must be registered: a typo fails at compose time.

Without this, VISSL finds out when it builds the component, after the processes
started and the data loaded, with a bare `assert name in REGISTRY, "Unknown model
trunk"`. Here the error names the key, the value and the registered names. The
registries are read at check time, so components registered by a user's entry
script before composing count as known.
"""

import difflib

import torch.nn.modules.loss as torch_losses
from classy_vision.losses import LOSS_REGISTRY
from classy_vision.optim import OPTIMIZER_REGISTRY
from classy_vision.optim.param_scheduler import PARAM_SCHEDULER_REGISTRY
from classy_vision.tasks import TASK_REGISTRY
from vissl.data import DATASET_SOURCE_MAP
from vissl.data.collators import COLLATOR_REGISTRY
from vissl.models.heads import MODEL_HEADS_REGISTRY
from vissl.models.trunks import MODEL_TRUNKS_REGISTRY
from vissl.trainer.train_steps import TRAIN_STEP_REGISTRY

from seer_plugins.config import inference
from seer_plugins.config.derived import used_splits
from seer_plugins.config.inference import register_config_check
from seer_plugins.errors import ConfigError
from seer_plugins.models.head_params import head_entries


class UnknownPluginError(ConfigError):
    """A config names a component that no registry holds."""


def _torch_loss_names() -> set[str]:
    # classy_vision's build_loss falls back to torch.nn's losses by class name.
    return {n for n in dir(torch_losses) if n.endswith("Loss") and n[0].isupper()}


def check_name(key: str, value, known, what: str) -> None:
    """Raise UnknownPluginError naming `config.<key>` unless `value` is in `known`."""
    known = sorted(known)
    if isinstance(value, str) and value in known:
        return
    close = difflib.get_close_matches(str(value), known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    raise UnknownPluginError(
        f"config.{key}",
        value,
        f"is not a registered {what}",
        f"{hint}registered: {', '.join(known)}",
    )


def _scheduler_names(schedulers):
    """(key, name) of every `name:` in `OPTIMIZER.param_schedulers`, nested too."""
    for param, scheduler in (schedulers or {}).items():
        if not isinstance(scheduler, dict):
            continue
        if "name" in scheduler:
            yield f"OPTIMIZER.param_schedulers.{param}.name", scheduler["name"]
        for i, sub in enumerate(scheduler.get("schedulers", None) or []):
            if isinstance(sub, dict) and "name" in sub:
                key = f"OPTIMIZER.param_schedulers.{param}.schedulers[{i}].name"
                yield key, sub["name"]


@register_config_check(order=inference.NAMES)
def check_plugin_names(config) -> None:
    check_name(
        "MODEL.TRUNK.NAME", config.MODEL.TRUNK.NAME, MODEL_TRUNKS_REGISTRY, "trunk"
    )
    for head in head_entries(config.MODEL.HEAD.get("PARAMS", None)):
        key = f"MODEL.HEAD.PARAMS{head.where}[0]"
        check_name(key, head.name, MODEL_HEADS_REGISTRY, "head")
    losses = set(LOSS_REGISTRY) | _torch_loss_names()
    check_name("LOSS.name", config.LOSS.name, losses, "loss")
    check_name("OPTIMIZER.name", config.OPTIMIZER.name, OPTIMIZER_REGISTRY, "optimizer")
    for key, name in _scheduler_names(config.OPTIMIZER.get("param_schedulers", None)):
        check_name(key, name, PARAM_SCHEDULER_REGISTRY, "param scheduler")
    check_name("TRAINER.TASK_NAME", config.TRAINER.TASK_NAME, TASK_REGISTRY, "task")
    check_name(
        "TRAINER.TRAIN_STEP_NAME",
        config.TRAINER.TRAIN_STEP_NAME,
        TRAIN_STEP_REGISTRY,
        "train step",
    )
    for split in used_splits(config):
        data = config.DATA[split]
        for i, source in enumerate(data.get("DATA_SOURCES", None) or []):
            key = f"DATA.{split}.DATA_SOURCES[{i}]"
            check_name(key, source, DATASET_SOURCE_MAP, "data source")
        collator = data.get("COLLATE_FUNCTION", None)
        if collator:
            key = f"DATA.{split}.COLLATE_FUNCTION"
            # VISSL's get_collator maps "default_collate" to torch's own.
            known = {*COLLATOR_REGISTRY, "default_collate"}
            check_name(key, collator, known, "collator")
