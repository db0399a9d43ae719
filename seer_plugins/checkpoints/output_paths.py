"""An output file never replaces an input, nor anything else unasked.

Every command that writes a file the user names (`seer convert`, `seer
init-checkpoint`, `seer split`) checks it here before any slow work: the path is
resolved through its links (`runs/pretrain/checkpoint.torch` names the trained final
checkpoint), refused when it is one of the command's inputs, refused when it exists
unless `--force`, and its folder is made, or refused, now rather than after minutes
of loading. Writes then go through :mod:`seer_plugins.checkpoints.atomic`.
"""

import os
from collections.abc import Iterable
from pathlib import Path

from seer_plugins.errors import ConfigError


def checked_output(
    output: str | os.PathLike,
    inputs: Iterable[str | os.PathLike] = (),
    force: bool = False,
    key: str = "OUTPUT",
) -> Path:
    """The file to write for `output` (links resolved), or a one-line refusal."""
    given = Path(output).expanduser()
    target = given.resolve()
    via = f" (a link to {target})" if given.is_symlink() else ""
    for source in inputs:
        source = Path(source).expanduser().resolve()
        if target == source:
            raise ConfigError(
                key,
                str(output),
                f"is the input {source}{via}: writing it would replace what the "
                "command reads",
                "give another output path",
            )
        if source in target.parents:
            raise ConfigError(
                key,
                str(output),
                f"is inside the input {source}: it would become part of what the "
                "command reads",
                "give an output path outside it",
            )
    if target.is_dir():
        raise ConfigError(key, str(output), "is a folder", "give a file path")
    if target.exists() and not force:
        raise ConfigError(
            key,
            str(output),
            f"exists{via}",
            "add --force to replace it, or give another output path",
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            key,
            str(output),
            f"its folder {target.parent} cannot be made ({error.strerror or error})",
            "give an output path in a folder you can write",
        ) from None
    if not os.access(target.parent, os.W_OK):
        raise ConfigError(
            key,
            str(output),
            f"its folder {target.parent} cannot be written",
            "give an output path in a folder you can write",
        )
    return target
