"""The sharded task's model: built on the meta device, sharded, then given weights.

VISSL builds the whole model on every rank before wrapping it; for SEER-10B that is
~40 GB of float32 per process (300 GB per 8-GPU node) before the first shard
exists. Here it is built on the meta device (shapes, no storage), sharded with
FSDP2 (:mod:`seer_plugins.sharding.wrap`), and only then are this rank's shards
allocated and given values:

- a new run without `WEIGHTS_INIT` starts from the weights an unsharded run of the
  same `SEED_VALUE` starts from: rank 0 builds the whole model on the CPU as
  VISSL's unsharded path does, from the same random state (DDP starts every rank
  from rank 0's), and every rank takes its shards of it
  (`set_model_state_dict(..., broadcast_from_rank0=True)`). That costs rank 0 the
  unsharded model in host memory once, not every rank;
- a resumed run, or one with `WEIGHTS_INIT`, loads its weights afterwards, onto
  shards initialised per rank (:mod:`seer_plugins.sharding.materialise`).
"""

import logging
from collections.abc import Callable

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    set_model_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh

from seer_plugins.checkpoints.sharded_load import load_weights_init
from seer_plugins.models.wrappers import unwrap
from seer_plugins.sharding.materialise import materialise
from seer_plugins.sharding.wrap import shard_model
from seer_plugins.trainer.ranks import rank_and_world_size


def build_sharded_model(task, build: Callable[[], nn.Module]):
    """`build()` (VISSL's `_build_model`) on the meta device, sharded on every rank
    with `task.sharding`, its shards given values (module doc). Returns the model."""
    random_state = torch.get_rng_state()  # where an unsharded build would start
    with torch.device("meta"):
        model = build()  # SyncBN, freezing; weights: below
    module = unwrap(model)  # the nn.Module inside ClassyVision's wrapper
    rank, world_size = rank_and_world_size()
    if task.device_mesh is None:
        task.device_mesh = init_device_mesh(task.device.type, (world_size,))
    mesh = task.device_mesh
    units = shard_model(module, task.sharding, mesh)
    weights_file = task.config.MODEL.WEIGHTS_INIT.PARAMS_FILE
    if task.checkpoint_path is not None or weights_file:
        materialise(module, task.device, seed=int(task.config.SEED_VALUE) + rank)
    else:
        module.to_empty(device=task.device)
        full_state = {}
        if rank == 0:
            with torch.random.fork_rng(devices=[]):
                torch.set_rng_state(random_state)
                full_state = unwrap(build()).state_dict()
        set_model_state_dict(
            module,
            full_state,
            options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True),
        )
    logging.info(
        "Sharded over %d ranks, %d units (largest %.1fM parameters)",
        world_size,
        len(units),
        max(u.params for u in units) / 1e6,
    )
    if task.checkpoint_path is None and weights_file:
        load_weights_init(module, task.config)
    return model
