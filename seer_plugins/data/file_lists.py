"""Image file lists: one reader for every place that takes one.

A list names images by path, and may give each a label:

- `.npy`: an array of paths (VISSL's `disk_filelist` format, memory-mapped), or of
  labels for `LABEL_PATHS`;
- `.txt`: one path a line, or `path<TAB>label`; blank lines and `#` comments are
  skipped;
- `.csv`: `path,label` rows, or `path` alone; a first row of column names
  (`path,label`, `filename,class`, ...) is a header.

An image a text list gives no label takes its folder's name (`.../<class>/<image>`).

`disk_filelist` reads all three as `DATA_PATHS` (the robust dataset of
:mod:`seer_plugins.data.robust_images`) and as `LABEL_PATHS`
(:mod:`seer_plugins.patches.label_files`); the launcher's preflight refuses any
other file; `seer split` reads `.txt` and `.csv` lists.
"""

import csv
import os
from pathlib import Path

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS

from seer_plugins.config.data_paths import FILE_LIST_SUFFIXES as SUFFIXES
from seer_plugins.config.data_paths import TEXT_LIST_SUFFIXES as TEXT_SUFFIXES
from seer_plugins.errors import ConfigError

LAYOUTS = (
    "a .npy array of paths, a .txt (one path a line, or path<TAB>label) or a .csv "
    "(path,label)"
)


def is_text_list(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(TEXT_SUFFIXES)


def check_suffix(key: str, path: str | os.PathLike) -> None:
    """Refuse a file that is none of the list formats."""
    if not str(path).lower().endswith(SUFFIXES):
        raise ConfigError(
            key, str(path), "is not a file list this data source reads", LAYOUTS
        )


def read_entries(path: str | os.PathLike) -> list[tuple[str, str | None]]:
    """`[(image path, label or None)]` of a `.txt` or `.csv` list, in order."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as f:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
        rows = [row for row in rows if row and any(row)]
        if rows and _is_header(rows):
            rows = rows[1:]
        return [(row[0], row[1] if len(row) > 1 and row[1] else None) for row in rows]
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "\t" in line:
            entry, label = (part.strip() for part in line.rsplit("\t", 1))
            entries.append((entry, label))
        else:
            entries.append((line, None))
    return entries


def _is_header(rows: list[list[str]]) -> bool:
    """A first row that names columns: `path,label`, or a first cell that is not
    an image file name where the next row's is (`filename,class`)."""
    first = [cell.lower() for cell in rows[0][:2]]
    if first == ["path", "label"]:
        return True
    return (
        len(rows) > 1
        and not first[0].endswith(IMG_EXTENSIONS)
        and rows[1][0].lower().endswith(IMG_EXTENSIONS)
    )


def read_paths(path: str | os.PathLike) -> np.ndarray:
    """The image paths of a `.txt` or `.csv` list, as VISSL keeps a `.npy` one (an
    array of fixed-width strings)."""
    return np.array([entry for entry, _ in read_entries(path)])


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """The labels of a `.txt` or `.csv` list; an image listed without one takes
    its folder's name (`.../<class>/<image>`), as `seer split` reads it.

    Raises:
        ValueError: an image with neither a label nor a folder.
    """
    labels = []
    for entry, label in read_entries(path):
        label = label or Path(entry).parent.name
        if not label:
            raise ValueError(
                f"{path}: {entry!r} has no label: write path<TAB>label (.txt) or "
                "path,label (.csv), or keep images in class-named folders"
            )
        labels.append(label)
    return np.array(labels)
