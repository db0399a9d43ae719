"""Compose a VISSL config exactly as our launcher does, with seer_plugins' additions.

Composition is VISSL's (its `vissl.config/defaults.yaml` primary config and Hydra's
override grammar) plus three things the host lacks:

1. our `configs/` folder on the search path (see :mod:`seer_plugins.config.source`),
   after a project's own folders named by `SEER_CONFIG_PATH`;
2. plugin defaults (`configs/defaults/*.yaml`) merged into VISSL's primary
   config, so plugin keys have values in every config, stock ones included, and
   are overridden like VISSL's own keys (Hydra's `++config.KEY=VALUE` works too);
3. the apex translation and the plugins' own inference, run around VISSL's;

and it refuses what would otherwise be ignored or fail later, in one line each
(:class:`~seer_plugins.errors.ConfigError`): a key no defaults define, Hydra's
composition errors (:mod:`seer_plugins.config.hydra_errors`).
"""

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import vissl.utils.hydra_config as vissl_hydra_config
from hydra import compose as hydra_compose
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError
from vissl.config import AttrDict, check_cfg_version
from vissl.utils.hydra_config import convert_fsdp_dtypes, save_attrdict_to_disk

from seer_plugins.config import hydra_errors
from seer_plugins.config import source as config_source
from seer_plugins.config.data_paths import follow_data_paths
from seer_plugins.config.defaults import (
    PRIMARY_CONFIG,
    defaults_tree,
    register_primary_config,
)
from seer_plugins.config.inference import (
    resolved_order,
    run_config_checks,
    run_config_inferrers,
)
from seer_plugins.config.keys import lookup
from seer_plugins.config.paths import configs_dir
from seer_plugins.config.run_dir import auto_run_dir
from seer_plugins.config.unknown_keys import unknown_key_error, unknown_keys
from seer_plugins.errors import ConfigError

SEARCHPATH_KEY = "hydra.searchpath"
# os.pathsep-separated config folders of other projects, searched before ours.
CONFIG_PATH_ENV = "SEER_CONFIG_PATH"


class ConfigNotFoundError(ConfigError):
    """`config=NAME` named no YAML file on the search path (or no config at all)."""


class CompositionError(ConfigError, ConfigCompositionException):
    """Hydra could not compose the overrides (an unknown key, a bad group option)."""


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


def _searchpath_dirs(overrides: Sequence[str]) -> list[Path]:
    """The local folders a user's `hydra.searchpath` override adds."""
    parser = OverridesParser.create()
    folders = []
    for override in overrides:
        if override.lstrip("+").split("=", 1)[0] == SEARCHPATH_KEY:
            for entry in parser.parse_overrides([override])[0].value():
                if str(entry).startswith("file://"):
                    folders.append(Path(str(entry)[len("file://") :]))
    return folders


def _requested_config_name(overrides: Sequence[str]) -> str:
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") == "config":
            return value
    return ""


def _not_found_error(name: str) -> ConfigNotFoundError:
    import configs as vissl_configs  # VISSL's wheel installs its YAML as `configs`

    looked_in = [
        f"{configs_dir()}/{name}.yaml (seer_plugins)",
        f"{Path(vissl_configs.__file__).parent}/config/{name}.yaml (VISSL's stock configs)",
        f"{Path.cwd()}/configs/config/{name}.yaml (VISSL's file://configs)",
    ]
    close = hydra_errors.close_config_names(name)
    valid = f"did you mean {', '.join(close)}?" if close else "see: seer train --list"
    return ConfigNotFoundError(
        "config", name, f"no such config; looked in {', '.join(looked_in)}", valid
    )


def _translated(error: Exception, overrides: Sequence[str], name: str) -> ConfigError:
    translated = hydra_errors.translate(error, overrides, name, defaults_tree)
    if translated is None:
        return None
    if translated.key == "config" and translated.value == name:
        return _not_found_error(name)
    return CompositionError(
        translated.key, translated.value, translated.problem, translated.valid
    )


