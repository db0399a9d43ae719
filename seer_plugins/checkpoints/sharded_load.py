"""`MODEL.WEIGHTS_INIT` into a sharded model, each rank reading only its own shards.

VISSL's loader has rank 0 `torch.load` the file and broadcast the whole object to
every rank, then copies each tensor in; for the published SEER-10B file (~36 GB)
that is the whole model in every process, and a sharded parameter refuses a plain
`copy_` anyway. Here every rank memory-maps the file (`torch.load(mmap=True)`: pages
are read when touched, as clean page cache) and copies, for each tensor, only its
own rows, `torch.chunk(full, world)[rank]`, FSDP2's layout. Measured on this
project's CPU machine (2 ranks, 8 x Linear(3072, 3072): a 288 MB file, 144 MB of
shards per rank, allocated beforehand): the copy adds no anonymous memory, and each
rank maps 129 / 143 MB of the file, its own rows; `torch.load` of the whole file
plus `set_model_state_dict(full_state_dict=True)` holds the 288 MB on every rank.

The keys are mapped, the load planned and verified as for an unsharded model
(:mod:`seer_plugins.checkpoints.load_plan`: `STATE_DICT_KEY_NAME`, `REMOVE_PREFIX`,
`APPEND_PREFIX`, `SKIP_LAYERS`, the heads in feature evaluation): a file that leaves
trunk tensors uninitialised, or holds one of another shape, is refused, unless
`SEER_ALLOW_PARTIAL_LOAD` says it is meant.

A checkpoint of a sharded run (the small `.torch` file VISSL lists, which points at
its folder of shards) is read with `torch.distributed.checkpoint` instead, which
reshards it to this run's world size.
"""

import logging

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.tensor import DTensor

from seer_plugins.checkpoints.load_plan import (
    LoadPlan,
    load_weights_file,
    model_shapes,
    plan_for_state,
    plan_load,
    prepared_state,
    verify,
)
from seer_plugins.checkpoints.sharded import shard_folder, sharded_reference

TRUNK_PREFIX = "trunk."
# The trunk inside VISSL's FeatureExtractorModel (linear evaluation).
EXTRACTOR_PREFIX = "trunk.base_model."


def copy_into(target: torch.Tensor, full: torch.Tensor) -> None:
    """Copy this rank's part of `full` into `target` (a shard or a plain tensor)."""
    if not isinstance(target, DTensor):
        target.copy_(full)
        return
    mesh = target.device_mesh
    chunks = torch.chunk(full, mesh.size(), dim=0)
    rank = mesh.get_local_rank()
    part = chunks[rank] if rank < len(chunks) else full[:0]
    local = target.to_local()
    if part.shape != local.shape:
        raise ValueError(
            f"shard of shape {tuple(local.shape)} but rows {tuple(part.shape)} of the "
            "file's tensor: not FSDP2's dim-0 chunk layout"
        )
    local.copy_(part)


@torch.no_grad()
def load_weights_init(model: nn.Module, config) -> int:
    """Initialise `model` (sharded or not) from `MODEL.WEIGHTS_INIT.PARAMS_FILE`.

    Returns:
        how many of the model's tensors were loaded.
    Raises:
        ConfigError: trunk tensors missing, a tensor of another shape, a bad key.
    """
    path = config.MODEL.WEIGHTS_INIT.PARAMS_FILE
    checkpoint = load_weights_file(path)  # memory-mapped: pages read when touched
    reference = sharded_reference(checkpoint)
    if reference is not None:
        return _load_sharded(model, config, path, checkpoint)
    targets = model.state_dict()  # a DTensor's shape is the whole tensor's
    plan = plan_load(config, checkpoint, model_shapes(model), path)
    verify(config, plan, path)
    source = prepared_state(config, checkpoint, path)
    for key in plan.loaded:
        copy_into(targets[key], source[key])
    logging.info("WEIGHTS_INIT: each rank copied its own rows of %s", path)
    return len(plan.loaded)


def _saved_name(key: str) -> str:
    """A model key's name in a sharded checkpoint's `model` entry, written by the
    pretraining model ("trunk." where a feature extractor has "trunk.base_model.")."""
    if key.startswith(EXTRACTOR_PREFIX):
        key = TRUNK_PREFIX + key.removeprefix(EXTRACTOR_PREFIX)
    return key


# torch.distributed.checkpoint flattens {"model": {key: ...}} to "model.<key>".
SAVED_ROOT = "model."


def sharded_load_plan(
    config, model: nn.Module, path: str, checkpoint
) -> LoadPlan | None:
    """The load plan of a sharded run's checkpoint into `model` (any device, meta
    included), from the shards' metadata; None when `checkpoint` is not one."""
    folder = shard_folder(path, checkpoint)
    if folder is None:
        return None
    saved = dcp.FileSystemReader(folder).read_metadata()
    saved = saved.state_dict_metadata
    # The saved shapes, as meta tensors under the model's names: planned like a
    # file's tensors.
    state = {
        key: torch.empty(
            tuple(saved[SAVED_ROOT + _saved_name(key)].size), device="meta"
        )
        for key in model.state_dict()
        if hasattr(saved.get(SAVED_ROOT + _saved_name(key)), "size")
    }
    plan = plan_for_state(config, state, model_shapes(model))
    plan.file_keys = sorted(saved)
    return plan


def _load_sharded(model, config, path: str, checkpoint) -> int:
    """A sharded run's checkpoint: the trunk (and trained heads) through DCP."""
    plan = sharded_load_plan(config, model, path, checkpoint)
    verify(config, plan, path)
    targets = model.state_dict()
    dcp.load(
        {"model": {_saved_name(k): targets[k] for k in plan.loaded}},
        checkpoint_id=shard_folder(path, checkpoint),
    )
    logging.info(
        "WEIGHTS_INIT: %d of %d tensors from the shards of %s",
        len(plan.loaded),
        len(targets),
        path,
    )
    return len(plan.loaded)
