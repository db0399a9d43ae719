"""Compose a VISSL config exactly as our launcher does, with seer_plugins' additions.

Composition is VISSL's (its `vissl.config/defaults.yaml` primary config and Hydra's
override grammar) plus three things the host lacks:

1. our `configs/` folder on the search path (see :mod:`seer_plugins.config.source`),
   after a project's own folders named by `SEER_CONFIG_PATH`;
2. plugin defaults (`configs/defaults/*.yaml`) merged into VISSL's primary
   config, so plugin keys have values in every config, stock ones included, and
   are overridden like VISSL's own keys (Hydra's `++config.KEY=VALUE` works too);
3. the apex translation and the plugins' own inference, run around VISSL's.
"""

import difflib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import vissl.config
from hydra import compose as hydra_compose
from hydra import initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf
from vissl.config import AttrDict, check_cfg_version
from vissl.utils.hydra_config import (
    convert_fsdp_dtypes,
    infer_and_assert_hydra_config,
    save_attrdict_to_disk,
)

from seer_plugins.checks.errors import ConfigError
from seer_plugins.compat.apex_config import translate_apex_settings
from seer_plugins.config import source as config_source
from seer_plugins.config.inference import run_config_checks, run_config_inferrers
from seer_plugins.config.paths import configs_dir, plugin_defaults_dir

SEARCHPATH_KEY = "hydra.searchpath"
PRIMARY_CONFIG = "seer_defaults"
# os.pathsep-separated config folders of other projects, searched before ours.
CONFIG_PATH_ENV = "SEER_CONFIG_PATH"


class ConfigNotFoundError(ValueError):
    """`config=NAME` named no YAML file on the search path."""


def project_searchpath(value: str | None = None) -> list[str]:
    """Hydra search path entries for the folders in `SEER_CONFIG_PATH` (or `value`).

    A folder holding `config/` is laid out like VISSL's `configs/`
    (`<folder>/config/<group>/<name>.yaml`) and is searched as `file://`; any other
    folder is laid out like ours (`<folder>/<group>/<name>.yaml`) and is served as
    the `config` group by our config source. Relative folders are taken from the
    working directory at compose time.
    """
    value = os.environ.get(CONFIG_PATH_ENV, "") if value is None else value
    entries = []
    for folder in (f for f in value.split(os.pathsep) if f):
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(
                CONFIG_PATH_ENV,
                folder,
                "is not a folder",
                "name folders of YAML configs, separated by " + repr(os.pathsep),
            )
        scheme = "file" if (path / "config").is_dir() else config_source.SCHEME
        entries.append(f"{scheme}://{path}")
    return entries


def _with_our_searchpath(overrides: Sequence[str]) -> list[str]:
    """Append our config source to `hydra.searchpath`, keeping a user's own entries
    and, before ours, the project folders of `SEER_CONFIG_PATH`."""
    ours = f"{config_source.SCHEME}://{configs_dir()}"
    result, extra = [], []
    parser = OverridesParser.create()
    for override in overrides:
        if override.lstrip("+").split("=", 1)[0] == SEARCHPATH_KEY:
            extra.extend(parser.parse_overrides([override])[0].value())
        else:
            result.append(override)
    paths = ",".join(repr(p) for p in [*extra, *project_searchpath(), ours])
    return [*result, f"{SEARCHPATH_KEY}=[{paths}]"]


def _requested_config_name(overrides: Sequence[str]) -> str:
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") == "config":
            return value
    return ""


def _known_config_names() -> list[str]:
    import configs as vissl_configs  # VISSL's wheel installs its YAML as `configs`

    names = []
    for root in (configs_dir(), Path(vissl_configs.__file__).parent / "config"):
        names += [
            str(p.relative_to(root))[: -len(".yaml")]
            for p in root.rglob("*.yaml")
            if p.parent != plugin_defaults_dir()
        ]
    return sorted(set(names))


