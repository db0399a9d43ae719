"""The order in which each rank reads tar shards: a pure function, resumable anywhere.

Samples are numbered by the index: shard by shard, in the index's order (a sample's
number is its stable id, which also seeds its augmentations,
:mod:`seer_plugins.data.seeded_dataset`). For epoch `e`:

1. The shards are permuted (seeded by `SEED_VALUE` and `e`) and their samples laid
   end to end: the epoch's stream of N samples.
2. Rank `r` of `W` takes positions `[r M, (r + 1) M)` of it, `M = N // W` (the
   remainder is left out, as VISSL's stateful sampler does): every rank has the same
   number of batches, whatever the shards' sizes, and a shard may be shared by
   ranks (fewer shards than ranks works).
3. The rank's batches are dealt to `S` streams (`STREAMS_PER_RANK`): batch `k` is
   stream `k mod S`'s. Each stream reads a contiguous run of the rank's positions,
   in blocks of `K` (`SHUFFLE_BUFFER`) samples, each block permuted (seeded by the
   seed, epoch, rank, stream and block): a bounded shuffle buffer that needs no
   history.

The order depends on (seed, epoch, world size, rank) and the data config (the
index, batch size, `S`, `K`), never on the data loader workers: a torch DataLoader
hands batch `k` to worker `k mod workers`, so with a worker count that divides `S`
each stream is read by one worker, front to back (another count reads the same
samples, opening shards more often). Resuming at batch `k` starts every stream at
its block, skipping finished shards without opening them.
"""

import math

import numpy as np
from torch.utils.data import Sampler

# Fixed words that keep these streams apart from the augmentations' (same seed).
_SHARD_ORDER, _BLOCK_ORDER = 0x5EE25, 0xB10C


def _generator(*words: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(words))))


class ShardOrder:
    """Which samples each batch of one rank holds, epoch by epoch.

    Args:
        counts: each shard's sample count, in the index's order.
        batch_size: samples per batch of one rank.
        streams: S, the streams a rank's batches are dealt to.
        buffer: K, the shuffle block of a stream.
        seed, rank, world_size: as the run's.
    """

    def __init__(
        self,
        counts: list[int],
        batch_size: int,
        streams: int,
        buffer: int,
        seed: int,
        rank: int,
        world_size: int,
    ):
        self.counts = np.asarray(counts, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        self.batch_size, self.streams = int(batch_size), max(1, int(streams))
        self.buffer = max(1, int(buffer))
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.per_rank = int(self.starts[-1]) // self.world_size
        self.batches = math.ceil(self.per_rank / self.batch_size)
        # Samples per stream: batches s, s + S, ... are stream s's; all are full but
        # the rank's last one (counted in closed form: a billion samples make a
        # million batches).
        self.stream_sizes = np.array(
            [
                max(0, -(-(self.batches - s) // self.streams)) * self.batch_size
                for s in range(self.streams)
            ],
            dtype=np.int64,
        )
        if self.batches:
            short = self.batches * self.batch_size - self.per_rank
            self.stream_sizes[(self.batches - 1) % self.streams] -= short
        self.stream_starts = np.concatenate([[0], np.cumsum(self.stream_sizes)])
        self._laid_out = None  # (epoch, shard order, ends of its shards)

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, position in the shard) of sample ids."""
        shard = np.searchsorted(self.starts, ids, side="right") - 1
        return shard, ids - self.starts[shard]

    def shard_order(self, epoch: int) -> np.ndarray:
        return _generator(self.seed, epoch, _SHARD_ORDER).permutation(len(self.counts))

    def batch(self, epoch: int, k: int, _cache: dict | None = None) -> np.ndarray:
        """The sample ids of this rank's batch `k` of `epoch`."""
        cache = {} if _cache is None else _cache
        stream, nth = k % self.streams, k // self.streams
        size = min(self.batch_size, self.per_rank - k * self.batch_size)
        within = np.arange(nth * self.batch_size, nth * self.batch_size + size)
        blocks = within // self.buffer
        shuffled = np.empty_like(within)
        for block in np.unique(blocks):
            key = (epoch, stream, int(block))
            if key not in cache:
                length = min(
                    self.buffer,
                    int(self.stream_sizes[stream]) - int(block) * self.buffer,
                )
                cache[key] = _generator(
                    self.seed, epoch, self.rank, stream, int(block), _BLOCK_ORDER
                ).permutation(length)
            chosen = blocks == block
            shuffled[chosen] = (
                block * self.buffer + cache[key][within[chosen] - block * self.buffer]
            )
        positions = (
            self.rank * self.per_rank + self.stream_starts[stream] + shuffled
        )  # in the epoch's stream
        return self._ids(epoch, positions)

    def _ids(self, epoch: int, positions: np.ndarray) -> np.ndarray:
        if self._laid_out is None or self._laid_out[0] != epoch:
            order = self.shard_order(epoch)
            self._laid_out = (epoch, order, np.cumsum(self.counts[order]))
        _, order, ends = self._laid_out
        nth = np.searchsorted(ends, positions, side="right")
        shard = order[nth]
        return self.starts[shard] + positions - (ends[nth] - self.counts[shard])

    def epoch_ids(self, epoch: int, start_batch: int = 0):
        """This rank's sample ids for `epoch`, batch by batch from `start_batch`."""
        cache: dict = {}
        for k in range(start_batch, self.batches):
            yield self.batch(epoch, k, cache)
            # A stream's earlier blocks are not needed again.
            if len(cache) > 4 * self.streams:
                for key in list(cache)[: len(cache) - 2 * self.streams]:
                    del cache[key]


class ShardSampler(Sampler):
    """VISSL's stateful sampler for `seer_shards`: :class:`ShardOrder`'s ids, from
    the batch a resumed run starts at (`set_start_iter`), epoch by epoch
    (`set_epoch`)."""

    def __init__(self, order: ShardOrder):
        self.order = order
        self.epoch = 0
        self.start_iter = 0
        # What VISSL's sampler log line prints.
        self.num_replicas, self.rank = order.world_size, order.rank
        self.num_samples = order.per_rank
        self.total_size = order.per_rank * order.world_size
        self.shuffle, self.seed = True, order.seed
        self.batch_size = order.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start_iter(self, start_iter: int) -> None:
        self.start_iter = int(start_iter)

    def __len__(self) -> int:
        return self.order.per_rank

    def __iter__(self):
        for ids in self.order.epoch_ids(self.epoch, self.start_iter):
            yield from ids.tolist()
