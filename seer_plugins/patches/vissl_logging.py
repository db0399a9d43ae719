"""VISSL's log calls that pass an argument without a `%s` for it.

`launch_distributed` reports a failed run with `logging.error("Wrapping up, caught
exception: ", e)`: the `logging` module cannot format that record and prints
`--- Logging error ---` with a traceback of its own, on top of the real error. The
filter below joins such arguments to the message instead, once, for every logger.
"""

import logging


class JoinStrayLogArguments(logging.Filter):
    """Rewrites `msg, *args` with no `%` placeholder in `msg` to `msg + args`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.msg, str) and "%" not in record.msg:
            extra = " ".join(str(arg) for arg in record.args)
            record.msg, record.args = f"{record.msg}{extra}", ()
        return True


_FILTER = JoinStrayLogArguments()


def install() -> None:
    """Add the filter to the root logger (VISSL logs through it). Idempotent."""
    root = logging.getLogger()
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
