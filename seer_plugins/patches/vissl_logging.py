"""VISSL's log calls that pass an argument without a `%s` for it.

`launch_distributed` reports a failed run with `logging.error("Wrapping up, caught
exception: ", e)`: the `logging` module cannot format that record and prints
`--- Logging error ---` with a traceback of its own, on top of the real error.
VISSL also replaces `logging.root` with its own logger when it sets up logging, so a
filter on a logger would be lost: the record factory below joins such arguments to
the message as each record is made, whichever logger makes it.
"""

import logging

_make_record = logging.getLogRecordFactory()


def _record_with_stray_arguments_joined(*args, **kwargs) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    if record.args and isinstance(record.msg, str) and "%" not in record.msg:
        extra = " ".join(str(arg) for arg in record.args)
        record.msg, record.args = f"{record.msg}{extra}", ()
    return record


def install() -> None:
    """Make every log record through the factory above. Idempotent."""
    if logging.getLogRecordFactory() is not _record_with_stray_arguments_joined:
        logging.setLogRecordFactory(_record_with_stray_arguments_joined)
