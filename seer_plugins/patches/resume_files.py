"""AUTO_RESUME picks the newest checkpoint, of whichever kind the folder holds.

VISSL's `get_checkpoint_resume_files` looks for `model_iteration<N>.torch` when
`CHECKPOINT_ITER_FREQUENCY > 0` and for `model_phase<N>.torch` otherwise. A folder
whose run checkpointed by iteration, resumed with `CHECKPOINT_ITER_FREQUENCY=-1`,
finds no file: VISSL logs `Resume from file: DIR/None` and dies in an
`AttributeError`. And a run checkpointing by iteration never sees its own phase
checkpoints, such as a finished run's final one reopened to extend it
(:mod:`seer_plugins.runs.run_folder`).

Here the newest of both kinds is picked, by modification time (checkpoints are
written in training order, and renames keep the time). VISSL's other rules stay:
a final checkpoint wins unless `skip_final`, and `latest_checkpoint_resume_num`
steps back from the newest.
"""

import logging
import os
import re

import vissl.utils.checkpoint as vissl_checkpoint
from iopath.common.file_io import g_pathmgr

_vissl_resume_files = vissl_checkpoint.get_checkpoint_resume_files
RESUMABLE = re.compile(r"^model_(phase|iteration)\d+\.torch$")


def newest_checkpoint_file(
    checkpoint_folder, config, skip_final=False, latest_checkpoint_resume_num=1
):
    """Same contract as VISSL's `get_checkpoint_resume_files` (module doc)."""
    if "://" in str(checkpoint_folder):
        return _vissl_resume_files(
            checkpoint_folder, config, skip_final, latest_checkpoint_resume_num
        )
    names = g_pathmgr.ls(checkpoint_folder)
    if not skip_final:
        final = sorted(n for n in names if "model_final" in n and n.endswith(".torch"))
        if final:
            return final[-1]
    found = [n for n in names if RESUMABLE.match(n)]
    if not found:
        return None
    found.sort(
        key=lambda n: os.path.getmtime(os.path.join(checkpoint_folder, n)),
        reverse=True,
    )
    index = min(max(0, latest_checkpoint_resume_num - 1), len(found) - 1)
    logging.info("checkpoint_resume_num: %d of %s", index, found)
    return found[index]


def install() -> None:
    """Make VISSL's AUTO_RESUME use :func:`newest_checkpoint_file`. Idempotent."""
    vissl_checkpoint.get_checkpoint_resume_files = newest_checkpoint_file
