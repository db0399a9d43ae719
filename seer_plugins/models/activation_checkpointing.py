"""Activation checkpointing of a stage's blocks, without double-counting BN statistics.

Non-reentrant `torch.utils.checkpoint` runs each segment twice in training: once in
the forward pass (activations dropped) and once during backward to rebuild them. A
BatchNorm in training mode would update its running statistics on both passes; the
recomputation here runs with momentum 0 and restores `num_batches_tracked`, so
running statistics end up exactly as without checkpointing.
"""

import contextlib
from collections.abc import Sequence
from functools import partial

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@contextlib.contextmanager
def _frozen_bn_statistics(modules: Sequence[nn.Module]):
    bns = [
        m
        for module in modules
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    saved = [(bn.momentum, bn.num_batches_tracked.clone()) for bn in bns]
    for bn in bns:
        bn.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield
    finally:
        for bn, (momentum, tracked) in zip(bns, saved, strict=True):
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(tracked)


def _contexts(modules: Sequence[nn.Module]):
    return contextlib.nullcontext(), _frozen_bn_statistics(modules)


def _run(modules: Sequence[nn.Module], x):
    for module in modules:
        x = module(x)
    return x


def split_segments(modules: Sequence[nn.Module], segments: int) -> list[list]:
    """`modules` in `min(segments, len(modules))` contiguous, near-equal chunks."""
    modules = list(modules)
    segments = max(1, min(segments, len(modules)))
    size, extra = divmod(len(modules), segments)
    chunks, start = [], 0
    for i in range(segments):
        end = start + size + (1 if i < extra else 0)
        chunks.append(modules[start:end])
        start = end
    return chunks


def checkpointed_forward(modules: Sequence[nn.Module], x, segments: int):
    """Run `modules` in order, each of `segments` chunks under checkpointing.

    `x`: a batch, or a list of batches where the modules take lists (RegNet blocks).

    Only the chunk boundaries' activations stay in memory. Outside autograd (eval,
    `torch.no_grad`) it is a plain forward.
    """
    if not torch.is_grad_enabled():
        return _run(modules, x)
    for chunk in split_segments(modules, segments):
        x = checkpoint(
            partial(_run, chunk),
            x,
            use_reentrant=False,
            context_fn=partial(_contexts, chunk),
        )
    return x
