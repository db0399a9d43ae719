"""How a launch that did not finish says so: one line, once per node, with the exit
status a script can test (2 for a refusal, 128 + signal for a stop).

A spawned worker's exception reaches our launcher as torch's re-raised traceback:
its class and message are read back from it. Under torchrun and srun every rank
finds the same refusal: the node's first process says it, and under torchrun the
line also goes into the rank's error file, which torchrun's failure summary shows.
"""

import importlib
import os
import re
import sys

from seer_plugins.errors import ConfigError

# How long a rank that stays quiet waits before exiting, so that the launcher,
# seeing it exit, does not stop the node's first process before it said the line.
SAID_ELSEWHERE_WAIT_S = 3


def worker_exception(error: Exception) -> tuple[type, str] | None:
    """The class and message of the exception a spawned worker raised, from torch's
    re-raised traceback (its last line: `module.Class: message`)."""
    text = str(error).strip().splitlines()
    last = text[-1] if text else ""
    match = re.match(r"^([\w.]+): (.*)$", last)
    if not match:
        return None
    module, _, name = match.group(1).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return (cls, match.group(2)) if isinstance(cls, type) else None


def worker_config_error(error: Exception) -> ConfigError | None:
    """The ConfigError a spawned worker raised, from torch's re-raised traceback."""
    found = worker_exception(error)
    if found is None or not issubclass(found[0], ConfigError):
        return None
    refused = ConfigError("", "", "")
    refused.args = (found[1],)
    return refused


def first_on_node() -> bool:
    """Whether this process is the first of its node, as torchrun or srun number
    them (True for any other launch)."""
    local = (
        os.environ.get("LOCAL_RANK") if os.environ.get("TORCHELASTIC_RUN_ID") else None
    )
    local = local or os.environ.get("SLURM_LOCALID") or "0"
    return local.strip() in ("", "0")


def tell_torchrun(error: Exception) -> None:
    """Under torchrun, put the one line in its failure summary ("Root Cause"),
    which otherwise shows a traceback hint below a rank's own lines."""
    if os.environ.get("TORCHELASTIC_ERROR_FILE"):
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        ErrorHandler().record_exception(error)


def interrupted(message: str, signum: int) -> int:
    """Say why the run stopped (one line, once per node: every rank stopped at the
    same checkpoint) and return the exit status 128 + signal."""
    if first_on_node():
        print(f"seer train: {message}", file=sys.stderr)
    return 128 + signum
