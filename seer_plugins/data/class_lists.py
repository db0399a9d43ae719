"""One class list per benchmark: the training data's classes number every split.

torchvision's `ImageFolder` (VISSL's `disk_folder`) numbers each folder's classes on
its own, by their sorted names, and VISSL numbers a list's string labels by the
sorted labels of that list. A val folder or list without one of train's classes
shifts every later label: a linear evaluation, k-NN or a sweep then scores 0.00
where the truth is 100, and exits 0. Here the training data's classes decide the
numbers (:func:`training_classes`: the class names of its label list, else of its
folder), and every other split maps its images by class name:

- a val folder or list that lacks some of train's classes is fine, and its labels
  are right;
- a val class that train lacks cannot be scored (the classifier has no output for
  it): refused, in one line naming the class and both data
  (:func:`check_known_classes`, by the launcher's preflight and by the demo).

A training list of integer labels (VISSL's `.npy` convention) numbers itself; a
text list's labels of another split must then be those integers.
"""

import os
from dataclasses import dataclass

import numpy as np
from torchvision.datasets.folder import find_classes

from seer_plugins.config.shard_paths import names_shards
from seer_plugins.data.file_lists import is_text_list, read_labels
from seer_plugins.data.shard_lists import index_path_of, read_index
from seer_plugins.errors import ConfigError


@dataclass(frozen=True)
class TrainingClasses:
    """What numbers every split's labels: class `names` (sorted: index = label),
    or, for a training list of integer labels, the integers themselves (`names`
    None); `source` is where they come from, `what` it is in words."""

    names: list[str] | None
    source: str
    what: str  # "training folder" | "training label file"


def split_index(cfg, split: str, path: str) -> int:
    """The position of the data `path` in `split`'s DATA_PATHS (0 if not there)."""
    paths = [str(p) for p in cfg["DATA"][split].get("DATA_PATHS", None) or []]
    return paths.index(str(path)) if str(path) in paths else 0


def training_classes(cfg, index: int) -> TrainingClasses | None:
    """The training data's classes for data source `index`: its label list's (as
    VISSL numbers them), else its folder's; None when neither is known."""
    train = cfg["DATA"]["TRAIN"]
    label_sources = list(train.get("LABEL_SOURCES", None) or [])
    label_paths = [str(p) for p in train.get("LABEL_PATHS", None) or []]
    data_paths = [str(p) for p in train.get("DATA_PATHS", None) or []]
    if (
        index < min(len(label_sources), len(label_paths))
        and label_sources[index] == "disk_filelist"
        and os.path.isfile(label_paths[index])
    ):
        labels = read_label_values(label_paths[index])
        what = "training label file"
        if len(labels) and not isinstance(labels[0], str):
            return TrainingClasses(None, label_paths[index], what)
        names = sorted({str(label) for label in labels})
        return TrainingClasses(names, label_paths[index], what)
    if index < len(data_paths) and names_shards(data_paths[index]):
        # Shards' classes are their index's (`seer shards` lists the class names;
        # an index without them: integer labels).
        found = index_path_of(cfg, "TRAIN", data_paths[index])
        classes = read_index(found, "config.DATA.TRAIN.SEER_SHARDS.INDEX").classes
        return TrainingClasses(classes or None, found, "training shards' index")
    if index < len(data_paths) and os.path.isdir(data_paths[index]):
        return TrainingClasses(
            find_classes(data_paths[index])[0], data_paths[index], "training folder"
        )
    return None


def read_label_values(path: str):
    """The labels of a label file: a `.npy` array, or a text list's label column."""
    if is_text_list(path):
        return read_labels(path)
    return np.load(path, mmap_mode="r", allow_pickle=True)


def check_known_classes(key: str, value, classes, training: TrainingClasses) -> None:
    """Refuse classes of another split that the training data lacks.

    Args:
        key, value: what names the other split (its config key, or --data).
    """
    if training.names is None:  # integer training labels: numbers only
        for name in classes:
            _as_number(key, value, name)
        return
    unknown = sorted(set(classes) - set(training.names))
    if unknown:
        raise ConfigError(
            key,
            value,
            f"has class {unknown[0]!r} that the {training.what} {training.source} "
            "lacks" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            "remove it, or add it to the training data: labels are numbered by "
            "the training data's classes",
        )


def numbered_folder(
    samples: list[tuple[str, int]],
    classes: list[str],
    split: str,
    path: str,
    training: TrainingClasses,
) -> tuple[list[tuple[str, int]], list[str]]:
    """A folder's `samples` (path, index into `classes`) numbered by `training`.

    Returns:
        the samples and the class names their indices are into.
    """
    key = f"config.DATA.{split}.DATA_PATHS"
    if training.names is None:
        # Integer training labels: the folder's classes must be those integers.
        numbers = [_as_number(key, path, name) for name in classes]
        return [(p, numbers[label]) for p, label in samples], classes
    check_known_classes(key, path, classes, training)
    index = {name: i for i, name in enumerate(training.names)}
    return [(p, index[classes[label]]) for p, label in samples], training.names


def numbered_labels(labels, training: TrainingClasses, key: str, path: str):
    """A list's string `labels` as the training data numbers them."""
    if training.names is None:
        return np.array([_as_number(key, path, label) for label in labels])
    check_known_classes(key, path, {str(label) for label in labels}, training)
    index = {name: i for i, name in enumerate(training.names)}
    return np.array([index[str(label)] for label in labels], dtype=np.int64)


def _as_number(key: str, path: str, label) -> int:
    try:
        return int(label)
    except ValueError:
        raise ConfigError(
            key,
            path,
            f"has class {str(label)!r}, but the training labels are numbers",
            "give this split's labels as the same numbers",
        ) from None
