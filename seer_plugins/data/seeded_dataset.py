"""VISSL's dataset with augmentations that depend on (seed, epoch, index) alone.

VISSL draws augmentations from each data loader worker's random stream: worker w
handles batches w, w + W, ... with a seed taken from the main process when the
epoch's iterator is made. A run resumed mid-epoch skips the finished batches, so
every remaining sample lands on a different worker at a different point of a
differently seeded stream: its crops and flips differ from the uninterrupted run's,
and so do the losses.

Here each sample seeds Python's, NumPy's and torch's generators from
`(SEED_VALUE, epoch, index)` before its transforms run. Augmentations then no longer
depend on the worker, the worker count or the point where a run was resumed. In the
main process (`NUM_DATALOADER_WORKERS: 0`) the generators' previous states are put
back afterwards, so the training loop's own stream is untouched.
"""

import contextlib
import random

import numpy as np
import torch
from torch.utils.data import get_worker_info
from vissl.data import (
    DATA_SOURCES_WITH_SUBSET_SUPPORT,
    DATASET_SOURCE_MAP,
    GenericSSLDataset,
)


def sample_seeds(seed: int, epoch: int, index: int) -> tuple[int, int, int]:
    """Well-mixed seeds for (torch, numpy, random) from a sample's coordinates.

    SeedSequence hashes its entropy, so neighbouring indices or epochs get
    unrelated streams (plain `seed + index` would give overlapping ones).
    """
    words = np.random.SeedSequence([seed, epoch, index]).generate_state(4, np.uint64)
    return int(words[0] >> np.uint64(1)), int(words[1] % 2**32), int(words[2])


@contextlib.contextmanager
def _restored_generators():
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


class SeerSeededSSLDataset(GenericSSLDataset):
    """GenericSSLDataset whose sample `index` of epoch `e` is always augmented alike.

    The task sets :attr:`epoch` before each epoch's iterator is made (workers copy
    the dataset then).
    """

    def __init__(self, cfg, split: str, seed: int):
        super().__init__(
            cfg=cfg,
            split=split,
            dataset_source_map=DATASET_SOURCE_MAP,
            data_sources_with_subset=DATA_SOURCES_WITH_SUBSET_SUPPORT,
        )
        self.seed = int(seed)
        self.epoch = 0

    def __getitem__(self, idx: int):
        in_worker = get_worker_info() is not None
        with contextlib.nullcontext() if in_worker else _restored_generators():
            torch_seed, numpy_seed, python_seed = sample_seeds(
                self.seed, self.epoch, int(idx)
            )
            # the CPU generator only: torch.manual_seed would reseed CUDA's too
            torch.default_generator.manual_seed(torch_seed)
            np.random.seed(numpy_seed)
            random.seed(python_seed)
            return super().__getitem__(idx)
