"""One way to fail before training: `<key>=<value>: <what is wrong>; <what is valid>`.

Every refusal of a config or an input, at compose time, in the launcher's preflight,
in the sweep and in the tools, raises a :class:`ConfigError`; the command-line
entry points print its one line as `error: ...` and exit with status 2, before any
process starts.
"""

# The exit status of a refused config or input (argparse's, for the same kind of error).
EXIT_STATUS = 2


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
        super().__init__(f"{line}; {valid}" if valid else line)


class ConfigValueError(ConfigError):
    """A config key holds a value of the wrong type or out of range."""
