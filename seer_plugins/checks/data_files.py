"""The files a config trains on, checked before any process starts.

Each check stands for a failure seen late (after the processes started and built the
model) or not at all: a missing or empty path; a folder without class subfolders or
with an empty one (torchvision's "Found no valid file", no path given); a dataset
name with neither a path nor a catalog entry (found only after building the model);
`DATA_LIMIT` above the data ("Cannot take a larger sample than population"); a
batch larger than each process's share of the data when partial batches are dropped
("No batches to read. Is the dataset empty?", after the processes started); a
sample of images that mostly do not decode (trained to the end on grey
replacements; :mod:`seer_plugins.checks.data_sample`); a low-shot split file that is
missing, names other images, or leaves classes out, or one set for a source that
reads none; a val class the training data lacks (labels are numbered by train's
classes); a file list of another format, or a label list of another length; more
classes than the classifier or fewer than the top-k meter needs ("selected index k
out of range").

Work is bounded: folders are listed class by class up to what a check needs, and
only a few images are decoded.
"""

import itertools
import os

from torchvision.datasets.folder import IMG_EXTENSIONS

from seer_plugins.checks.consistency import accuracy_topk, check_topk
from seer_plugins.checks.data_sample import (
    check_decodable,
    images_in,
    list_entries,
)
from seer_plugins.config.derived import used_splits
from seer_plugins.data.class_lists import (
    check_known_classes,
    numbered_labels,
    read_label_values,
    training_classes,
)
from seer_plugins.data.file_lists import (
    LAYOUTS,
    check_suffix,
)
from seer_plugins.data.image_modes import reading_of
from seer_plugins.data.low_shot_dataset import NAME as LOW_SHOT
from seer_plugins.data.low_shot_dataset import (
    SPLIT_FILE_KEY,
    select_split,
    split_file_of,
)
from seer_plugins.data.low_shot_split import read_split_file
from seer_plugins.errors import ConfigError

FOLDER_SOURCES = {"disk_folder", LOW_SHOT}
LIST_SOURCES = {"disk_filelist"}


def class_folders(root: str) -> list[str]:
    """Sorted class folder names, as torchvision's ImageFolder finds them."""
    return sorted(entry.name for entry in os.scandir(root) if entry.is_dir())


def _check_folder(key: str, path: str, source: str) -> list[str]:
    """The folder's class names; refuses a flat or partly empty folder."""
    classes = class_folders(path)
    if not classes:
        loose = next(iter(images_in(path)), None)
        problem = (
            "holds images but no class subfolders"
            if loose
            else "holds no images (and no class subfolders)"
        )
        raise ConfigError(
            key,
            path,
            f"{problem} (data source {source!r})",
            f"{source} reads <folder>/<class>/<image>: put the images in one "
            "subfolder (any name) for pretraining, or list them in a file "
            "(disk_filelist)",
        )
    for name in classes:
        if next(iter(images_in(os.path.join(path, name))), None) is None:
            raise ConfigError(
                key,
                path,
                f"class folder {name!r} holds no images (files ending in "
                f"{', '.join(IMG_EXTENSIONS[:6])}, ...)",
                "remove the folder or add its images",
            )
    return classes


def _data_location(config, split: str, index: int, source: str) -> str | None:
    """The path a source reads: DATA_PATHS, else VISSL's dataset catalog."""
    data = config.DATA[split]
    paths = list(data.get("DATA_PATHS", None) or [])
    if paths:
        return str(paths[index])
    names = list(data.get("DATASET_NAMES", None) or [])
    name = names[index] if index < len(names) else None
    from vissl.data.dataset_catalog import VisslDatasetCatalog

    if name and VisslDatasetCatalog.has_data(name):
        return None  # VISSL resolves it (the catalog's own paths)
    raise ConfigError(
        f"config.DATA.{split}.DATA_PATHS",
        [],
        f"is empty and DATASET_NAMES[{index}]={name!r} is not in VISSL's dataset "
        f"catalog (data source {source!r})",
        f"set config.DATA.{split}.DATA_PATHS=[/path/to/images]",
    )


def _count(path: str, source: str, split_entries, limit: int) -> int:
    """Images the source will see, counted up to `limit + 1`."""
    if split_entries is not None:
        return len(split_entries)
    if source in LIST_SOURCES:
        return len(list_entries(path))
    return sum(1 for _ in itertools.islice(images_in(path), limit + 1))


def _check_limit(config, split: str, path: str, source: str, entries) -> None:
    limit = config.DATA[split].get("DATA_LIMIT", -1)
    if not isinstance(limit, int) or limit <= 0:
        return
    size = _count(path, source, entries, limit)
    if limit > size:
        raise ConfigError(
            f"config.DATA.{split}.DATA_LIMIT",
            limit,
            f"is above the {size} images of {path}",
            f"set DATA_LIMIT=-1 (every image) or at most {size}",
        )


