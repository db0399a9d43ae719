"""One way to fail before training: `<key>=<value>: <what is wrong>; <what is valid>`.

Every refusal of a config or an input, at compose time, in the launcher's preflight,
in the sweep and in the tools, raises a :class:`ConfigError`; the command-line
entry points print its one line with :func:`report` (`error: ...`) and exit with
status 2, before any process starts. Every layer of the package may stand on this
module; it imports none of them.
"""

import argparse
import difflib
import re
import sys

# The exit status of a refused config or input (argparse's, for the same kind of error).
EXIT_STATUS = 2


class _Missing:
    """The value of a key that was not given at all."""

    def __str__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def _show(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


class ConfigError(ValueError):
    """A config key or input whose value cannot work.

    Args:
        key: where the value came from, e.g. `config.DATA.TRAIN.BATCHSIZE_PER_REPLICA`
            or `--per-class`.
        value: the bad value.
        problem: what is wrong with it.
        valid: what would be valid, or what to do.
    """

    def __init__(self, key: str, value, problem: str, valid: str = ""):
        self.key, self.value, self.problem, self.valid = key, value, problem, valid
        line = f"{key}={_show(value)}: {problem}"
        # One line, whatever the parts hold (a path list, an upstream message).
        line = f"{line}; {valid}" if valid else line
        super().__init__(" ".join(line.split()))


class ConfigValueError(ConfigError):
    """A config key holds a value of the wrong type or out of range."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose bad command line is a ConfigError (in its format where argparse
    names the option): the command prints it with :func:`report`, as any other
    refusal, instead of argparse's usage and message."""

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        # argparse reports a missing required option before an unknown one: a
        # misspelt option (--fration) is what the user needs to hear of.
        known = [o for o in self._option_string_actions if o.startswith("--")]
        for arg in getattr(self, "_given", []):
            option = arg.split("=", 1)[0]
            # argparse takes a unique prefix of an option for the option.
            if option.startswith("--") and not any(k.startswith(option) for k in known):
                close = difflib.get_close_matches(option, known, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                raise ConfigError(
                    "option", option, "unknown", f"{hint}see {self.prog} --help"
                )
        raise argparse_error(message, self.prog)


def command_parser(
    command: str, description: str, example: str, **kwargs
) -> OneLineArgumentParser:
    """The parser of `seer <command>`: one-line errors; `--help` ends with `example`
    (the arguments after `seer <command>`)."""
    return OneLineArgumentParser(
        prog=f"seer {command}",
        description=description,
        epilog=f"example: seer {command} {example}",
        **kwargs,
    )


def argparse_error(message: str, prog: str) -> ConfigError:
    """argparse's `argument --x: invalid int value: 'v'` as `--x='v': invalid ...`."""
    help_hint = f"see {prog} --help"
    required = re.match(r"the following arguments are required: (.*)$", message)
    if required:
        return ConfigError(required.group(1), MISSING, "is required", help_hint)
    unrecognized = re.match(r"unrecognized arguments: (.*)$", message)
    if unrecognized:
        return ConfigError(
            "arguments", unrecognized.group(1), "are not options of " + prog, help_hint
        )
    match = re.match(r"argument ([^:]+): (.*)$", message)
    if not match:
        return ConfigError(prog, "", message, help_hint)
    option = match.group(1).split("/")[-1]
    choice = re.match(r"invalid choice: '(.*)' \(choose from (.*)\)$", match.group(2))
    if choice:
        return ConfigError(
            option, choice.group(1), "is not a choice", f"choose from {choice.group(2)}"
        )
    value = re.search(r"(.*): '(.*)'$", match.group(2))
    if value:
        return ConfigError(option, value.group(2), value.group(1), help_hint)
    return ConfigError(option, "", match.group(2), help_hint)


def report(error: ConfigError, stream=None) -> int:
    """Print `error` as the one line every tool prints; returns the exit status."""
    print(f"error: {error}", file=stream or sys.stderr)
    return EXIT_STATUS


def run_tool(main, argv=None) -> int:
    """Run a tool's `main(argv)`: a ConfigError becomes one line and exit status 2."""
    try:
        return main(argv) or 0
    except ConfigError as error:
        return report(error)
