"""Code that works on plain and on sharded (FSDP2 DTensor) parameters alike.

FSDP2 replaces each parameter by a DTensor sharded on dim 0 (`Shard(0)`, torch.chunk
layout, the last ranks' shards possibly empty); its `to_local()` is this rank's rows,
a view that in-place updates write through. Plain tensors are their own local part.
Hooks and the optimizer use these helpers instead of asking which kind they hold.
"""

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor, Shard


def is_sharded(tensor) -> bool:
    return isinstance(tensor, DTensor)


def local_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's part: the local shard of a DTensor, a plain tensor itself."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor (an all-gather for a DTensor: every rank must call it)."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def rows_are_local(tensor: torch.Tensor) -> bool:
    """True when each rank holds whole rows (dim 0 sharded, or not sharded at all)."""
    if not isinstance(tensor, DTensor):
        return True
    return all(p == Shard(0) for p in tensor.placements)


def shard_group(tensors) -> dist.ProcessGroup | None:
    """The process group over which the local parts of `tensors` add up to the whole.

    None when no tensor is sharded. Sharded ones must all be sharded (not replicated)
    on one 1-D mesh; a mix of plain and sharded tensors has no such group.

    Raises:
        ValueError: a mix, several meshes, or a replicated placement.
    """
    tensors = list(tensors)
    sharded = [t for t in tensors if isinstance(t, DTensor)]
    if not sharded:
        return None
    meshes = {t.device_mesh for t in sharded}
    if len(sharded) != len(tensors) or len(meshes) > 1:
        raise ValueError(
            "tensors mix plain and sharded ones, or several device meshes: "
            "their local parts do not add up over one process group"
        )
    if not all(isinstance(p, Shard) for t in sharded for p in t.placements):
        raise ValueError("a replicated DTensor: its local parts are copies, not parts")
    return sharded[0].device_mesh.get_group()


def any_rank(flag: bool, group: dist.ProcessGroup | None, device) -> bool:
    """`flag` or-ed over `group` (every rank of it must call); `flag` when None.

    `device`: where the group's collectives run (cuda for NCCL).
    """
    if group is None:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=group)
    return bool(value.item())
