"""What VISSL needs to train on `seer_shards`: its sampler, and its labels.

- VISSL's tasks build every data loader with `get_sampler`, which knows only its
  own samplers; a `seer_shards` split gets :class:`ShardSampler` instead (the order
  each worker reads front to back, resumable at any batch,
  :mod:`seer_plugins.data.shard_order`). Other splits are VISSL's unchanged.
- `GenericSSLDataset.load_labels` knows only its own label sources and reads them
  all before the first sample; a `seer_shards` label source reads each sample's
  label with its image instead (labels are inside the shards, all read only by
  reading every shard).
"""

import torch.distributed as dist
from vissl.data import get_sampler as vissl_get_sampler
from vissl.data import ssl_dataset
from vissl.trainer import train_task

from seer_plugins.data.shard_dataset import NAME, SeerShardDataset
from seer_plugins.data.shard_lists import shard_settings
from seer_plugins.data.shard_order import ShardOrder, ShardSampler

_vissl_build_dataloader = train_task.build_dataloader
_vissl_load_labels = ssl_dataset.GenericSSLDataset.load_labels


def _shard_source(dataset) -> SeerShardDataset | None:
    sources = getattr(dataset, "data_objs", [])
    return sources[0] if sources and isinstance(sources[0], SeerShardDataset) else None


def get_sampler(dataset, dataset_config, sampler_seed=0):
    """:class:`ShardSampler` for a `seer_shards` dataset, else VISSL's sampler."""
    shards = _shard_source(dataset)
    if shards is None:
        return vissl_get_sampler(dataset, dataset_config, sampler_seed)
    distributed = dist.is_available() and dist.is_initialized()
    settings = shard_settings(dataset.cfg, dataset.split)
    order = ShardOrder(
        counts=shards.counts,
        batch_size=dataset_config["BATCHSIZE_PER_REPLICA"],
        streams=settings["STREAMS_PER_RANK"],
        buffer=settings["SHUFFLE_BUFFER"],
        seed=sampler_seed,
        rank=dist.get_rank() if distributed else 0,
        world_size=dist.get_world_size() if distributed else 1,
    )
    return ShardSampler(order)


def build_dataloader(*args, **kwargs):
    """VISSL's `build_dataloader`, with the sampler of :func:`get_sampler`."""
    kwargs.setdefault("get_sampler", get_sampler)
    return _vissl_build_dataloader(*args, **kwargs)


class ShardLabels:
    """The labels of a `seer_shards` data source, read with each sample."""

    def __init__(self, source: SeerShardDataset):
        self.source = source
        source.wants_labels = True

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, idx):
        return self.source.label_of(int(idx))


def load_labels(self):
    """VISSL's label loading, with `seer_shards` label sources read per sample."""
    if NAME not in self.label_sources:
        return _vissl_load_labels(self)
    # A split reads shards alone (the launcher's preflight refuses a mix).
    self.label_objs = [ShardLabels(source) for source in self.data_objs]
    self.labels_init = True


def install() -> None:
    """Give `seer_shards` splits their sampler and labels. Idempotent."""
    train_task.build_dataloader = build_dataloader
    ssl_dataset.GenericSSLDataset.load_labels = load_labels
