"""Per-sample augmentation seeds and the random-generator snapshot used by resume."""

import io
import random

import numpy as np
import pytest
import torch

from seer_plugins import compose
from seer_plugins.data.seeded_dataset import SeerSeededSSLDataset, sample_seeds
from seer_plugins.trainer.rng_state import capture_rng_state, restore_rng_state

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def dataset():
    config = compose(
        [
            "config=pretrain/seer_tiny",
            "config.DATA.TRAIN.RANDOM_SYNTHETIC_IMAGES=True",
        ]
    )
    return SeerSeededSSLDataset(cfg=config, split="TRAIN", seed=config.SEED_VALUE)


def _crops(dataset, index):
    return dataset[index]["data"][0]  # the 6 multi-crop tensors of one image


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_seeds_depend_on_seed_epoch_and_index_only():
    assert sample_seeds(0, 1, 5) == sample_seeds(0, 1, 5)
    variants = {sample_seeds(0, 1, 5), sample_seeds(1, 1, 5), sample_seeds(0, 2, 5)}
    variants |= {sample_seeds(0, 1, 6)}
    assert len(variants) == 4
    torch_seed, numpy_seed, python_seed = sample_seeds(3, 4, 5)
    assert 0 <= torch_seed < 2**63 and 0 <= numpy_seed < 2**32 and python_seed >= 0


def test_a_sample_is_augmented_alike_whatever_came_before(dataset):
    dataset.epoch = 1
    first = _crops(dataset, 7)
    _crops(dataset, 3)  # other samples in between, as on another worker
    torch.rand(100), np.random.rand(100), random.random()
    assert _same(first, _crops(dataset, 7))


def test_each_epoch_augments_a_sample_afresh(dataset):
    dataset.epoch = 1
    sample = _crops(dataset, 7)
    dataset.epoch = 2
    assert not _same(sample, _crops(dataset, 7))


def test_main_process_generators_are_left_as_they_were(dataset):
    before = capture_rng_state(CPU)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(before, CPU)
    _crops(dataset, 11)
    after = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], after[0])
    assert np.array_equal(expected[1], after[1]) and expected[2] == after[2]


def _loaded(dataset, workers):
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, range(6)),
        batch_size=3,
        num_workers=workers,
        collate_fn=list,  # picklable for the worker: the samples as they are
        # VISSL's start method (MULTI_PROCESSING_METHOD), not the platform's
        multiprocessing_context="forkserver" if workers else None,
    )
    return [sample["data"][0] for batch in loader for sample in batch]


def test_a_data_loader_worker_gives_the_main_process_augmentations(dataset):
    """The demo pretrains with a worker (a second core) and claims its numbers
    equal those of a run without one."""
    dataset.epoch = 3
    without, with_worker = _loaded(dataset, 0), _loaded(dataset, 1)
    assert len(without) == 6
    assert all(_same(a, b) for a, b in zip(without, with_worker, strict=True))


def test_rng_snapshot_survives_torch_load_with_weights_only():
    state = capture_rng_state(CPU)
    expected = (torch.rand(3), np.random.rand(3), np.random.randn(), random.random())
    buffer = io.BytesIO()
    torch.save({"rng": state}, buffer)
    buffer.seek(0)
    restore_rng_state(torch.load(buffer, weights_only=True)["rng"], CPU)
    got = (torch.rand(3), np.random.rand(3), np.random.randn(), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2:] == got[2:]
