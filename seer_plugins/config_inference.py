"""Plugins fill in and check their own config keys after VISSL's inference.

VISSL's `infer_and_assert_hydra_config` only knows its own components (it infers the
SwAV sizes only for a loss literally named `swav_loss`, for instance). A plugin
registers a function `fn(config)` here; `compose` runs every registered function, in
registration order, on the composed AttrDict right after VISSL's inference.
"""

from collections.abc import Callable

ConfigInferrer = Callable[[object], None]

_INFERRERS: list[ConfigInferrer] = []


def register_config_inferrer(fn: ConfigInferrer) -> ConfigInferrer:
    """Decorator: run `fn(config)` on every composed config."""
    if fn not in _INFERRERS:
        _INFERRERS.append(fn)
    return fn


def run_config_inferrers(config) -> None:
    for infer in _INFERRERS:
        infer(config)
