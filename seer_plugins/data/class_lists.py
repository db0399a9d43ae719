"""One class list per benchmark: the training folder's classes number every split.

torchvision's `ImageFolder` (VISSL's `disk_folder`) numbers each folder's classes on
its own, by their sorted names. A val folder without one of train's classes shifts
every later label: a linear evaluation, k-NN or a sweep then scores 0.00 where the
truth is 100, and exits 0. Here the training folder's class names decide the
numbers, and every other split maps its images by class name:

- a val folder that lacks some of train's classes is fine, and its labels are right;
- a val class that train lacks cannot be scored (the classifier has no output for
  it): refused, in one line naming the class and both folders
  (:func:`check_known_classes`, by the launcher's preflight and by the demo).

File lists whose labels are strings are numbered the same way, by the training
data's classes: its label list's, or its folder's (:func:`training_classes`,
applied to VISSL's label loading by :mod:`seer_plugins.patches.label_files`).
"""

import os
from dataclasses import dataclass

import numpy as np
from torchvision.datasets.folder import find_classes

from seer_plugins.data.file_lists import is_text_list, read_labels
from seer_plugins.errors import ConfigError


def training_folder(cfg, split: str, path: str) -> str | None:
    """The training folder whose classes number the folder `path` of `split`, or
    None (`split` is TRAIN, or training does not read a folder)."""
    if split == "TRAIN":
        return None
    data = cfg["DATA"]
    paths = [str(p) for p in data[split].get("DATA_PATHS", None) or []]
    train_paths = [str(p) for p in data["TRAIN"].get("DATA_PATHS", None) or []]
    index = paths.index(str(path)) if str(path) in paths else 0
    if index >= len(train_paths):
        return None
    train = train_paths[index]
    return train if os.path.isdir(train) else None


def check_known_classes(
    key: str, value, classes, train_classes, train_folder: str, what="training folder"
) -> None:
    """Refuse classes of another split that the training data lacks.

    Args:
        key, value: what names the other split (its config key, or --data).
        what: what `train_folder` is, in words.
    """
    unknown = sorted(set(classes) - set(train_classes))
    if unknown:
        raise ConfigError(
            key,
            value,
            f"has class {unknown[0]!r} that the {what} {train_folder} lacks"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            "remove it, or add it to the training data: labels are numbered by "
            "the training data's classes",
        )


def numbered_by_training_classes(
    samples: list[tuple[str, int]],
    classes: list[str],
    split: str,
    path: str,
    train_folder: str,
) -> tuple[list[tuple[str, int]], list[str], dict[str, int]]:
    """`samples` (path, index into `classes`) of the folder `path` of `split`,
    renumbered by `train_folder`'s classes.

    Returns:
        the samples, the training classes, and their name -> index map.
    """
    train_classes, class_to_idx = find_classes(train_folder)
    key = f"config.DATA.{split}.DATA_PATHS"
    check_known_classes(key, path, classes, train_classes, train_folder)
    renumbered = [(path, class_to_idx[classes[label]]) for path, label in samples]
    return renumbered, train_classes, class_to_idx


@dataclass(frozen=True)
class TrainingClasses:
    """The class names that number every split's labels, and where they are from."""

    names: list[str]
    source: str  # the training folder or label file
    what: str  # "training folder" | "training label file"


def training_classes(cfg, index: int) -> TrainingClasses | None:
    """The training data's class names for data source `index`: its label list's
    (sorted, as VISSL numbers them), else its folder's; None when neither is known."""
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
        names = sorted({str(label) for label in labels})
        return TrainingClasses(names, label_paths[index], "training label file")
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


def numbered_by_training_labels(
    labels, training: TrainingClasses, key: str, path: str
) -> np.ndarray:
    """String `labels` as indices into the training classes' names."""
    index = {name: i for i, name in enumerate(training.names)}
    given = {str(label) for label in labels}
    check_known_classes(key, path, given, index, training.source, training.what)
    return np.array([index[str(label)] for label in labels], dtype=np.int64)
