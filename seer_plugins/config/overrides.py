"""Python values written as Hydra command-line overrides (`config.KEY=VALUE`)."""

from collections.abc import Mapping


def hydra_value(value) -> str:
    """`value` in Hydra's override grammar: `[a,b]`, `{k:v}`, `true`, bare strings."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if hasattr(value, "__iter__"):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return str(value)


def override(key: str, value) -> str:
    """`key=value` for the launcher's command line."""
    return f"{key}={hydra_value(value)}"