def _not_found_error(name: str, cause: Exception) -> ConfigNotFoundError:
    import configs as vissl_configs

    looked_in = [
        f"{configs_dir()}/{name}.yaml (seer_plugins)",
        f"{Path(vissl_configs.__file__).parent}/config/{name}.yaml (VISSL's stock configs)",
        f"{Path.cwd()}/configs/config/{name}.yaml (VISSL's file://configs)",
    ]
    close = difflib.get_close_matches(name, _known_config_names(), n=5, cutoff=0.5)
    hint = f"\nClosest names: {', '.join(close)}" if close else ""
    where = "\n  ".join(looked_in)
    return ConfigNotFoundError(
        f"config={name!r} not found. Looked in:\n  {where}{hint}\n({cause})"
    )


def _register_primary_config() -> None:
    """Store VISSL's primary config with the plugin defaults merged in, as `seer_defaults`.

    Plugin keys then sit at the same level as VISSL's own defaults: below the
    selected `config=` YAML and the command line, and in struct mode like every
    other key, so `config.MODEL.TRUNK.SEER_REGNET.preset=x` needs no `+`.
    """
    primary = OmegaConf.load(Path(vissl.config.__file__).with_name("defaults.yaml"))
    defaults_list = OmegaConf.to_container(primary.pop("defaults"))
    for path in sorted(plugin_defaults_dir().glob("*.yaml")):
        primary = OmegaConf.merge(primary, OmegaConf.load(path))
    primary.defaults = defaults_list
    ConfigStore.instance().store(name=PRIMARY_CONFIG, node=primary)


def compose_hydra(overrides: Sequence[str]):
    """Hydra composition only: returns the DictConfig."""
    overrides = list(overrides)
    name = _requested_config_name(overrides)
    if not name:
        raise ConfigNotFoundError(
            "no config selected: pass config=NAME, e.g. config=pretrain/seer_tiny "
            "or config=test/cpu_test/test_cpu_regnet_simclr"
        )
    config_source.register()
    _register_primary_config()
    GlobalHydra.instance().clear()
    try:
        # version_base pins Hydra 1.1 semantics, the ones VISSL's configs were
        # written for, and keeps Hydra 1.3 from warning on every launch.
        with initialize_config_module(config_module="vissl.config", version_base="1.1"):
            cfg = hydra_compose(
                PRIMARY_CONFIG, overrides=_with_our_searchpath(overrides)
            )
    except (MissingConfigException, ConfigCompositionException) as error:
        if f"config/{name}" in str(error) or "Could not find" in str(error):
            raise _not_found_error(name, error) from error
        raise
    return cfg


def compose_with_args(
    overrides: Sequence[str], dump_config: bool = False
) -> tuple[AttrDict, AttrDict]:
    """Returns `(args, config)`: the whole composed AttrDict and its `config` node.

    With `dump_config`, writes `train_config.yaml` into the checkpoint folder, as
    VISSL's launcher does (before FSDP dtypes become torch objects YAML can't hold).
    """
    cfg = compose_hydra(overrides)
    args = AttrDict(OmegaConf.to_container(cfg, resolve=True))
    check_cfg_version(args)
    config = args.config
    run_config_checks(config)
    translate_apex_settings(config)
    infer_and_assert_hydra_config(config)
    run_config_inferrers(config)
    if dump_config:
        save_attrdict_to_disk(config)
    convert_fsdp_dtypes(config)
    logging.debug("composed config for overrides %s", list(overrides))
    return args, config


def compose(overrides: Sequence[str]) -> AttrDict:
    """The VISSL config (the AttrDict `launch_distributed` receives) for `overrides`.

    Args:
        overrides: Hydra overrides as on the launcher's command line, e.g.
            `["config=pretrain/seer_tiny", "config.OPTIMIZER.num_epochs=1",
            "++config.HOOKS.PLUGINS=[seer_progress_bar]"]`.
    """
    return compose_with_args(overrides)[1]