def _check_batch(config, path: str, source: str, entries) -> None:
    """With partial batches dropped, each process needs one whole batch of images."""
    data = config.DATA.TRAIN
    if not data.get("DROP_LAST", False):
        return
    batch = int(data.BATCHSIZE_PER_REPLICA)
    processes = int(config.DISTRIBUTED.NUM_NODES) * int(
        config.DISTRIBUTED.NUM_PROC_PER_NODE
    )
    needed = batch * processes
    size = _count(path, source, entries, needed)
    limit = data.get("DATA_LIMIT", -1)
    if isinstance(limit, int) and limit > 0:
        size = min(size, limit)
    if size < needed:
        share = -(-size // processes)  # the distributed sampler pads to equal shares
        raise ConfigError(
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA",
            batch,
            f"is more than the {share} images each of the {processes} process(es) "
            f"gets from {path} (DATA.TRAIN.DROP_LAST drops a partial batch: no "
            "batch would be left)",
            f"at most {share}, or more images",
        )


def _check_split_file(config, split: str, path: str, classes: list[str]) -> list:
    """The split's samples; refuses a missing, foreign or class-dropping split."""
    key = f"config.DATA.{split}.{SPLIT_FILE_KEY}"
    split_file = split_file_of(config, split)
    if not split_file:
        return None
    if not os.path.isfile(split_file):
        raise ConfigError(
            key,
            split_file,
            "does not exist",
            "write one with tools/make_low_shot_split.py, or use SimCLR's "
            "1percent.txt / 10percent.txt",
        )
    try:
        entries = read_split_file(split_file)
        chosen = select_split(path, entries)
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(
            key, split_file, str(error), f"is it the split of {path}?"
        ) from None
    covered = {label for _, label in chosen}
    left_out = [name for index, name in enumerate(classes) if index not in covered]
    if left_out:
        raise ConfigError(
            key,
            split_file,
            f"names no image of {len(left_out)} of the {len(classes)} classes of "
            f"{path} (e.g. {left_out[:3]})",
            "every class needs labelled images: write the split with "
            "tools/make_low_shot_split.py",
        )
    return chosen


def _check_classes(config, classes: list[str], path: str) -> None:
    """The classifier and the top-k meter must fit the training folder's classes."""
    if not accuracy_topk(config):
        return
    num_classes = config.DATA.get("NUM_CLASSES", None)
    if isinstance(num_classes, int) and len(classes) > num_classes:
        raise ConfigError(
            "config.DATA.NUM_CLASSES",
            num_classes,
            f"the training folder {path} has {len(classes)} classes, more than the "
            "classifier's outputs",
            f"set config.DATA.NUM_CLASSES={len(classes)}",
        )
    check_topk(config, len(classes), f"the training folder {path}")


def _check_label_file(config, split: str, index: int, path: str, source: str) -> None:
    """A file list's labels: a list file this reader reads, one label per image;
    another split's string labels must be classes the training data has."""
    data = config.DATA[split]
    sources = list(data.get("LABEL_SOURCES", None) or [])
    paths = [str(p) for p in data.get("LABEL_PATHS", None) or []]
    if index >= min(len(sources), len(paths)) or sources[index] != "disk_filelist":
        return
    key = f"config.DATA.{split}.LABEL_PATHS[{index}]"
    if not os.path.isfile(paths[index]):
        raise ConfigError(
            key,
            paths[index],
            "is not a file: a disk_filelist label source reads a list",
            "a .npy of one label per listed image, or a .txt/.csv list with labels "
            "(which serves as DATA_PATHS too)",
        )
    check_suffix(key, paths[index])
    try:
        labels = read_label_values(paths[index])
    except ValueError as error:
        raise ConfigError(key, paths[index], str(error).split(": ", 1)[-1]) from None
    if source in LIST_SOURCES and len(labels) != len(list_entries(path)):
        raise ConfigError(
            key,
            paths[index],
            f"has {len(labels)} labels for the {len(list_entries(path))} images of "
            f"{path}",
            "one label per listed image, in the list's order",
        )
    training = training_classes(config, index) if split != "TRAIN" else None
    if training is not None and len(labels) and isinstance(labels[0], str):
        numbered_labels(labels, training, key, paths[index])


def check_data(config) -> None:
    """Every data check above, for the splits the run uses."""
    for split in used_splits(config):
        data = config.DATA[split]
        for index, source in enumerate(data.get("DATA_SOURCES", None) or []):
            if source not in FOLDER_SOURCES | LIST_SOURCES:
                continue
            path = _data_location(config, split, index, source)
            if path is None:
                continue
            key = f"config.DATA.{split}.DATA_PATHS[{index}]"
            if not os.path.exists(path):
                raise ConfigError(
                    key,
                    path,
                    f"does not exist (data source {source!r})",
                    "set it to your image folder or file list",
                )
            classes = []
            if source in FOLDER_SOURCES:
                if not os.path.isdir(path):
                    raise ConfigError(
                        key,
                        path,
                        f"is a file; data source {source!r} reads a folder",
                        f"for a file list, set config.DATA.{split}.DATA_SOURCES="
                        f"[disk_filelist]: it reads {LAYOUTS}",
                    )
                classes = _check_folder(key, path, source)
                training = training_classes(config, index) if split != "TRAIN" else None
                if training is not None:
                    check_known_classes(key, path, classes, training)
            else:
                check_suffix(key, path)
            if source in LIST_SOURCES and not list_entries(path):
                raise ConfigError(
                    key,
                    path,
                    "holds no images (an empty file list)",
                    "list image paths",
                )
            if source != LOW_SHOT and split_file_of(config, split):
                raise ConfigError(
                    f"config.DATA.{split}.{SPLIT_FILE_KEY}",
                    split_file_of(config, split),
                    f"is set, but data source {source!r} reads no split file (it "
                    "would use every image)",
                    f"{LOW_SHOT} reads one, on an image folder; with a file list, "
                    "list the labelled images themselves",
                )
            entries = (
                _check_split_file(config, split, path, classes)
                if source == LOW_SHOT
                else None
            )
            _check_limit(config, split, path, source, entries)
            check_decodable(
                key, path, source in LIST_SOURCES, classes, reading_of(config, split)
            )
            _check_label_file(config, split, index, path, source)
            if split == "TRAIN":
                _check_batch(config, path, source, entries)
                if classes:
                    _check_classes(config, classes, path)
