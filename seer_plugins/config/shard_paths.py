"""Whether a `DATA_PATHS` entry names tar shards: a brace pattern, a `pipe:`
command or a URL, a `.tar`, a folder of `.tar` files, or a text list of shards.
(Which shards, and their index: :mod:`seer_plugins.data.shard_lists`.)"""

import os
import re
from pathlib import Path

SHARD_SUFFIX = ".tar"
SHARD_LIST_SUFFIXES = (".txt", ".shards")
_BRACES = re.compile(r"\{[^{}]*\.\.[^{}]*\}|\{[^{}]*,[^{}]*\}")
_REMOTE = re.compile(r"^(pipe:|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


def is_remote(shard: str) -> bool:
    """A `pipe:` command or a URL: no file on this machine to look at."""
    return bool(_REMOTE.match(str(shard)))


def is_pattern(path: str) -> bool:
    """A brace pattern: `{00000..00099}` or `{a,b}`."""
    return bool(_BRACES.search(str(path)))


def is_shard_list(path: str) -> bool:
    """A text file whose first entry is a shard (a `.tar`, a `pipe:` or a URL)."""
    location = Path(path)
    if not location.is_file() or location.suffix.lower() not in SHARD_LIST_SUFFIXES:
        return False
    with location.open(errors="replace") as f:
        for line in f:
            entry = line.split("#", 1)[0].strip()
            if entry:
                return entry.lower().endswith(SHARD_SUFFIX) or is_remote(entry)
    return False


def is_shard_folder(path: str) -> bool:
    """A folder holding `.tar` files."""
    location = Path(path)
    return location.is_dir() and any(
        entry.name.lower().endswith(SHARD_SUFFIX) and entry.is_file()
        for entry in os.scandir(location)
    )


def names_shards(path: str) -> bool:
    """Whether a `DATA_PATHS` entry names tar shards (rather than images)."""
    path = str(path)
    if is_pattern(path) or is_remote(path) or path.lower().endswith(SHARD_SUFFIX):
        return True
    return is_shard_folder(path) or is_shard_list(path)
