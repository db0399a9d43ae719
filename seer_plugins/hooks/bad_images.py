"""`seer_bad_images`: count the unreadable images replaced, and stop past a budget.

Each unreadable file is logged with its path where it is read (possibly in a data
loader worker, see :mod:`seer_plugins.data.robust_images`); its replacement reaches
the batch with `data_valid == -1`. This hook counts those and:

- stops training (:class:`BadImagesError`, one line naming the count, a sample of
  paths and the key) as soon as this epoch's unreadable images exceed
  `DATA.TRAIN.MAX_BAD_IMAGE_FRACTION` of the epoch, or when every image of the first
  batches is unreadable: a folder of broken files used to train to the end on grey
  replacements and exit 0. It raises in `on_forward`, before any update;
- logs one line per epoch with the count over all ranks.

Counts are per rank against the rank's share of the epoch (no collective per
step): a rank that stops ends the job. Wanted whenever training reads a
`disk_folder` / `disk_filelist` source; first of the plugin hooks.
"""

import logging
from numbers import Real

import torch
from classy_vision.generic.distributed_util import all_reduce_sum, is_primary

from seer_plugins.config.defaults import plugin_default, plugin_setting
from seer_plugins.config.derived import num_crops
from seer_plugins.data.robust_images import SOURCES
from seer_plugins.data.shard_dataset import NAME as SHARDS
from seer_plugins.errors import ConfigError
from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook

HOOK_NAME = "seer_bad_images"
BUDGET_PATH = "DATA.TRAIN.MAX_BAD_IMAGE_FRACTION"
BUDGET_KEY = f"config.{BUDGET_PATH}"
# configs/defaults/data.yaml's, also for a hook built without a config.
DEFAULT_MAX_FRACTION = plugin_default(BUDGET_PATH)
# Batches after which "every image so far is unreadable" stops the run.
FIRST_BATCHES = 2
SAMPLE_PATHS = 3


class BadImagesError(ConfigError):
    """More unreadable images than `DATA.TRAIN.MAX_BAD_IMAGE_FRACTION` allows."""


def reads_image_files(config) -> bool:
    """Image files or tar shards of them: sources whose images can be unreadable."""
    sources = set(config.DATA.TRAIN.DATA_SOURCES or [])
    return bool(sources & {*SOURCES, SHARDS})


def _flatten(valid) -> list[int]:
    """`data_valid` as a flat list: a tensor, or (per collator) lists of them."""
    if isinstance(valid, torch.Tensor):
        return valid.flatten().tolist()
    if isinstance(valid, (list, tuple)):
        return [flag for item in valid for flag in _flatten(item)]
    return [] if valid is None else [int(valid)]


@register_hook(HOOK_NAME, order=0, wanted=reads_image_files)
class SeerBadImagesHook(SeerHook):
    """Counts replaced images; stops past the budget; logs one line per epoch.

    Args:
        crops_per_image: samples per image in `data_valid` (multi-crop repeats the
            flag of an image for each of its crops).
        max_fraction: unreadable images allowed per epoch, as a share of it.
    """

    def __init__(
        self, crops_per_image: int = 1, max_fraction: float = DEFAULT_MAX_FRACTION
    ):
        super().__init__()
        if not (isinstance(max_fraction, Real) and 0 <= max_fraction <= 1):
            raise ConfigError(
                BUDGET_KEY, max_fraction, "is not a fraction", "a number in [0, 1]"
            )
        self.crops_per_image = crops_per_image
        self.max_fraction = max_fraction
        self.bad = self.seen = self.batches = 0
        self.epoch_images = None
        self.first_batches = FIRST_BATCHES
        self.bad_indices: list[int] = []

    @classmethod
    def from_config(cls, config):
        crops = num_crops(config.DATA.TRAIN.TRANSFORMS) or 1
        return cls(crops, plugin_setting(config, BUDGET_PATH))

    def on_phase_start(self, task) -> None:
        self.bad = self.seen = self.batches = 0
        self.bad_indices = []
        self.epoch_images = None
        self.first_batches = FIRST_BATCHES
        if task.train:
            batches = len(task.dataloaders["train"])
            self.epoch_images = batches * task.config.DATA.TRAIN.BATCHSIZE_PER_REPLICA
            self.first_batches = min(FIRST_BATCHES, batches)

    def on_forward(self, task) -> None:
        if not task.train:
            return
        sample = task.last_batch.sample
        flags = _flatten(sample.get("data_valid", None))
        indices = _flatten(sample.get("data_idx", None))
        bad = [i for i, flag in enumerate(flags) if flag == -1]
        self.bad += len(bad)
        self.seen += len(flags)
        self.batches += 1
        if len(indices) == len(flags):
            for i in bad:
                if (
                    len(self.bad_indices) < SAMPLE_PATHS
                    and indices[i] not in self.bad_indices
                ):
                    self.bad_indices.append(indices[i])
        self._check_budget(task)

    def _check_budget(self, task) -> None:
        bad, seen = self.bad // self.crops_per_image, self.seen // self.crops_per_image
        if not bad:
            return
        if (
            self.batches >= FIRST_BATCHES
            and bad == seen
            and self.batches == FIRST_BATCHES
        ):
            problem = f"every one of the first {seen} images is unreadable"
        elif (
            self.max_fraction < 1
            and self.epoch_images
            and (bad > self.max_fraction * self.epoch_images)
        ):
            problem = (
                f"{bad} unreadable images in epoch {task.train_phase_idx} already "
                f"exceed {self.max_fraction:g} of its {self.epoch_images} images "
                "(this rank's share)"
            )
        else:
            return
        paths = image_paths(task, self.bad_indices)
        raise BadImagesError(
            BUDGET_KEY,
            self.max_fraction,
            f"{problem}; e.g. {paths}",
            "fix or remove those files, or raise the fraction (1.0: never stop)",
        )

    def on_phase_end(self, task) -> None:
        if not task.train:
            return
        counts = all_reduce_sum(torch.tensor([self.bad, self.seen], dtype=torch.long))
        bad, seen = (int(c) // self.crops_per_image for c in counts.cpu())
        if is_primary() and bad:
            logging.warning(
                "epoch %d: %d of %d images were unreadable and replaced (paths in "
                "the warnings above)",
                task.train_phase_idx,
                bad,
                seen,
            )
        elif is_primary():
            text = f"epoch {task.train_phase_idx}: {seen} images read, none unreadable"
            total = _dataset_size(task)
            if total and seen < total:
                # Shuffled each epoch: the images left out change between epochs.
                text += (
                    f"; {total - seen} of the {total} not read this epoch (a last "
                    "partial batch is dropped: DATA.TRAIN.DROP_LAST)"
                )
            logging.info(text)


def _dataset_size(task) -> int | None:
    try:
        return len(task.datasets["train"])
    except (AttributeError, KeyError, TypeError):
        return None


def image_paths(task, indices: list[int]) -> list[str]:
    """The files behind dataset indices of the training set (best effort)."""
    dataset = task.datasets.get("train") if hasattr(task, "datasets") else None
    paths = []
    for index in indices:
        try:
            subset = getattr(dataset, "image_and_label_subset", None)
            source_index = int(subset[index]) if subset is not None else index
            source = dataset.data_objs[0]
            if not source.is_initialized:
                source._load_data(source._path)
                source.is_initialized = True
            paths.append(source._image_path(source_index))
        except Exception:  # the message still names the index
            paths.append(f"sample {index}")
    return paths
