"""`${seer.num_classes:DEFAULT}`: the number of classes, counted from the data.

The number of class subfolders of the training folder,
`config.DATA.TRAIN.DATA_PATHS[0]`, counted as torchvision's `ImageFolder` (VISSL's
`disk_folder`) labels them; DEFAULT when that is not a folder (no `DATA_PATHS`: a
dataset catalog entry; a file list). The benchmark data configs set
`DATA.NUM_CLASSES` with it, so the classifier fits any image folder;
`config.DATA.NUM_CLASSES=N` replaces it.
"""

import os

from omegaconf import OmegaConf
from torchvision.datasets.folder import find_classes

from seer_plugins.errors import ConfigError

NUM_CLASSES = "seer.num_classes"


def class_count(folder: str, default: int) -> int:
    """Class subfolders of `folder` (torchvision's `find_classes`), or `default`
    when `folder` is not a folder."""
    if not (folder and os.path.isdir(folder)):
        return int(default)
    try:
        return len(find_classes(folder)[0])
    except FileNotFoundError as error:  # a folder without class subfolders
        raise ConfigError(
            "config.DATA.TRAIN.DATA_PATHS[0]",
            folder,
            f"has no class subfolders (for ${{{NUM_CLASSES}:{default}}})",
            "expected <folder>/<class>/<image>, or set config.DATA.NUM_CLASSES",
        ) from error


def _num_classes(default: int, *, _root_) -> int:
    paths = _root_.config.DATA.TRAIN.get("DATA_PATHS", None) or []
    return class_count(str(paths[0]) if len(paths) else "", default)


def register() -> None:
    """Make the resolver known to OmegaConf (idempotent)."""
    OmegaConf.register_new_resolver(NUM_CLASSES, _num_classes, replace=True)


register()
