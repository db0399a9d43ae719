"""A registry of plugin hooks, and the one function that decides which ones run.

VISSL builds its hooks in `default_hook_generator` from an if-chain over config keys
and loss names, with no way to add one from outside. A plugin hook registers here
under a name and declares:

- `order`: its place among plugin hooks (smaller first; equal orders keep the listed
  order). Plugin hooks run after VISSL's default hooks;
- `wanted`: an optional predicate on the composed config (which may ask the loss
  class for its capabilities, see :func:`loss_capabilities`); a wanted hook is
  switched on without being listed;
- `replaces`: VISSL switches under `config.HOOKS` that the hook stands in for; they
  are turned off when it runs (the NaN guard replaces `HOOKS.CHECK_NAN`).

:func:`resolve_plugin_hooks` builds the list once per composed config (listed in
`config.HOOKS.PLUGINS` plus wanted, in order) and writes it back to
`HOOKS.PLUGINS`, so `train_config.yaml` shows what runs. A registered hook class
builds itself with `from_config(config)` and keys on capability at run time.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from classy_vision.hooks import ClassyHook
from classy_vision.losses import LOSS_REGISTRY
from vissl.hooks import default_hook_generator

from seer_plugins.config import inference
from seer_plugins.config.defaults import plugin_setting
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.errors import ConfigValueError

CONFIG_KEY = "HOOKS.PLUGINS"
# Hooks that state no order run here: after the data and SwAV hooks, before the
# reporting hooks and the NaN guard (which must see the model after every update).
DEFAULT_ORDER = 50


@dataclass(frozen=True)
class HookSpec:
    name: str
    cls: type
    order: int
    wanted: Callable[[object], bool] | None
    replaces: tuple[str, ...]


_HOOKS: dict[str, HookSpec] = {}


def register_hook(
    name: str,
    *,
    order: int = DEFAULT_ORDER,
    wanted: Callable[[object], bool] | None = None,
    replaces: tuple[str, ...] = (),
):
    """Class decorator: register a ClassyHook subclass with `from_config(config)`.

    Args:
        name: the name `config.HOOKS.PLUGINS` lists.
        order: place among plugin hooks, smaller first.
        wanted: `wanted(config) -> bool`: switched on without being listed.
        replaces: keys under `config.HOOKS` (VISSL's own switches) set False when
            this hook runs.
    """

    def register(cls):
        if name in _HOOKS and _HOOKS[name].cls is not cls:
            raise ValueError(f"plugin hook {name!r} is already registered")
        if not hasattr(cls, "from_config"):
            raise TypeError(f"plugin hook {cls.__name__} needs a from_config(config)")
        _HOOKS[name] = HookSpec(name, cls, order, wanted, tuple(replaces))
        return cls

    return register


def known_hooks() -> list[str]:
    return sorted(_HOOKS)


def loss_capabilities(config) -> frozenset[str]:
    """What the configured loss class declares it can do (its `capabilities`)."""
    loss_class = LOSS_REGISTRY.get(config.LOSS.get("name"))
    return frozenset(getattr(loss_class, "capabilities", ()))


def _listed_hooks(config) -> list[str]:
    names = plugin_setting(config, CONFIG_KEY)
    if names is None:  # null: none listed
        names = []
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ConfigValueError(
            f"config.{CONFIG_KEY}",
            names,
            "is not a list",
            f"a list of hook names: {known_hooks()}",
        )
    unknown = [name for name in names if name not in _HOOKS]
    if unknown:
        raise ConfigValueError(
            f"config.{CONFIG_KEY}",
            list(names),
            f"names unknown hook {unknown[0]!r}",
            f"known hooks: {known_hooks()}",
        )
    return list(names)


@register_config_inferrer(order=inference.HOOKS)
def resolve_plugin_hooks(config) -> list[str]:
    """The plugin hooks that run, in order; written back to `HOOKS.PLUGINS`.

    Idempotent: a resolved list resolves to itself.
    """
    names = _listed_hooks(config)
    names += [
        spec.name
        for spec in _HOOKS.values()
        if spec.name not in names and spec.wanted is not None and spec.wanted(config)
    ]
    names.sort(key=lambda name: _HOOKS[name].order)  # stable: ties keep list order
    for name in names:
        for key in _HOOKS[name].replaces:
            config.HOOKS[key] = False
    config.HOOKS.PLUGINS = names
    return names


def build_plugin_hooks(config) -> list[ClassyHook]:
    return [
        _HOOKS[name].cls.from_config(config) for name in resolve_plugin_hooks(config)
    ]


def seer_hook_generator(config) -> list[ClassyHook]:
    """VISSL's default hooks, then the plugin hooks :func:`resolve_plugin_hooks` picks.

    A module-level function so that `torch.multiprocessing.spawn` and submitit can
    pickle it: unpickling imports seer_plugins, and with it every registration.
    """
    plugin_hooks = build_plugin_hooks(config)  # first: turns replaced switches off
    # In the run's own log, after VISSL's "Training with config": how the config
    # was completed, and what runs around each step.
    logging.info("seer_plugins: compose-time %s", inference.resolved_order())
    logging.info("seer_plugins: plugin hooks, in order: %s", config.HOOKS.PLUGINS)
    return default_hook_generator(config) + plugin_hooks
