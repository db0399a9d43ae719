"""Sharded checkpoints: each rank writes its shards with `torch.distributed.checkpoint`.

Layout, in `CHECKPOINT.DIR`:

    model_iteration8.torch          VISSL's checkpoint file, small: phase, iteration,
                                    meters, loss buffers, random generators, and in
                                    place of the weights a reference to the folder
    sharded/model_iteration8/       the shards: `__<rank>_0.distcp` per rank (model
                                    and optimizer state), `.metadata` by rank 0

VISSL's AUTO_RESUME lists `CHECKPOINT.DIR` for `*.torch` names and picks the latest,
and the small file is written (atomically, :mod:`seer_plugins.patches.atomic_checkpoints`)
only after its folder is complete, so AUTO_RESUME finds the latest checkpoint
unchanged. The shards live one folder down because VISSL returns *any* entry whose
name contains `model_final` as the finished run's checkpoint, a half-written
`model_final_checkpoint_phase1.partial/` folder included; `sharded/` matches none of
its patterns.

A folder is written atomically: every rank writes into `sharded/.<name>.partial`,
then rank 0 renames it to `sharded/<name>` (POSIX rename). A kill mid-save leaves a
`.partial` folder and no `.torch` file: AUTO_RESUME picks the previous checkpoint.

BatchNorm running statistics are buffers, not sharded, and differ per rank (DDP
broadcasts rank 0's before every forward; FSDP2 does not). DCP keeps one copy of a
non-sharded entry, from whichever rank its planner picks (rank 1's was seen), so rank
0's are broadcast to every rank before saving, DDP's semantics: the saved model, the
resumed one and the one that goes on training agree. Running statistics do not
enter a training-mode forward, so training losses do not change.

Loading reshards: a checkpoint written by N ranks loads on M (one included) into a
sharded model. VISSL's parameter groups are kept without the empty ones, which
DCP's optimizer state dicts refuse (`seer_self_supervision_task.prepare_optimizer`).
"""

import contextlib
import logging
import math
import os
import shutil
import warnings
from collections.abc import Mapping

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.default_planner import DefaultSavePlanner
from torch.distributed.checkpoint.metadata import TensorStorageMetadata
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_state_dict,
    set_state_dict,
)

from seer_plugins.checkpoints.atomic import PARTIAL_SUFFIX, replace_folder

SHARDED_DIR = "sharded"
# Where VISSL's checkpoint holds the weights, the reference takes their place:
# classy_state_dict -> base_model -> REFERENCE_KEY.
REFERENCE_KEY = "seer_sharded"


def folder_name(checkpoint_file: str) -> str:
    """`model_iteration8.torch` -> `sharded/model_iteration8` (relative to DIR)."""
    return f"{SHARDED_DIR}/{checkpoint_file.removesuffix('.torch')}"


def sharded_reference(checkpoint: Mapping) -> dict | None:
    """The folder reference of a VISSL checkpoint written by a sharded run, or None."""
    node = checkpoint.get("classy_state_dict", checkpoint)
    base_model = node.get("base_model") if isinstance(node, Mapping) else None
    if isinstance(base_model, Mapping):
        return base_model.get(REFERENCE_KEY)
    return None


def shard_folder(path: str, checkpoint: Mapping | None) -> str | None:
    """The folder of shards `path` is (a folder) or points to (the small `.torch`
    file, loaded as `checkpoint`), else None."""
    if os.path.isdir(path):
        return path
    reference = sharded_reference(checkpoint) if checkpoint is not None else None
    if reference is None:
        return None
    return os.path.join(os.path.dirname(path), reference["folder"])


def share_rank0_buffers(model: nn.Module) -> None:
    """Every rank takes rank 0's buffers (BatchNorm statistics). Collective."""
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def checkpoint_state(model: nn.Module, optimizer) -> dict:
    """What a sharded checkpoint holds: `{"model": ..., "optim": ...}` state dicts of
    DTensor shards, with rank 0's buffers on every rank. Collective."""
    share_rank0_buffers(model)
    model_state, optim_state = get_state_dict(model, optimizer)
    return {"model": model_state, "optim": optim_state}


def save_plan(model: nn.Module, optimizer) -> tuple[int, int, int]:
    """DCP's plan of this rank's part of a sharded checkpoint, written nowhere.

    The planning `dcp.save` does on every rank (the state dict, the local plan,
    the global plan and its metadata), with this rank's plan standing for every
    rank's: what a simulated world can run without writing tensor data.
    Returns (entries in the metadata, items this rank writes, their bytes).
    """
    planner = DefaultSavePlanner()
    planner.set_up_planner(checkpoint_state(model, optimizer), is_coordinator=True)
    local = planner.create_local_plan()
    plans, metadata = planner.create_global_plan([local])
    plan = planner.finish_plan(plans[0])
    written = 0
    for item in plan.items:
        if item.tensor_data is not None:
            size = math.prod(item.tensor_data.chunk.sizes)
            written += size * item.tensor_data.properties.dtype.itemsize
    return len(metadata.state_dict_metadata), len(plan.items), written


