"""The defaults every config is composed on: VISSL's `defaults.yaml` plus plugin keys.

`configs/defaults/*.yaml` hold our plugins' keys; another project's plugin adds its
own file with :func:`register_plugin_defaults` (before composing), so its keys are
known like VISSL's: overridable without `+`, and not refused as unknown.
"""

from pathlib import Path

import vissl.config
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from seer_plugins.config.paths import plugin_defaults_dir

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
