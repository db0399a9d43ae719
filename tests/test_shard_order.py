"""The `seer_shards` order and reading: what each rank reads is a pure function of
(seed, epoch, world size, rank), covers the epoch once, gives every rank as many
batches, resumes at any batch, and lets each data loader worker read its shards
front to back, once; a resume reads at most a shard's prefix per stream."""

import numpy as np
import pytest
import torch
from shard_data import write_shards
from torch.utils.data import DataLoader

from seer_plugins.data.shard_order import ShardOrder, ShardSampler
from seer_plugins.data.shard_reader import ShardReader

COUNTS = [37, 23, 51, 9]  # uneven shards, 120 samples


def _order(rank=0, world=1, batch=4, streams=4, buffer=10, seed=0, counts=COUNTS):
    return ShardOrder(counts, batch, streams, buffer, seed, rank, world)


def _epoch(order, epoch=0, start=0):
    return [b.tolist() for b in order.epoch_ids(epoch, start)]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_each_epoch_is_dealt_once_in_equal_batches_to_every_rank(world):
    ranks = [_epoch(_order(rank, world)) for rank in range(world)]
    per_rank = sum(COUNTS) // world
    assert {len(batches) for batches in ranks} == {-(-per_rank // 4)}
    ids = [i for batches in ranks for batch in batches for i in batch]
    assert len(ids) == len(set(ids)) == per_rank * world
    assert set(ids) <= set(range(sum(COUNTS)))


def test_fewer_shards_than_rank_workers_still_gives_every_rank_batches():
    """3 shards for 2 ranks x 2 workers, and for 8 ranks."""
    for world in (2, 8):
        for rank in range(world):
            batches = _epoch(_order(rank, world, batch=2, counts=[11, 5, 8]))
            assert len(batches) == -(-(24 // world) // 2)


def test_the_order_is_a_pure_function_and_changes_with_the_epoch_and_seed():
    assert _epoch(_order(1, 2)) == _epoch(_order(1, 2))
    assert _epoch(_order(1, 2), epoch=1) != _epoch(_order(1, 2))
    assert _epoch(_order(1, 2, seed=1)) != _epoch(_order(1, 2))
    # shards in another order each epoch
    assert list(_order().shard_order(0)) != list(_order().shard_order(1))


def test_a_resume_at_any_batch_continues_the_same_order():
    order = _order(0, 2)
    whole = _epoch(order, epoch=3)
    for start in range(len(whole)):
        assert _epoch(_order(0, 2), epoch=3, start=start) == whole[start:]


def test_samples_are_shuffled_within_a_bounded_buffer():
    """A stream reads consecutive positions of the epoch's stream: each batch's
    samples lie within a block of SHUFFLE_BUFFER (+ one batch) of each other."""
    order = _order(buffer=12, streams=1)
    stream_position = {}
    laid = np.concatenate(
        [np.arange(order.starts[s], order.starts[s + 1]) for s in order.shard_order(0)]
    )
    stream_position = {int(i): p for p, i in enumerate(laid)}
    flat = [stream_position[i] for b in _epoch(order) for i in b]
    assert flat != sorted(flat)  # shuffled
    for n, position in enumerate(flat):
        assert abs(position - n) < 12


def _reads(shards, counts, batches, keep, order):
    """Read `batches` (lists of ids) in order with one reader, as one worker does;
    returns the reader."""
    reader = ShardReader(shards, counts, keep=keep, open_shards=16)
    for batch in batches:
        shard, position = order.locate(np.asarray(batch))
        for s, p in zip(shard.tolist(), position.tolist(), strict=True):
            sample = reader.sample(s, p)
            assert sample["__key__"] == f"{order.starts[s] + p:09d}"
    return reader


def _streams_in_shards(order, epoch, streams) -> dict:
    """{shard: streams of `streams` whose run of samples lies partly in it}."""
    laid = np.concatenate(
        [
            np.arange(order.starts[s], order.starts[s + 1])
            for s in order.shard_order(epoch)
        ]
    )
    found = {}
    for stream in streams:
        first = order.rank * order.per_rank + order.stream_starts[stream]
        last = order.rank * order.per_rank + order.stream_starts[stream + 1]
        shards, _ = order.locate(laid[first:last])
        for shard in set(shards.tolist()):
            found.setdefault(shard, set()).add(stream)
    return found


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    return write_shards(folder, COUNTS)


@pytest.mark.parametrize("workers, start", [(1, 0), (2, 0), (4, 0), (2, 7)])
def test_each_worker_reads_its_streams_front_to_back(shards, workers, start):
    """A worker count that divides STREAMS_PER_RANK (batch k goes to worker
    k mod workers): a worker opens a shard once per stream of its own that reads
    it, reads nothing it is not asked for beyond each open's prefix, and no two
    workers are asked for one sample; resumed at batch 7 too."""
    order = _order(0, 1, streams=4, buffer=10)
    batches = _epoch(order, start=start)
    asked_everywhere = set()
    for worker in range(workers):
        mine = batches[worker::workers]
        reader = _reads(shards, COUNTS, mine, keep=10, order=order)
        asked = {i for batch in mine for i in batch}
        assert not asked & asked_everywhere
        asked_everywhere |= asked
        streams = {(start + worker + n * workers) % 4 for n in range(len(mine))}
        per_shard = _streams_in_shards(order, 0, streams)
        opens = [shard for shard, _ in reader.opened]
        for shard in set(opens):
            assert opens.count(shard) <= len(per_shard[shard]), (shard, reader.opened)
        prefixes = sum(position for _, position in reader.opened)
        assert reader.samples_read <= len(asked) + prefixes
    total = sum(len(b) for b in batches)
    assert len(asked_everywhere) == total


class _Keys(torch.utils.data.Dataset):
    """Sample `i`'s key, read through a ShardReader (a module-level class: data
    loader workers started by forkserver unpickle it)."""

    def __init__(self, shards):
        self.shards, self.reader = shards, None

    def __len__(self):
        return sum(COUNTS)

    def __getitem__(self, idx):
        if self.reader is None:
            self.reader = ShardReader(self.shards, COUNTS, keep=10)
        s, p = _order().locate(np.asarray([idx]))
        return int(self.reader.sample(int(s[0]), int(p[0]))["__key__"])


def test_the_data_loader_gives_the_same_batches_with_any_worker_count(shards):
    """The batches (sample ids and their order) of a DataLoader over the sampler
    do not depend on num_workers."""

    def batches(workers, start=0):
        sampler = ShardSampler(_order(0, 1, batch=4, streams=4, buffer=10))
        sampler.set_epoch(2)
        sampler.set_start_iter(start)
        loader = DataLoader(
            _Keys(shards), batch_size=4, sampler=sampler, num_workers=workers
        )
        return [b.tolist() for b in loader]

    whole = batches(0)
    assert batches(2) == whole
    assert batches(3, start=5) == whole[5:]  # 3 does not divide 4 streams: same