def save_sharded(
    model: nn.Module, optimizer, checkpoint_folder: str, checkpoint_file: str
) -> dict:
    """Write the model and optimizer shards of every rank. Collective.

    Args:
        model: the sharded model (the task's base_model).
        optimizer: the torch optimizer over its parameters.
        checkpoint_folder: VISSL's checkpoint folder.
        checkpoint_file: the name VISSL gives this checkpoint's `.torch` file.
    Returns:
        the reference VISSL's checkpoint file carries instead of the weights.
    """
    relative = folder_name(checkpoint_file)
    final = os.path.join(checkpoint_folder, relative)
    parent, name = os.path.split(final)
    partial = os.path.join(parent, f".{name}{PARTIAL_SUFFIX}")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    state = checkpoint_state(model, optimizer)
    if rank == 0:
        os.makedirs(parent, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # a save killed earlier
    dist.barrier()
    dcp.save(state, checkpoint_id=partial)
    dist.barrier()  # every rank's shard is on disk, and rank 0's .metadata
    if rank == 0:
        replace_folder(partial, final)
    dist.barrier()
    logging.info("Saved the shards of %d ranks to %s", world_size, final)
    return {"folder": relative, "world_size": world_size}


def saved_optimizer_states(folder: str) -> set[str]:
    """The parameters (by name) whose optimizer state a sharded checkpoint holds."""
    metadata = dcp.FileSystemReader(folder).read_metadata()
    return {
        str(path[2])
        for path in metadata.planner_data.values()
        if len(path) > 2 and tuple(path[:2]) == ("optim", "state")
    }


def load_sharded(model: nn.Module, optimizer, folder: str) -> None:
    """Load a sharded checkpoint into `model` and `optimizer` (any world size).

    A parameter not yet updated when the checkpoint was taken (SwAV's prototypes
    during their freeze) has no optimizer state in it: SGD makes its momentum buffer
    on the first update. torch's `get_state_dict` gives every parameter state (it
    steps the optimizer once at lr 0 to make it), which DCP would then look for in
    the checkpoint; such a parameter is left out, and, as in the run that saved,
    has no state until its first update.
    """
    model_state, optim_state = get_state_dict(model, optimizer)
    saved = saved_optimizer_states(folder)
    optim_state["state"] = {
        name: value for name, value in optim_state["state"].items() if name in saved
    }
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=folder)
    set_state_dict(
        model,
        optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state["optim"],
        # Parameters without saved state are known (above), not an error.
        options=StateDictOptions(strict=False),
    )
    logging.info("Loaded the shards of %s", folder)


def read_model_state(folder: str) -> dict[str, torch.Tensor]:
    """The whole model of a sharded checkpoint, in one process, without a model.

    Returns:
        {state-dict key: full tensor} as the unsharded model's `state_dict()`.
    """
    metadata = dcp.FileSystemReader(folder).read_metadata()
    model = {}
    for flat_key, item in metadata.state_dict_metadata.items():
        path = metadata.planner_data[flat_key]
        if path[0] == "model" and isinstance(item, TensorStorageMetadata):
            model[".".join(str(p) for p in path[1:])] = torch.empty(
                item.size, dtype=item.properties.dtype
            )
    with warnings.catch_warnings():
        # "torch.distributed is disabled ...: assuming ... a single process": it is.
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load({"model": model}, checkpoint_id=folder, no_dist=True)
    return model


class _StateElsewhere:
    """Stands in for the model or the optimizer while VISSL collects or restores the
    task's state: theirs is in the folder of shards. The checkpoint file gets
    `state` in its place, restoring it is a no-op (the shards are loaded already),
    anything else goes to the real object."""

    def __init__(self, target, state: dict):
        self._target = target
        self._state = state

    def get_classy_state(self, *args, **kwargs):
        return self._state

    def set_classy_state(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return getattr(self._target, name)


@contextlib.contextmanager
def weights_elsewhere(task, reference: dict):
    """VISSL's `get_classy_state` / `_set_classy_state` of `task` with its model and
    optimizer stood in for: their state is the folder of shards."""
    model, optimizer = task.base_model, task.optimizer
    task.base_model = _StateElsewhere(model, reference)
    task.optimizer = _StateElsewhere(optimizer, {})
    try:
        yield
    finally:
        task.base_model, task.optimizer = model, optimizer
