"""Files and folders written atomically: a kill mid-write never leaves a broken one.

A file is written under a hidden name beside its final one
(`.<name>.<random>.partial`, which VISSL's `*.torch` listing and any reader of the
final name pass over), flushed to disk, then renamed over the final name, which POSIX
makes atomic; the folder is synced last, so the rename itself is durable. A folder
(a sharded checkpoint's shards) is written under a partial name by its writers and
renamed into place by one of them.

Every writer whose output a later run trusts goes through here: VISSL's checkpoints
(:mod:`seer_plugins.patches.atomic_checkpoints`), the sharded checkpoints' folders
(:mod:`seer_plugins.checkpoints.sharded`), the k-NN engine's results (their presence
means "finished") and the low-shot split files.
"""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make the renames inside `folder` durable; not every file system allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, binary: bool = True):
    """Open a file that appears at `path` whole, or not at all.

    Yields the partial file, open for writing; when the block ends without an
    exception the file is synced and renamed over `path`, otherwise it is removed.
    """
    folder = os.path.dirname(os.fspath(path)) or "."
    name = os.path.basename(os.fspath(path))
    partial = os.path.join(folder, f".{name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        # "x": never another writer's file.
        with open(partial, "xb" if binary else "x") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    fsync_folder(folder)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically; returns the path."""
    with atomic_file(path, binary=False) as f:
        f.write(text)
    return Path(path)


def replace_folder(partial: str, final: str) -> None:
    """Rename the finished folder `partial` to `final`, replacing an existing one.

    An existing `final` is first renamed aside (a folder cannot be renamed over a
    non-empty one), then removed: a kill in between leaves it under a `.partial`
    name, which readers pass over.
    """
    old = None
    if os.path.exists(final):
        old = f"{final}.old{PARTIAL_SUFFIX}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
    os.rename(partial, final)
    fsync_folder(os.path.dirname(final))
    if old:
        shutil.rmtree(old, ignore_errors=True)
