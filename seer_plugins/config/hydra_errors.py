"""Hydra's and OmegaConf's composition errors, told as one `ConfigError` line.

Hydra reports a typo in a group override (`config/pretrain/seer/models=regnety_tinyy`)
as the main config not being found, an unknown key with the advice to add it with
`+`, and a syntax error without saying which override; OmegaConf reports a failed
`${...}` interpolation with its node path on a second line. Each is rewritten here to
name the override, the bad value and what is valid.
"""

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from seer_plugins.config.keys import lookup
from seer_plugins.config.paths import DEFAULTS_FOLDER, configs_dir
from seer_plugins.config.unknown_keys import unknown_key_error
from seer_plugins.errors import ConfigError

GROUP_ROOT = "config"


def _config_roots() -> list[Path]:
    import configs as vissl_configs  # VISSL's wheel installs its YAML as `configs`

    return [configs_dir(), Path(vissl_configs.__file__).parent / GROUP_ROOT]


def known_config_names() -> list[str]:
    """Every `config=NAME` ours and VISSL's configs offer."""
    names = set()
    for root in _config_roots():
        for path in root.rglob("*.yaml"):
            relative = path.relative_to(root)
            if relative.parts[0] != DEFAULTS_FOLDER:
                names.add(str(relative.with_suffix("")))
    return sorted(names)


def known_groups() -> list[str]:
    """Every config group (`config/pretrain/seer/models`, ...) ours and VISSL's have."""
    groups = set()
    for root in _config_roots():
        for path in root.rglob("*"):
            relative = path.relative_to(root)
            if path.is_dir() and relative.parts[0] not in (
                DEFAULTS_FOLDER,
                "__pycache__",
            ):
                groups.add(f"{GROUP_ROOT}/{relative.as_posix()}")
    return sorted(groups)


def _close(word: str, candidates: Sequence[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(word, candidates, n=n, cutoff=0.5)


def close_config_names(name: str) -> list[str]:
    return _close(name, known_config_names(), n=5)


def config_not_found(name: str) -> ConfigError:
    """The main config `name` does not exist (compose words the full message)."""
    return ConfigError("config", name, "no such config")


def _override_value(overrides: Sequence[str], key: str):
    for override in overrides:
        name, _, value = override.partition("=")
        if name.lstrip("+") == key:
            return value
    return None


def _missing_config(error: MissingConfigException, name: str) -> ConfigError:
    missing = str(getattr(error, "missing_cfg_file", "") or "")
    group, _, option = missing.rpartition("/")
    if missing == f"{GROUP_ROOT}/{name}" or not group:
        return config_not_found(name)
    options = list(getattr(error, "options", None) or [])
    close = _close(option, options, n=1)
    hint = f"did you mean {group}={close[0]}? " if close else ""
    return ConfigError(
        group, option, "no such option of this config group", f"{hint}valid: {options}"
    )


def _failed_override(error: ConfigCompositionException, overrides, defaults):
    match = re.search(r"Could not override '([^']+)'", str(error))
    if not match:
        return None
    key = match.group(1)
    value = _override_value(overrides, key)
    if key.startswith(f"{GROUP_ROOT}/"):
        close = _close(key, known_groups(), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return ConfigError(
            key, value, "no such config group", f"{hint}see seer train --list"
        )
    if key.startswith(f"{GROUP_ROOT}."):
        path, tree = key[len(GROUP_ROOT) + 1 :], defaults()
        # A known section given a mapping: the mapping names a key it lacks.
        node = lookup(tree, path, default=None)
        given = _override_mapping(overrides, key)
        unknown = [k for k in given if k not in node] if isinstance(node, dict) else []
        if unknown:
            return unknown_key_error(f"{path}.{unknown[0]}", given[unknown[0]], tree)
        return unknown_key_error(path, value, tree)
    return None


def _override_mapping(overrides: Sequence[str], key: str) -> dict:
    """The mapping an override of `key` gives (`KEY={a: 1}`), else {}."""
    for override in overrides:
        if override.partition("=")[0].lstrip("+") != key:
            continue
        try:
            value = OverridesParser.create().parse_overrides([override])[0].value()
        except Exception:  # malformed: reported by the other translations
            return {}
        return dict(value) if isinstance(value, dict) else {}
    return {}


def _bad_syntax(overrides: Sequence[str]) -> ConfigError | None:
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except OverrideParseException as error:
            message = str(error).splitlines()[0]
            key, _, value = override.partition("=")
            valid = "write lists as [a,b], mappings as {k:v}; quote values with spaces"
            if "{" in value and ".." in value:
                # A shard pattern: Hydra reads an unquoted { as a mapping.
                valid = (
                    "quote a brace pattern inside the list, and the whole "
                    f"override for the shell: '{key}=[\"/data/{{00000..00099}}"
                    ".tar\"]'"
                )
            return ConfigError(
                key, value, f"is not a valid Hydra override ({message})", valid
            )
    return None


def _raised_by_resolver(error: Exception) -> ConfigError | None:
    """A resolver's own ConfigError (it says it best), found in OmegaConf's chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ConfigError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _interpolation(error: InterpolationResolutionError) -> ConfigError:
    text = str(error)
    expression = re.search(r"\$\{[^}]*\}", text)
    problem = text.split("\n", 1)[0]
    problem = re.sub(r"^\w+ raised while resolving interpolation: ", "", problem)
    if expression:
        problem = problem.replace(f"{expression.group(0)}: ", "")
    key = getattr(error, "full_key", None) or "config"
    return ConfigError(
        key,
        expression.group(0) if expression else "?",
        problem,
        "see docs/recipes.md and the README for the ${seer.*} resolvers",
    )


def translate(error: Exception, overrides: Sequence[str], name: str, defaults):
    """The ConfigError that says what `error` means for `overrides`, or None.

    Args:
        defaults: a function returning the defaults tree (called only when needed).
    """
    if isinstance(error, MissingConfigException):
        return _missing_config(error, name)
    if isinstance(error, ConfigCompositionException):
        cause = error.__cause__
        if isinstance(cause, MissingConfigException):
            return _missing_config(cause, name)
        return _failed_override(error, overrides, defaults)
    if isinstance(error, OverrideParseException):
        return _bad_syntax(overrides)
    if isinstance(error, InterpolationResolutionError):
        return _raised_by_resolver(error) or _interpolation(error)
    if isinstance(error, OmegaConfBaseException):
        return None
    return None
