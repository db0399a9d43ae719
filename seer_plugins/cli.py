"""`seer <command>`, also `python -m seer_plugins <command>`: the commands in the
order a user needs them. `tools/*.py` are aliases of these commands.

Each command is `function(argv) -> exit status`, imported when it runs. A refused
input prints one line, `error:
<key>=<value>: <what is wrong>; <what is valid>`, and exits with status 2.
"""

import difflib
import importlib
import os
import sys
from collections.abc import Sequence

from seer_plugins.config.overrides import check_not_split
from seer_plugins.errors import EXIT_STATUS, ConfigError, report

# name -> (module:function, summary); the order of `seer --help`.
COMMANDS = {
    "demo": (
        "seer_plugins.apps.demo.pipeline:main",
        "the whole pipeline on digits or on your image folder (--data DIR)",
    ),
    "plan": (
        "seer_plugins.apps.memory_plan.command:main",
        "per-GPU memory of a config, sharded or not, against your GPUs' memory",
    ),
    "train": (
        "seer_plugins.apps.launcher:train",
        "pretrain, evaluate or extract features: config=NAME [OVERRIDE ...]",
    ),
    "shards": (
        "seer_plugins.apps.shards:main",
        "pack images into WebDataset tar shards, or index existing shards",
    ),
    "split": (
        "seer_plugins.apps.commands:split",
        "write a class-balanced low-shot split file of an image folder",
    ),
    "init-checkpoint": (
        "seer_plugins.apps.sweep.init_checkpoint:main",
        "write a config's untrained model: the random-init baseline",
    ),
    "sweep": (
        "seer_plugins.apps.sweep.command:main",
        "a benchmark over checkpoints x label subsets x seeds; tables, results.png",
    ),
    "plot": (
        "seer_plugins.apps.plots.command:main",
        "plot a run's loss, learning rate and img/s, or a sweep's results",
    ),
    "convert": (
        "seer_plugins.apps.convert:main",
        "convert RegNetY weights between VISSL/SEER and timm",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: seer <command> [ARGS ...]   (python -m seer_plugins <command> ...)",
        "",
        "SEER (SwAV on RegNetY) through VISSL's engine, from YAML.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()),
        "",
        "`seer <command> --help` describes each; `seer train --list` lists configs.",
    ]
    return "\n".join(lines) + "\n"


# The errors that are a refused input, not a bug: printed as one line. Every refusal
# is a ConfigError; a missing file at this level is one the command line named (the
# sweep's checkpoints and split files, for instance).
REFUSALS = (ConfigError, FileNotFoundError)
# A shell's status for a command its pipe's reader left (128 + SIGPIPE).
SIGPIPE_STATUS = 141


def run(name: str, argv: Sequence[str]) -> int:
    """Run command `name` with its arguments; returns its exit status."""
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        valid = f"valid: {', '.join(COMMANDS)}{hint}"
        return report(ConfigError("command", name, "unknown command", valid))
    target, _ = COMMANDS[name]
    module, function = target.split(":")
    command = getattr(importlib.import_module(module), function)
    program = sys.argv[0]
    sys.argv[0] = f"seer {name}"  # argparse's prog: `usage: seer sweep ...`
    try:
        # The words as the shell passed them: a brace pattern it expanded shows here.
        check_not_split(argv)
        status = int(command(list(argv)) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except REFUSALS as error:
        return report(error)
    except SystemExit as stop:  # argparse: --help (0) or a bad command line (2)
        return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BrokenPipeError:  # `seer ... | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_STATUS
    finally:
        sys.argv[0] = program


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_STATUS
    return run(argv[0], argv[1:])
