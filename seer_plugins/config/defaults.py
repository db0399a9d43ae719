"""The defaults every config is composed on: VISSL's `defaults.yaml` plus plugin keys.

`configs/defaults/*.yaml` hold our plugins' keys, and are the one home of their
default values; another project's plugin adds its own file with
:func:`register_plugin_defaults` (before composing), so its keys are known like
VISSL's: overridable without `+`, and not refused as unknown.

Code that reads a plugin key from a config a plugin may receive without our
defaults merged in (one composed by VISSL's own code, a test's partial config)
reads it with :func:`plugin_setting` / :func:`plugin_section`, which fall back to
these files, never to a default typed again in code. A plain module built without a
config (the SwAV criterion, the trunk's options) takes its keyword defaults from
:func:`plugin_default` likewise.
"""

import copy
import functools
from collections.abc import Mapping
from pathlib import Path

import vissl.config
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from seer_plugins.config.keys import lookup
from seer_plugins.config.paths import plugin_defaults_dir
from seer_plugins.errors import ConfigError

PRIMARY_CONFIG = "seer_defaults"

_EXTRA_DEFAULTS: list[Path] = []


def register_plugin_defaults(path: str | Path) -> None:
    """Merge the YAML file `path` (a `config:` tree of defaults) into every config."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"plugin defaults {path} is not a file")
    if path not in _EXTRA_DEFAULTS:
        _EXTRA_DEFAULTS.append(path)


def _default_files() -> list[Path]:
    return [*sorted(plugin_defaults_dir().glob("*.yaml")), *_EXTRA_DEFAULTS]


def primary_config() -> DictConfig:
    """VISSL's primary config with every plugin's defaults merged in (its `defaults`
    list, which selects `config` groups, included)."""
    primary = OmegaConf.load(Path(vissl.config.__file__).with_name("defaults.yaml"))
    defaults_list = OmegaConf.to_container(primary.pop("defaults"))
    for path in _default_files():
        primary = OmegaConf.merge(primary, OmegaConf.load(path))
    primary.defaults = defaults_list
    return primary


def defaults_tree() -> dict:
    """The `config` node of :func:`primary_config`, as plain containers (unresolved)."""
    return OmegaConf.to_container(primary_config().config, resolve=False)


def register_primary_config() -> None:
    """Store :func:`primary_config` as Hydra's primary config, `seer_defaults`.

    Plugin keys then sit at the same level as VISSL's own defaults: below the
    selected `config=` YAML and the command line, and in struct mode like every
    other key, so `config.MODEL.TRUNK.SEER_REGNET.preset=x` needs no `+`.
    """
    ConfigStore.instance().store(name=PRIMARY_CONFIG, node=primary_config())


@functools.cache
def _plugin_defaults(files: tuple[Path, ...]) -> dict:
    merged = OmegaConf.merge(*(OmegaConf.load(path) for path in files))
    return OmegaConf.to_container(merged.config, resolve=False)


def plugin_defaults() -> dict:
    """The `config` tree of every plugin's defaults file (not VISSL's keys)."""
    return _plugin_defaults(tuple(_default_files()))


def plugin_default(dotted: str):
    """The default of the plugin key `dotted` (under `config`, e.g.
    `MODEL.SEER_FSDP.ENABLED`), a copy. KeyError: no defaults file defines it."""
    return copy.deepcopy(lookup(plugin_defaults(), dotted))


def plugin_setting(config: Mapping, dotted: str, within: str = ""):
    """`config`'s value of the plugin key `dotted`, or its default where `config`
    does not have it.

    Args:
        within: where `config` sits in a whole config (`MODEL` for `config.MODEL`).
    """
    value = lookup(config, dotted, default=_ABSENT)
    if value is _ABSENT:
        return plugin_default(_joined(within, dotted))
    return value


def plugin_section(config: Mapping, dotted: str, within: str = "") -> dict:
    """The plugin section `dotted` of `config` over its defaults: every key of the
    defaults files, with `config`'s values where it sets them (nested sections
    merged key by key).

    Args:
        within: where `config` sits in a whole config (`MODEL` for `config.MODEL`).
    """
    defaults = plugin_default(_joined(within, dotted))
    given = lookup(config, dotted, default=None) or {}
    if not isinstance(given, Mapping):
        raise ConfigError(
            f"config.{_joined(within, dotted)}",
            given,
            "is not a mapping of keys",
            f"its keys: {sorted(defaults)}",
        )
    return _merged(defaults, given, f"config.{_joined(within, dotted)}")


def _joined(within: str, dotted: str) -> str:
    return f"{within}.{dotted}" if within else dotted


def _merged(defaults: dict, given: Mapping, where: str) -> dict:
    for key, value in given.items():
        if isinstance(defaults.get(key), dict) and not isinstance(value, Mapping):
            raise ConfigError(
                f"{where}.{key}",
                value,
                "is not a mapping of keys",
                f"its keys: {sorted(defaults[key])}",
            )
        if isinstance(value, Mapping) and isinstance(defaults.get(key), dict):
            value = _merged(defaults[key], value, f"{where}.{key}")
        defaults[key] = value
    return defaults


_ABSENT = object()
