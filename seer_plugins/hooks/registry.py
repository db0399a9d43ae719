"""A registry of plugin hooks, switched on by name from `config.HOOKS.PLUGINS`.

VISSL builds its hooks in `default_hook_generator` from an if-chain over config keys
and loss names, with no way to add one from outside. Plugin hooks register here under
a name; a config lists the names it wants, and :func:`seer_hook_generator` returns
VISSL's default hooks first and the listed plugin hooks after them, in list order.

A registered hook class builds itself with `from_config(config)` and asks the config
(or, at run time, the task) for what it needs: hooks key on capability, not names.
"""

from collections.abc import Callable

from classy_vision.hooks import ClassyHook
from vissl.hooks import default_hook_generator

from seer_plugins.config_inference import register_config_inferrer

CONFIG_KEY = "HOOKS.PLUGINS"

_HOOKS: dict[str, Callable] = {}


def register_hook(name: str):
    """Class decorator: register a ClassyHook subclass with `from_config(config)`."""

    def register(cls):
        if name in _HOOKS and _HOOKS[name] is not cls:
            raise ValueError(f"plugin hook {name!r} is already registered")
        if not hasattr(cls, "from_config"):
            raise TypeError(f"plugin hook {cls.__name__} needs a from_config(config)")
        _HOOKS[name] = cls
        return cls

    return register


def known_hooks() -> list[str]:
    return sorted(_HOOKS)


def _requested_hooks(config) -> list[str]:
    names = config.HOOKS.get("PLUGINS", []) or []
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ValueError(
            f"config.{CONFIG_KEY}={names!r} must be a list of hook names; "
            f"known hooks: {known_hooks()}"
        )
    return list(names)


@register_config_inferrer
def check_plugin_hooks(config) -> None:
    """Fail at compose time, before any process starts, on an unknown hook name."""
    for name in _requested_hooks(config):
        if name not in _HOOKS:
            raise ValueError(
                f"config.{CONFIG_KEY} names unknown hook {name!r}; "
                f"known hooks: {known_hooks()}"
            )


def build_plugin_hooks(config) -> list[ClassyHook]:
    check_plugin_hooks(config)
    return [_HOOKS[name].from_config(config) for name in _requested_hooks(config)]


def seer_hook_generator(config) -> list[ClassyHook]:
    """VISSL's default hooks, then the plugin hooks listed in `config.HOOKS.PLUGINS`.

    A module-level function so that `torch.multiprocessing.spawn` and submitit can
    pickle it: unpickling imports seer_plugins, and with it every registration.
    """
    return default_hook_generator(config) + build_plugin_hooks(config)
