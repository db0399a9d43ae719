"""Worker functions for tests that spawn gloo processes with sharded tensors
(importable by name in the children, which a pytest-collected module is not)."""

import os
import sys

import torch
import torch.distributed as dist
from torch import nn


def larc_worker(rank, world_size, port, out_dir):
    """Three LARC steps on DTensor-sharded parameters and on plain copies of them.

    The tensors have uneven first dimensions (a 1-row one leaves rank 1 an empty
    shard) and a zero one (LARC's zero-norm case); two parameter groups, one with
    weight decay. Rank 0 saves both results, the sharded ones gathered whole.
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    from seer_plugins.optimizers.larc import LARCSGD

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        mesh = init_device_mesh("cpu", (world_size,))
        g = torch.Generator().manual_seed(0)
        shapes = [(5, 3), (7,), (1, 4), (3, 3, 2, 2), (4,)]
        values = [torch.randn(s, generator=g) for s in shapes[:-1]] + [torch.zeros(4)]

        def shard(t):
            return distribute_tensor(t.clone(), mesh, [Shard(0)])

        plain = [nn.Parameter(v.clone()) for v in values]
        sharded = [nn.Parameter(shard(v)) for v in values]

        def optimizer(params):
            groups = [
                {"params": params[:3], "weight_decay": 1e-2},
                {"params": params[3:], "weight_decay": 0.0},
            ]
            return LARCSGD(
                groups, lr=0.5, momentum=0.9, trust_coefficient=0.02, clip=False
            )

        optimizers = optimizer(plain), optimizer(sharded)
        for _ in range(3):
            grads = [torch.randn(s, generator=g) for s in shapes]
            for p, q, grad in zip(plain, sharded, grads, strict=True):
                p.grad, q.grad = grad.clone(), shard(grad)
            for opt in optimizers:
                opt.step()
        gathered = [p.detach().full_tensor() for p in sharded]
        if rank == 0:
            torch.save(
                {"plain": [p.detach() for p in plain], "sharded": gathered},
                f"{out_dir}/larc.pt",
            )
    finally:
        dist.destroy_process_group()
    # A gloo child was seen to abort after its work was done ("terminate called
    # without an active exception", 3 runs in 14, before and after this session's
    # changes): leave without the interpreter's teardown, once the results are saved.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
