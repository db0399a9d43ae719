"""`${seer.num_classes:DEFAULT}`: the number of classes, counted from the data.

The number of class subfolders of the training folder,
`config.DATA.TRAIN.DATA_PATHS[0]`, counted as torchvision's `ImageFolder` (VISSL's
`disk_folder`) labels them; for a file list, the classes of its labels
(`LABEL_PATHS[0]`'s, or a `.txt`/`.csv` list's own); for tar shards, the classes
their index lists; DEFAULT when there is neither
(no `DATA_PATHS`: a dataset catalog entry). The benchmark data configs set
`DATA.NUM_CLASSES` with it, so the classifier fits any image folder;
`config.DATA.NUM_CLASSES=N` replaces it.
"""

import os

import numpy as np
from omegaconf import OmegaConf
from torchvision.datasets.folder import find_classes

from seer_plugins.config.defaults import plugin_setting
from seer_plugins.config.shard_paths import names_shards
from seer_plugins.data.class_lists import read_label_values
from seer_plugins.data.file_lists import is_text_list
from seer_plugins.data.shard_lists import default_index_path, read_index
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


def list_class_count(path: str) -> int:
    """Classes of a label list: its distinct names, or, for integer labels
    (VISSL's `.npy` convention), the largest plus one."""
    labels = read_label_values(path)
    if len(labels) and not isinstance(labels[0], str):
        return int(np.max(labels)) + 1
    return len({str(label) for label in labels})


def shard_class_count(train, path: str, default: int) -> int:
    """The classes the shards' index lists (`seer shards` writes them), or
    `default` when it lists none."""
    index = str(plugin_setting(train, "SEER_SHARDS.INDEX", within="DATA.TRAIN"))
    index = index or default_index_path(path) or ""
    if not os.path.isfile(index):
        return int(default)
    classes = read_index(index, "config.DATA.TRAIN.SEER_SHARDS.INDEX").classes
    return len(classes) or int(default)


def _num_classes(default: int, *, _root_) -> int:
    train = _root_.config.DATA.TRAIN
    paths = [str(p) for p in train.get("DATA_PATHS", None) or []]
    labels = [str(p) for p in train.get("LABEL_PATHS", None) or []]
    data = paths[0] if paths else ""
    if data and names_shards(data):
        return shard_class_count(train, data, default)
    if labels and os.path.isfile(labels[0]) and labels[0] != data:
        return list_class_count(labels[0])  # a label file beside the data
    if os.path.isfile(data) and is_text_list(data):
        return list_class_count(data)  # a text list: its labels or folder names
    return class_count(data, default)


def register() -> None:
    """Make the resolver known to OmegaConf (idempotent)."""
    OmegaConf.register_new_resolver(NUM_CLASSES, _num_classes, replace=True)


register()
