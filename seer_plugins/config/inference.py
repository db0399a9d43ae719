"""Plugins fill in and check their own config keys around VISSL's inference.

VISSL's `infer_and_assert_hydra_config` only knows its own components (it infers the
SwAV sizes only for a loss literally named `swav_loss`, for instance). A plugin
registers a function `fn(config)` here; `compose` runs every registered function on
the composed AttrDict, in the declared order:

- `register_config_check`: before VISSL's inference, on the config as written, so a
  wrong type or unknown name is reported as such rather than as a crash deep inside
  VISSL (a string batch size, for instance, fails there with "could not convert
  string to float");
- `register_config_inferrer`: right after VISSL's inference.

Each states its `order` (smaller first; equal orders keep registration order), one
of the stages below, so that what runs first does not depend on which module
happens to be imported first. The run's log (`log.txt`, after VISSL's "Training
with config") lists the resolved order, as composing does at INFO level.
"""

from collections.abc import Callable
from dataclasses import dataclass

ConfigInferrer = Callable[[object], None]

# The stages, in order: every plugin's check and inferrer runs in one of them.
# Checks, before VISSL's inference:
NAMES = 10  # every registered name the config uses exists (check_plugin_names)
VALUES = 20  # types and ranges of the keys VISSL's inference reads (check_value_types)
# Inferrers, after it:
COMPONENTS = 10  # VISSL's step or task switched to ours (TRAINER.TRAIN_STEP_NAME,
#                  TRAINER.TASK_NAME): every later inferrer reads the final names
ARCHITECTURE = 20  # the trunk's settings and the head's input width
LOSS = 30  # the loss's sizes, inferred from the head and the transforms
CONSISTENCY = 40  # the schedule and the meters against the data
PROJECT = 50  # the default of a function that names none (another project's)
HOOKS = 90  # which hooks run: their predicates read everything above


@dataclass(frozen=True)
class _Registered:
    fn: ConfigInferrer
    order: int


_CHECKS: list[_Registered] = []
_INFERRERS: list[_Registered] = []


def _register(registry: list[_Registered], fn, order: int):
    def register(fn: ConfigInferrer) -> ConfigInferrer:
        if all(entry.fn is not fn for entry in registry):
            registry.append(_Registered(fn, order))
            # Stable: equal orders keep registration order.
            registry.sort(key=lambda entry: entry.order)
        return fn

    return register(fn) if fn is not None else register


def register_config_check(fn: ConfigInferrer | None = None, *, order: int = PROJECT):
    """Decorator: run `fn(config)` on every composed config, before VISSL's
    inference, at `order` (`@register_config_check` or `(order=...)`)."""
    return _register(_CHECKS, fn, order)


def register_config_inferrer(fn: ConfigInferrer | None = None, *, order: int = PROJECT):
    """Decorator: run `fn(config)` on every composed config, after VISSL's inference,
    at `order` (`@register_config_inferrer` or `(order=...)`)."""
    return _register(_INFERRERS, fn, order)


def run_config_checks(config) -> None:
    for entry in _CHECKS:
        entry.fn(config)


def run_config_inferrers(config) -> None:
    for entry in _INFERRERS:
        entry.fn(config)


def registered_checks() -> list[ConfigInferrer]:
    """The checks, in the order they run."""
    return [entry.fn for entry in _CHECKS]


def registered_inferrers() -> list[ConfigInferrer]:
    """The inferrers, in the order they run."""
    return [entry.fn for entry in _INFERRERS]


def resolved_order() -> str:
    """The order of every check and inferrer, in words, for the log."""

    def names(registry):
        return ", ".join(f"{e.fn.__name__} ({e.order})" for e in registry)

    return f"checks: {names(_CHECKS)}; inferrers: {names(_INFERRERS)}"
