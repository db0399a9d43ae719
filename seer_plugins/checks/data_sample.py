"""The images a config trains on, sampled and decoded before any process starts.

A sample of each split (spread over the list, or over the classes and each class's
first files, so a folder of mixed kinds is sampled across its kinds) is decoded the
way training reads it (:func:`seer_plugins.data.robust_images.load_image`):

- all of it unreadable, or images the band selection `SEER_BANDS` does not fit,
  is refused in one line;
- a few unreadable files are said (training replaces them, within
  `MAX_BAD_IMAGE_FRACTION`), as is each conversion other than plain 8-bit RGB, L
  and P, with what to set when the images lose contrast as read.
"""

import itertools
import os
from collections import Counter

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS

from seer_plugins.data.file_lists import read_paths
from seer_plugins.data.image_modes import (
    BANDS_KEY,
    CLIPPED,
    DIM,
    Reading,
    ReadingError,
)
from seer_plugins.data.robust_images import load_image
from seer_plugins.errors import ConfigError

DECODE_SAMPLE = 16
# Names listed per class to spread the decoded sample over (bounded work).
SCAN_PER_CLASS = 1000


def is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def images_in(folder: str):
    """Image paths under `folder`, lazily, in a stable order."""
    for dirpath, dirnames, files in os.walk(folder, followlinks=True):
        dirnames.sort()
        for name in sorted(files):
            if is_image(name):
                yield os.path.join(dirpath, name)


def list_entries(path: str) -> list[str]:
    """The image paths a file list names (the formats of data.file_lists)."""
    if path.endswith(".npy"):
        try:  # string arrays memory-map; object arrays must be loaded
            entries = np.load(path, mmap_mode="r")
        except ValueError:
            entries = np.load(path, allow_pickle=True)
        return [str(entry) for entry in entries]
    return [str(entry) for entry in read_paths(path)]


def _spread(items: list, count: int) -> list:
    """`count` of `items`, evenly spread from first to last (all if fewer)."""
    if len(items) <= count:
        return list(items)
    if count == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def _sample_images(path: str, is_list: bool, classes: list[str]) -> list[str]:
    """Up to DECODE_SAMPLE images spread over the list, or over the classes and
    each class's first SCAN_PER_CLASS files (a folder of mixed kinds is sampled
    across its kinds, not only the first sorted name's)."""
    if is_list:
        return _spread(list_entries(path), DECODE_SAMPLE)
    chosen = _spread(classes, DECODE_SAMPLE)
    per_class = max(1, DECODE_SAMPLE // max(1, len(chosen)))
    sample = []
    for name in chosen:
        files = list(
            itertools.islice(images_in(os.path.join(path, name)), SCAN_PER_CLASS)
        )
        sample += _spread(files, per_class)
    return sample[:DECODE_SAMPLE]


def check_decodable(
    key: str, path: str, is_list: bool, classes: list[str], reading: Reading
) -> None:
    """Refuse data none of whose sampled images decode, or that the reading settings
    do not fit; say how the sample's images are converted to 8-bit RGB, when they
    are not plain 8-bit RGB, L or P, and how many could not be read."""
    sample = _sample_images(path, is_list, classes)
    failures, conversions = [], Counter()
    for image in sample:
        try:
            _, conversion = load_image(image, reading)
        except ReadingError as error:  # the settings' fault: refused at once
            split = key.split(".")[2]
            raise ConfigError(
                f"config.DATA.{split}.{BANDS_KEY}",
                list(reading.bands),
                f"does not fit the images of {path} ({image}: {error})",
                "select bands the images have, or [] (the first three)",
            ) from None
        except Exception as error:  # any unreadable file counts
            failures.append(f"{image}: {type(error).__name__}: {error}")
            continue
        if conversion:
            conversions[conversion] += 1
    split = key.split(".")[2]
    if failures and len(failures) == len(sample):
        raise ConfigError(
            key,
            path,
            f"none of the {len(failures)} images tried could be read (e.g. "
            f"{failures[0]})",
            "check that the files are images (JPEG, PNG, ...); "
            "DATA.TRAIN.MAX_BAD_IMAGE_FRACTION bounds unreadable ones during training",
        )
    if failures:
        print(
            f"seer_plugins: {key}: {len(failures)} of {len(sample)} sampled images "
            f"cannot be read, replaced in training (e.g. {failures[0]})",
            flush=True,
        )
    for conversion, count in conversions.most_common():
        # Once per dataset, before training: the run's only word on it.
        print(
            f"seer_plugins: {key}: {count} of {len(sample)} sampled images: "
            f"{conversion}",
            flush=True,
        )
    if any(CLIPPED in c or DIM in c for c in conversions):
        print(
            f"seer_plugins: {key}: these images lose contrast as read; set "
            f"config.DATA.{split}.SEER_INTENSITY.mode=minmax (each image's range) "
            "or a window of your values (README, 'Your images')",
            flush=True,
        )
