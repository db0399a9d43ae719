"""`seer_bad_images`: count the unreadable images replaced in each epoch, report once.

Each unreadable file is logged with its path where it is read (possibly in a data
loader worker, see :mod:`seer_plugins.data.robust_images`); its replacement reaches
the batch with `data_valid == -1`. This hook sums those over the epoch and all
ranks and logs one line per epoch, so a folder with many broken files is noticed.
Wanted whenever training reads a `disk_folder` / `disk_filelist` source; first of
the plugin hooks.
"""

import logging

import torch
from classy_vision.generic.distributed_util import all_reduce_sum, is_primary

from seer_plugins.config.derived import num_crops
from seer_plugins.data.robust_images import SOURCES
from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook

HOOK_NAME = "seer_bad_images"


def reads_image_files(config) -> bool:
    return bool(set(config.DATA.TRAIN.DATA_SOURCES or []) & set(SOURCES))


def _flatten(valid) -> list[int]:
    """`data_valid` as a flat list: a tensor, or (per collator) lists of them."""
    if isinstance(valid, torch.Tensor):
        return valid.flatten().tolist()
    if isinstance(valid, (list, tuple)):
        return [flag for item in valid for flag in _flatten(item)]
    return [] if valid is None else [int(valid)]


@register_hook(HOOK_NAME, order=0, wanted=reads_image_files)
class SeerBadImagesHook(SeerHook):
    """Logs `epoch E: K of N images unreadable, replaced` at the end of each phase.

    Args:
        crops_per_image: samples per image in `data_valid` (multi-crop repeats the
            flag of an image for each of its crops).
    """

    def __init__(self, crops_per_image: int = 1):
        super().__init__()
        self.crops_per_image = crops_per_image
        self.bad = self.seen = 0

    @classmethod
    def from_config(cls, config):
        crops = num_crops(config.DATA.TRAIN.TRANSFORMS) or 1
        return cls(crops_per_image=crops)

    def on_phase_start(self, task) -> None:
        self.bad = self.seen = 0

    def on_forward(self, task) -> None:
        if not task.train:
            return
        flags = _flatten(task.last_batch.sample.get("data_valid", None))
        self.bad += sum(1 for flag in flags if flag == -1)
        self.seen += len(flags)

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
            logging.info("epoch %d: all %d images read", task.train_phase_idx, seen)
