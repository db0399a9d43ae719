"""`seer_low_shot`: an image folder, optionally restricted to a SimCLR split file.

VISSL's data sources are a plain dict (`vissl.data.DATASET_SOURCE_MAP`); this module
adds one. In a config::

    DATA:
      TRAIN:
        DATA_SOURCES: [seer_low_shot]
        LABEL_SOURCES: [torchvision_dataset]   # labels from get_labels(), see below
        DATASET_NAMES: [imagenet1k_folder]     # catalog name, used if DATA_PATHS is []
        DATA_PATHS: [/datasets/imagenet/train] # class-per-subfolder image folder
        LOW_SHOT_SPLIT_FILE: /splits/1percent.txt  # "" = every image of the folder

Class indices are those of torchvision's `ImageFolder` over the *whole* training
folder (sorted class folder names), even when a split leaves a class out; another
split's folder is numbered by the training folder's classes
(:mod:`seer_plugins.data.class_lists`). VISSL reads labels of a data source it does not know only
through its `torchvision_dataset` label route, which calls `get_labels()`: hence that
label source name.
"""

import logging
import os
from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from vissl import data as vissl_data

from seer_plugins.config.data_paths import LOW_SHOT
from seer_plugins.config.defaults import plugin_setting
from seer_plugins.data.class_lists import numbered_folder, split_index, training_classes
from seer_plugins.data.image_modes import reading_of
from seer_plugins.data.low_shot_split import read_split_file
from seer_plugins.data.robust_images import load_rgb

NAME = LOW_SHOT
SPLIT_FILE_KEY = "LOW_SHOT_SPLIT_FILE"


def split_file_of(config, split: str) -> str:
    """`config.DATA.<split>.LOW_SHOT_SPLIT_FILE`: the split file that picks the
    labelled images, or "" for every image of the folder."""
    path = plugin_setting(config, f"DATA.{split}.{SPLIT_FILE_KEY}")
    return "" if path is None else str(path)


class SeerLowShotDataset:
    """VISSL data source contract: `(cfg, data_source, path, split, dataset_name)`,
    `__getitem__ -> (PIL image, is_valid)`, `num_samples()`.

    Args:
        path: the image folder, `path/<class>/<image>`.
        split: "TRAIN" or "TEST"; `cfg.DATA[split].LOW_SHOT_SPLIT_FILE` picks images.
    """

    def __init__(self, cfg, data_source: str, path: str, split: str, dataset_name: str):
        self.split = split
        self.dataset_name = dataset_name
        self._path = str(path)
        self.split_file = split_file_of(cfg, split)
        self.reading = reading_of(cfg, split)
        if not os.path.isdir(self._path):
            raise FileNotFoundError(
                f"{NAME}: image folder {self._path!r} does not exist (from "
                f"config.DATA.{split}.DATA_PATHS, or the dataset catalog entry "
                f"{dataset_name!r} when DATA_PATHS is empty)"
            )
        if self.split_file and not os.path.isfile(self.split_file):
            raise FileNotFoundError(
                f"{NAME}: split file {self.split_file!r} does not exist "
                f"(config.DATA.{split}.{SPLIT_FILE_KEY}); write one with "
                "tools/make_low_shot_split.py or use SimCLR's 1percent.txt/10percent.txt"
            )
        self.classes, samples = scan_folder(self._path)
        training = (
            training_classes(cfg, split_index(cfg, split, self._path))
            if split != "TRAIN"
            else None
        )
        if training is not None:
            samples, self.classes = numbered_folder(
                samples, self.classes, split, self._path, training
            )
        if self.split_file:
            samples = _select(samples, self._path, read_split_file(self.split_file))
        self.paths = [p for p, _ in samples]
        self.labels = [label for _, label in samples]
        logging.info(
            f"{NAME} {split}: {len(self.paths)} images of {len(self.classes)} "
            f"classes from {self._path}"
            + (f" (split {self.split_file})" if self.split_file else "")
        )

    def num_samples(self) -> int:
        return len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def get_labels(self) -> list[int]:
        return self.labels

    def get_image_paths(self) -> list[str]:
        return self.paths

    def __getitem__(self, idx: int):
        # No silent substitute image (VISSL's QueueDataset does that): an evaluation
        # that quietly trains on grey squares reports a wrong number.
        return load_rgb(self.paths[idx], reading=self.reading), True


def scan_folder(root: str):
    """`(classes, [(path, class index)])` of an ImageFolder-style tree."""
    classes, class_to_idx = find_classes(root)
    return classes, make_dataset(root, class_to_idx, extensions=IMG_EXTENSIONS)


def select_split(root: str, entries: list[str]) -> list[tuple[str, int]]:
    """The `(path, class index)` samples of `root` that a split file's entries name."""
    return _select(scan_folder(root)[1], root, entries)


def _select(samples, root: str, entries: list[str]):
    """Keep the samples a split file names, by bare file name or relative path."""
    by_rel = {Path(p).relative_to(root).as_posix(): (p, y) for p, y in samples}
    by_name: dict[str, tuple] = {}
    duplicated = set()
    for rel, sample in by_rel.items():
        name = rel.rsplit("/", 1)[-1]
        if name in by_name:
            duplicated.add(name)
        by_name[name] = sample
    chosen, missing, ambiguous = [], [], []
    for entry in entries:
        key = entry.replace(os.sep, "/")
        if "/" in key:
            sample = by_rel.get(key)
        elif key in duplicated:
            ambiguous.append(entry)
            continue
        else:
            sample = by_name.get(key)
        if sample is None:
            missing.append(entry)
        else:
            chosen.append(sample)
    if ambiguous:
        raise ValueError(
            f"{NAME}: {len(ambiguous)} split entries name files that exist in several "
            f"classes under {root} (e.g. {ambiguous[:3]}); write `<class>/<file>` lines"
        )
    if missing:
        raise FileNotFoundError(
            f"{NAME}: {len(missing)} of {len(entries)} split entries are not images "
            f"under {root} (e.g. {missing[:3]}): is the split file for this folder?"
        )
    return chosen


def register() -> None:
    """Add `seer_low_shot` to VISSL's data sources (with DATA_LIMIT support)."""
    registered = vissl_data.DATASET_SOURCE_MAP.get(NAME)
    if registered is not None and registered is not SeerLowShotDataset:
        raise ValueError(f"data source {NAME!r} is already registered: {registered}")
    vissl_data.DATASET_SOURCE_MAP[NAME] = SeerLowShotDataset
    vissl_data.DATA_SOURCES_WITH_SUBSET_SUPPORT.add(NAME)


register()
