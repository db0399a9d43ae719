"""Every key under `config` must be one VISSL or a plugin defines: typos are refused.

Hydra's struct mode refuses `config.OPTIMIZER.weight_decy=0.1`, but its own message
then suggests `+config...`, and a YAML file or `++config...` adds any key silently:
VISSL ignores it and the run trains without the setting the user meant. Here the
composed config is compared with the defaults tree (VISSL's `defaults.yaml` merged
with every plugin's `configs/defaults/*.yaml`); an unknown key is refused with the
nearest valid one.

Free-form places are not checked below their root: lists (transforms, heads), a
defaults node that is an empty mapping (e.g. `MODEL.TRUNK.REGNET`), and the
mappings named in :data:`FREE_FORM` (apex's arguments; one scheduler per parameter
name).
"""

import difflib
from collections.abc import Mapping

from seer_plugins.errors import ConfigError

FREE_FORM = ("MODEL.AMP_PARAMS.AMP_ARGS", "OPTIMIZER.param_schedulers")


def unknown_keys(config: Mapping, defaults: Mapping, prefix: str = "") -> list[str]:
    """Dotted paths of `config` (under `prefix`) that `defaults` does not define."""
    found = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if key not in defaults:
            found.append(path)
            continue
        known = defaults[key]
        if (
            isinstance(value, Mapping)
            and isinstance(known, Mapping)
            and known
            and path not in FREE_FORM
        ):
            found += unknown_keys(value, known, f"{path}.")
    return found


def _node(defaults: Mapping, path: str) -> Mapping:
    node = defaults
    for part in path.split(".")[:-1]:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _all_paths(node: Mapping, prefix: str = "") -> list[str]:
    paths = []
    for key, value in node.items():
        paths.append(f"{prefix}{key}")
        if isinstance(value, Mapping):
            paths += _all_paths(value, f"{prefix}{key}.")
    return paths


def suggestion(path: str, defaults: Mapping) -> str:
    """What to write instead of the unknown `path`, in words: a close name beside
    it, else the same name under another prefix (`NUM_DATALOADER_WORKERS` ->
    `DATA.NUM_DATALOADER_WORKERS`), else the keys beside it."""
    parent, _, name = path.rpartition(".")
    siblings = sorted(_node(defaults, path))
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    where = f"config.{parent}." if parent else "config."
    if close:
        return f"did you mean {where}{close[0]}?"
    elsewhere = sorted(
        (p for p in _all_paths(defaults) if p.rpartition(".")[2] == name),
        key=lambda p: (p.count("."), p),
    )
    if elsewhere:
        shown = " or ".join(f"config.{p}" for p in elsewhere[:3])
        return f"did you mean {shown}?"
    shown = ", ".join(siblings[:12]) + (" ..." if len(siblings) > 12 else "")
    return f"valid keys under {where.rstrip('.')}: {shown}"


def unknown_key_error(path: str, value, defaults: Mapping) -> ConfigError:
    return ConfigError(
        f"config.{path}",
        value,
        "no such key in VISSL's defaults or any plugin's (it would be ignored)",
        suggestion(path, defaults),
    )
