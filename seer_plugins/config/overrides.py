"""Python values written as Hydra command-line overrides (`config.KEY=VALUE`), and
a command line's overrides read back as one per key."""

import re
from collections.abc import Mapping, Sequence

from seer_plugins.errors import ConfigError

# Characters a bare string may hold in Hydra's grammar without changing meaning.
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_./@+-]*$")
_KEYWORDS = {"true", "false", "null", "nan", "inf"}


def quoted(text: str) -> str:
    """`text` as a Hydra quoted string: any path (commas, brackets, spaces,
    non-ASCII, quotes) reads back as itself. Hydra unescapes a backslash only
    before a quote, so only those (and trailing ones, before the closing quote)
    are doubled."""
    body = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    body = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, body)
    return f"'{body}'"


def hydra_value(value) -> str:
    """`value` in Hydra's override grammar: `[a,b]`, `{k:v}`, `true`; a string
    bare when the grammar reads it back unchanged, quoted otherwise."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, str):
        if _BARE.match(value) and value.lower() not in _KEYWORDS:
            return value
        return quoted(value)
    if hasattr(value, "__iter__"):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return str(value)


def override(key: str, value) -> str:
    """`key=value` for the launcher's command line."""
    return f"{key}={hydra_value(value)}"


def check_not_split(overrides: Sequence[str]) -> None:
    """Refuse a key given in several overrides in a row whose values differ only in
    their digits, and are not numbers: what a shell makes of an unquoted brace
    pattern (`KEY=[/data/{0..2}.tar]` becomes three `KEY=[/data/N.tar]` words), of
    which Hydra would keep the last alone, silently. A key given again otherwise (a
    base command line, then a change: `num_epochs=1 num_epochs=2`) keeps Hydra's
    last-wins; options (`--labels=1% --labels=10%`) are the command's."""
    key, values = None, []
    for word in [*overrides, ""]:
        name, equals, value = word.partition("=")
        # `--option=value` words are a command's own (`--labels=1% --labels=10%`).
        equals = equals and not name.startswith("-")
        if equals and name == key:
            values.append(value)
            continue
        if _expanded(values):
            raise ConfigError(
                key,
                values[0],
                f"given {len(values)} times in a row (the last ={values[-1]}): a "
                "shell's expansion of an unquoted brace pattern, of which Hydra "
                "would keep the last alone",
                f"quote the whole override: {_quoted_pattern(key, values)}",
            )
        key, values = (name, [value]) if equals else (None, [])


def _expanded(values: list[str]) -> bool:
    """What a shell's brace expansion makes: distinct values, the same but for their
    digits, that are not numbers."""
    shapes = {re.sub(r"\d+", "#", v) for v in values}
    distinct = len(set(values)) > 1
    return distinct and len(shapes) == 1 and not all(map(_is_number, values))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _quoted_pattern(key: str, values: list[str]) -> str:
    """The override as it should have been typed: the pattern rebuilt where one run
    of digits varies, in both quotes; else an example."""
    parts = [re.split(r"(\d+)", v) for v in values]
    varying = [i for i in range(1, len(parts[0]), 2) if len({p[i] for p in parts}) > 1]
    example = f"'{key}=[\"/data/{{00000..41455}}.tar\"]'"
    if len(varying) != 1:
        return f"as in {example}"
    i = varying[0]
    pattern = "".join(
        [*parts[0][:i], f"{{{parts[0][i]}..{parts[-1][i]}}}", *parts[0][i + 1 :]]
    )
    if pattern.startswith("[") and pattern.endswith("]"):
        inner = pattern[1:-1]
        return f"as in {example}" if "," in inner else f"'{key}=[\"{inner}\"]'"
    return f"'{key}=\"{pattern}\"'"
