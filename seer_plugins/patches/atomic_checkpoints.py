"""Checkpoints written atomically: a kill during a save never leaves a broken one.

VISSL's `CheckpointWriter` saves through ClassyVision's `save_checkpoint`, which (its
comment says "atomically") opens the final name and streams `torch.save` into it. A
process killed mid-save leaves a truncated `model_iterationN.torch`, and
`AUTO_RESUME` picks the highest N it finds: the resumed job dies in `torch.load`.
Its `checkpoint.torch` link is removed before the new one is made, and is relative
to the wrong folder when `CHECKPOINT.DIR` is relative.

:func:`install` points VISSL at the two functions below: the checkpoint is written to
a hidden `.<name>.<random>.partial` file in the same folder (never matched by VISSL's
`*.torch` listing), flushed to disk, then renamed over the final name, which POSIX
makes atomic; the link is made beside it and renamed over the old one likewise.
Remote paths (`scheme://...`) keep VISSL's own functions. The writer is
:mod:`seer_plugins.checkpoints.atomic`'s, which every trusted file of a run uses.
"""

import contextlib
import logging
import os

import torch
import vissl.utils.checkpoint as vissl_checkpoint

from seer_plugins.checkpoints.atomic import atomic_file

_vissl_save_checkpoint = vissl_checkpoint.save_checkpoint
_vissl_create_file_symlink = vissl_checkpoint.create_file_symlink


def _is_local(path) -> bool:
    return "://" not in str(path)


def save_checkpoint_atomically(
    checkpoint_folder, state, checkpoint_file="checkpoint.torch"
):
    """Same contract as ClassyVision's `save_checkpoint`; returns the file's path."""
    if not _is_local(checkpoint_folder):
        return _vissl_save_checkpoint(checkpoint_folder, state, checkpoint_file)
    os.makedirs(checkpoint_folder, exist_ok=True)
    final = os.path.join(checkpoint_folder, checkpoint_file)
    try:
        with atomic_file(final) as f:
            torch.save(state, f)
    except BaseException:
        logging.warning("Unable to write checkpoint %s", final, exc_info=True)
        raise
    return final


def link_latest_atomically(source_file, link_file) -> None:
    """Point `link_file` at `source_file` (same folder) without a moment of no link."""
    folder = os.path.dirname(str(link_file))
    if not (_is_local(link_file) and os.path.dirname(str(source_file)) == folder):
        return _vissl_create_file_symlink(source_file, link_file)
    partial = os.path.join(folder, f".{os.path.basename(link_file)}.{os.getpid()}")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        # Relative to the link's own folder, so it resolves wherever DIR was given.
        os.symlink(os.path.basename(str(source_file)), partial)
        os.replace(partial, link_file)
    except OSError as e:
        # VISSL treats the link as a convenience (resume lists the files itself).
        logging.info("Could not link %s -> %s: %s", link_file, source_file, e)


def install() -> None:
    """Make VISSL's CheckpointWriter use the atomic functions. Idempotent."""
    vissl_checkpoint.save_checkpoint = save_checkpoint_atomically
    vissl_checkpoint.create_file_symlink = link_latest_atomically
