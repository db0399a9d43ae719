"""`seer_shards`: a VISSL data source reading WebDataset tar shards.

One `DATA_PATHS` entry names the shards (:mod:`seer_plugins.data.shard_lists`);
their index gives each shard's sample count, so the dataset's length and every
sample's place are known before anything is read. Sample `i` is the `i`-th of the
index's order; the `seer_shards` sampler (:mod:`seer_plugins.data.shard_order`)
asks for them in an order each data loader worker can read front to back
(:mod:`seer_plugins.data.shard_reader`).

A sample's image is its first member among `IMAGE_KEYS` (`jpg`, `jpeg`, `png`,
`webp`, ...), decoded by the folder sources' reader (:func:`load_image`: EXIF
orientation, wide types, huge images). A sample whose image does not decode, that
has none, or that a truncated tar cut off is replaced by VISSL's grey image and
flagged `is_success=False`: the `seer_bad_images` hook counts it against
`MAX_BAD_IMAGE_FRACTION`. Its label, when a label source `seer_shards` asks for it
(:mod:`seer_plugins.patches.shard_sources`), is the sample's `.cls`, or the field
`SEER_SHARDS.LABEL_KEY` of its `.json`; a class name is numbered by the index's
`classes`.
"""

import io
import logging

import numpy as np
from torch.utils.data import Dataset
from vissl.data.data_helper import get_mean_image

from seer_plugins.config.data_paths import SHARDS
from seer_plugins.data.image_modes import reading_of
from seer_plugins.data.robust_images import load_image
from seer_plugins.data.shard_lists import (
    expand_shards,
    index_path_of,
    read_index,
    shard_settings,
)
from seer_plugins.data.shard_reader import ShardReader
from seer_plugins.data.shard_samples import image_bytes, label_source, sample_label
from seer_plugins.errors import ConfigError

NAME = SHARDS


class SeerShardDataset(Dataset):
    """VISSL's data source interface over tar shards: `dataset[i]` is
    `(image, is_success)`."""

    def __init__(self, cfg, path: str, split: str, dataset_name: str, data_source: str):
        super().__init__()
        self.cfg, self.split, self.data_source = cfg, split, data_source
        self.key = f"config.DATA.{split}.DATA_PATHS"
        self.settings = shard_settings(cfg, split)
        self.shards = expand_shards(str(path), self.key)
        self.index = read_index(
            index_path_of(cfg, split, str(path)),
            f"config.DATA.{split}.SEER_SHARDS.INDEX",
        )
        self.counts = self.index.counts_of(self.shards, self.key)
        self.starts = np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)])
        self.image_keys = [str(k).lower() for k in self.settings["IMAGE_KEYS"]]
        self.label_key = str(self.settings["LABEL_KEY"] or "")
        self._class_numbers = {name: i for i, name in enumerate(self.index.classes)}
        self._reader = None
        # Labels are read only for a split whose label source is this one
        # (ShardLabels says so), with each sample's image.
        self.wants_labels = False
        self._labels: dict[int, int] = {}
        self._reading = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_reader"] = None  # each worker opens its own shards
        return state

    def __len__(self) -> int:
        return int(self.starts[-1])

    def num_samples(self) -> int:
        return len(self)

    def locate(self, idx: int) -> tuple[int, int]:
        """(shard number, position in it) of sample `idx`."""
        shard = int(np.searchsorted(self.starts, idx, side="right")) - 1
        return shard, int(idx - self.starts[shard])

    def _reader_here(self) -> ShardReader:
        if self._reader is None:
            workers = max(1, int(self.cfg["DATA"]["NUM_DATALOADER_WORKERS"]))
            streams = max(1, int(self.settings["STREAMS_PER_RANK"]))
            self._reader = ShardReader(
                self.shards,
                self.counts,
                keep=int(self.settings["SHUFFLE_BUFFER"]),
                key=self.key,
                # Each stream this worker reads holds one shard open, two at a
                # shard's end.
                open_shards=2 * -(-streams // workers) + 2,
            )
        return self._reader

    def __getitem__(self, idx: int):
        shard, position = self.locate(int(idx))
        sample = self._reader_here().sample(shard, position)
        where = f"shard {self.shards[shard]}, sample {position}"
        size = self.cfg["DATA"][self.split].DEFAULT_GRAY_IMG_SIZE
        if sample is None:  # lost with a truncated shard (logged once, by the reader)
            if self.wants_labels:
                self._lost_label(shard, position)
            return get_mean_image(size), False
        where += f", key {sample.get('__key__')}"
        if self.wants_labels:
            self._labels[int(idx)] = self._label(sample, where)
        try:
            image = self._image(sample)
        except Exception as error:  # anything unreadable: replace, count, go on
            logging.warning(
                "unreadable image replaced (%s): %s: %s",
                where,
                type(error).__name__,
                error,
            )
            return get_mean_image(size), False
        return image, True

    def label_of(self, idx: int) -> int:
        """The label of sample `idx`, read with its image just before."""
        label = self._labels.pop(int(idx), None)
        if label is None:  # asked before its image (not VISSL's order): read it
            self.wants_labels = True
            self[idx]
            label = self._labels.pop(int(idx))
        return label

    def _image(self, sample: dict):
        data = image_bytes(sample, self.image_keys)
        if self._reading is None:
            self._reading = reading_of(self.cfg, self.split)
        return load_image(io.BytesIO(data), self._reading)[0]

    def _label(self, sample: dict, where: str) -> int:
        label = sample_label(sample, self.label_key, self._class_numbers)
        return self._no_label(where) if label is None else label

    def _lost_label(self, shard: int, position: int) -> None:
        """A labelled split cannot replace a sample a damaged shard lost: no label
        stands for it that the accuracy meters and the loss would both take."""
        first, why = self._reader_here().unreadable_from[shard]
        raise ConfigError(
            self.key,
            self.shards[shard],
            f"cannot be read from sample {first} on ({why}); a labelled split needs "
            f"every sample (sample {position} is one of those lost)",
            "repack or download the shard again",
        )

    def _no_label(self, where: str) -> int:
        source = label_source(self.label_key)
        raise ConfigError(
            f"config.DATA.{self.split}.SEER_SHARDS.LABEL_KEY",
            self.label_key,
            f"gives no label for {where}: no {source}, or a class name the index "
            f"does not list (its classes: {len(self.index.classes)})",
            "name the json field holding integer labels, or pack the images with "
            "seer shards (which lists the class names)",
        )


def register() -> None:
    """Add `seer_shards` to VISSL's data sources."""
    from vissl import data as vissl_data

    registered = vissl_data.DATASET_SOURCE_MAP.get(NAME)
    if registered is not None and registered is not SeerShardDataset:
        raise ValueError(f"data source {NAME!r} is already registered: {registered}")
    vissl_data.DATASET_SOURCE_MAP[NAME] = SeerShardDataset


register()
