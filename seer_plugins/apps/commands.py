"""`seer split`, whose logic is :mod:`seer_plugins.data.low_shot_split`, as a command:
it takes the command's arguments and returns an exit status; a refused input raises
:class:`~seer_plugins.errors.ConfigError` (`seer_plugins.cli` prints it as one
line, exit status 2). The other commands live in their own modules
(:data:`seer_plugins.cli.COMMANDS`)."""

from collections.abc import Sequence


def split(argv: Sequence[str]) -> int:
    """`seer split`: a class-balanced, seeded low-shot split file."""
    from seer_plugins.data.low_shot_split import main

    main(argv)
    return 0
