"""Types and ranges of the keys a run cannot start without, checked before VISSL's
inference (which otherwise fails on them with an unrelated message, e.g. a string
batch size: "could not convert string to float"; batch size 0: "integer modulo by
zero").

The table names each key, what it must be, and a predicate; a key absent from a
config (a stock config without a plugin key) is skipped.
"""

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

from seer_plugins.config import inference
from seer_plugins.config.inference import register_config_check
from seer_plugins.config.keys import lookup
from seer_plugins.errors import ConfigValueError
from seer_plugins.losses.seer_swav_loss import LOSS_NAME


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    key: str  # dotted path under `config`
    expected: str  # what a valid value is, in words
    valid: Callable[[object], bool]
    when: Callable[[object], bool] = lambda config: True


def positive_int(key: str, **kw) -> Rule:
    return Rule(key, "an integer >= 1", lambda v: _is_int(v) and v >= 1, **kw)


def non_negative_int(key: str, **kw) -> Rule:
    return Rule(key, "an integer >= 0", lambda v: _is_int(v) and v >= 0, **kw)


def positive_number(key: str, **kw) -> Rule:
    return Rule(key, "a number > 0", lambda v: _is_number(v) and v > 0, **kw)


def _swav(config) -> bool:
    return config.LOSS.get("name") == LOSS_NAME


def _testing(config) -> bool:
    return bool(config.get("TEST_MODEL", False))


RULES = (
    positive_int("DATA.TRAIN.BATCHSIZE_PER_REPLICA"),
    positive_int("DATA.TEST.BATCHSIZE_PER_REPLICA", when=_testing),
    non_negative_int("DATA.NUM_DATALOADER_WORKERS"),
    Rule(
        "DATA.TRAIN.DATA_LIMIT",
        "an integer: -1 (all samples) or >= 1",
        lambda v: _is_int(v) and (v == -1 or v >= 1),
    ),
    positive_int("OPTIMIZER.num_epochs"),
    Rule("OPTIMIZER.weight_decay", "a number >= 0", lambda v: _is_number(v) and v >= 0),
    Rule(
        "OPTIMIZER.momentum",
        "a number in [0, 1)",
        lambda v: _is_number(v) and 0 <= v < 1,
    ),
    positive_number("OPTIMIZER.param_schedulers.lr.auto_lr_scaling.base_value"),
    positive_int("DISTRIBUTED.NUM_NODES"),
    positive_int("DISTRIBUTED.NUM_PROC_PER_NODE"),
    positive_int("CHECKPOINT.CHECKPOINT_FREQUENCY"),
    Rule(
        "CHECKPOINT.CHECKPOINT_ITER_FREQUENCY",
        "an integer: -1 (off) or >= 1",
        lambda v: _is_int(v) and (v == -1 or v >= 1),
    ),
    non_negative_int("SEED_VALUE"),
    positive_number(f"LOSS.{LOSS_NAME}.temperature", when=_swav),
    positive_number(f"LOSS.{LOSS_NAME}.epsilon", when=_swav),
    positive_int(f"LOSS.{LOSS_NAME}.num_iters", when=_swav),
    non_negative_int(f"LOSS.{LOSS_NAME}.freeze_prototypes_iters", when=_swav),
    non_negative_int(f"LOSS.{LOSS_NAME}.queue.queue_length", when=_swav),
)

# A key the config does not have (a stock config without a plugin key): not checked.
ABSENT = object()


def check_rule(config, rule: Rule) -> None:
    if not rule.when(config):
        return
    value = lookup(config, rule.key, default=ABSENT)
    if value is ABSENT or rule.valid(value):
        return
    raise ConfigValueError(
        f"config.{rule.key}",
        value,
        f"a {type(value).__name__} is invalid here",
        f"expected {rule.expected}",
    )


@register_config_check(order=inference.VALUES)
def check_value_types(config) -> None:
    for rule in RULES:
        check_rule(config, rule)