def compose_hydra(overrides: Sequence[str]):
    """Hydra composition only: returns the DictConfig."""
    overrides = list(overrides)
    name = _requested_config_name(overrides)
    if not name:
        raise ConfigNotFoundError(
            "config",
            "",
            "no config selected",
            "pass config=NAME, e.g. config=pretrain/seer_tiny or "
            "config=test/cpu_test/test_cpu_regnet_simclr",
        )
    config_source.register()
    register_primary_config()
    GlobalHydra.instance().clear()
    try:
        # version_base pins Hydra 1.1 semantics, the ones VISSL's configs were
        # written for, and keeps Hydra 1.3 from warning on every launch.
        with initialize_config_module(config_module="vissl.config", version_base="1.1"):
            return hydra_compose(
                PRIMARY_CONFIG, overrides=_with_our_searchpath(overrides)
            )
    except (
        MissingConfigException,
        ConfigCompositionException,
        OverrideParseException,
    ) as error:
        translated = _translated(error, overrides, name)
        if translated is None:
            raise
        raise translated from error


def _is_stock_vissl_config(name: str, overrides: Sequence[str]) -> bool:
    """The selected file is one of VISSL's own (not ours, not a user's project)."""
    import configs as vissl_configs

    if (configs_dir() / f"{name}.yaml").is_file():
        return False
    if any(
        (d / "config" / f"{name}.yaml").is_file() for d in _searchpath_dirs(overrides)
    ):
        return False
    return (Path(vissl_configs.__file__).parent / "config" / f"{name}.yaml").is_file()


def check_known_keys(config: dict, overrides: Sequence[str]) -> None:
    """Refuse a key no defaults define (:mod:`seer_plugins.config.unknown_keys`).

    VISSL's own YAML files carry a few keys its defaults lack (e.g. apex arguments
    of older releases); those are tolerated with a warning, the user's are not.
    """
    defaults = defaults_tree()
    found = unknown_keys(config, defaults)
    if not found:
        return
    name = _requested_config_name(overrides)
    tolerated = set()
    if _is_stock_vissl_config(name, overrides):
        stock = OmegaConf.to_container(compose_hydra([f"config={name}"]).config)
        tolerated = set(unknown_keys(stock, defaults))
    if tolerated:
        logging.warning(
            "VISSL's config %s sets keys its defaults do not define (VISSL ignores "
            "them): %s",
            name,
            sorted(tolerated),
        )
    for path in found:
        if path not in tolerated:
            raise unknown_key_error(path, lookup(config, path), defaults)


def _command_line_keys(overrides: Sequence[str]) -> set[str]:
    """`config.X.Y` keys set on the command line, without `+` / `++`."""
    keys = set()
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        if key.startswith("config."):
            keys.add(key[len("config.") :])
    return keys


def compose_with_args(
    overrides: Sequence[str], dump_config: bool = False, check=None, claim=None
) -> tuple[AttrDict, AttrDict]:
    """Returns `(args, config)`: the whole composed AttrDict and its `config` node.

    Args:
        check: `check(config)` run on the finished config before it is dumped (the
            launcher's preflight: a refused run leaves no folder behind).
        claim: `claim(args)` run after `check`, before the dump (the launcher's
            claim of the run folder: a refused run writes nothing into another's).
        dump_config: write `train_config.yaml` into the checkpoint folder, as
            VISSL's launcher does (before FSDP dtypes become torch objects YAML
            can't hold).
    """
    cfg = compose_hydra(overrides)
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except InterpolationResolutionError as error:
        translated = _translated(error, overrides, _requested_config_name(overrides))
        raise (translated or error) from error
    check_known_keys(container["config"], overrides)
    args = AttrDict(container)
    check_cfg_version(args)
    config = args.config
    follow_data_paths(config, _command_line_keys(overrides))
    auto_run_dir(config, _requested_config_name(overrides))
    run_config_checks(config)
    # Through the module: seer_plugins.patches.vissl_inference wraps it (the apex
    # translation, our SwAV head) for VISSL's own entry points and for us alike.
    vissl_hydra_config.infer_and_assert_hydra_config(config)
    run_config_inferrers(config)
    logging.info("plugin config %s", resolved_order())
    if check is not None:
        check(config)
    if claim is not None:
        claim(args)
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
