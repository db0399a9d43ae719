"""Dotted key paths into a config: `lookup(config, "MODEL.TRUNK.NAME")`."""

from collections.abc import Mapping

# The default of `lookup`: a missing key raises.
REQUIRED = object()


def lookup(config: Mapping, dotted: str, default=REQUIRED):
    """The value at `dotted` (keys joined by dots) in the nested mappings of
    `config`; `default` where a key on the way is missing, or KeyError without one."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is REQUIRED:
                raise KeyError(dotted)
            return default
        node = node[part]
    return node
