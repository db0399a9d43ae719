"""Plugins fill in and check their own config keys around VISSL's inference.

VISSL's `infer_and_assert_hydra_config` only knows its own components (it infers the
SwAV sizes only for a loss literally named `swav_loss`, for instance). A plugin
registers a function `fn(config)` here; `compose` runs every registered function, in
registration order, on the composed AttrDict:

- `register_config_check`: before VISSL's inference, on the config as written, so a
  wrong type or unknown name is reported as such rather than as a crash deep inside
  VISSL (a string batch size, for instance, fails there with "could not convert
  string to float");
- `register_config_inferrer`: right after VISSL's inference.
"""

from collections.abc import Callable

ConfigInferrer = Callable[[object], None]

_CHECKS: list[ConfigInferrer] = []
_INFERRERS: list[ConfigInferrer] = []


def register_config_check(fn: ConfigInferrer) -> ConfigInferrer:
    """Decorator: run `fn(config)` on every composed config, before VISSL's inference."""
    if fn not in _CHECKS:
        _CHECKS.append(fn)
    return fn


def register_config_inferrer(fn: ConfigInferrer) -> ConfigInferrer:
    """Decorator: run `fn(config)` on every composed config."""
    if fn not in _INFERRERS:
        _INFERRERS.append(fn)
    return fn


def run_config_checks(config) -> None:
    for check in _CHECKS:
        check(config)


def run_config_inferrers(config) -> None:
    for infer in _INFERRERS:
        infer(config)


def registered_checks() -> list[ConfigInferrer]:
    return list(_CHECKS)


def registered_inferrers() -> list[ConfigInferrer]:
    return list(_INFERRERS)
