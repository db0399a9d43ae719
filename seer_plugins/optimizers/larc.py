"""LARC (You et al., 2017) on top of torch's SGD, without NVIDIA apex.

Each parameter tensor gets its own learning-rate multiplier

    local_lr = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + eps)

and the weight decay is folded into the gradient before scaling, as apex's LARC does,
so a stock VISSL config that used apex's wrapper trains the same way here. With
`clip=True` the multiplier is `min(local_lr / lr, 1)`: LARC may only lower the
learning rate. A tensor whose weight or gradient norm is zero keeps its gradient and
skips weight decay for that step (apex's behaviour, e.g. a zero-initialised bias).

Sharded parameters (FSDP2 DTensors, :mod:`seer_plugins.sharding`) get the norms of
the whole tensors, as VISSL's `LARC_FSDP` computes them: each rank sums the squares
of its shards, one all-reduce per parameter group adds the sums, then the square
root. The sums are taken in float64 on both paths, sharded or not, and the norms
cast to float32 afterwards: a float32 sum depends on how the tensor is split into
shards, a float64 one agrees to ~1e-16, so both paths round to the same float32
norm. That matters: LARC training is chaotic (a 1e-7 relative change of the weights
was measured to move the losses of a small model by ~8% within 20 steps), so
float32 norms made sharded and unsharded runs drift apart, float64 ones keep them
equal (tests/test_sharding_e2e.py).
"""

from collections.abc import Iterable

import torch
import torch.distributed as dist

from seer_plugins.sharding.dtensors import local_tensor, shard_group


def full_norms(tensors, group) -> torch.Tensor:
    """float64 2-norms of whole tensors from their local parts.

    Args:
        tensors: the local parts (plain tensors), any floating dtype.
        group: the process group whose ranks hold the other parts, or None.
    Returns:
        A float64 vector, one norm per tensor.
    """
    squares = torch.stack(torch._foreach_norm(tensors, 2, dtype=torch.float64)).square()
    if group is not None:
        dist.all_reduce(squares, group=group)
    return squares.sqrt()


class LARCSGD(torch.optim.SGD):
    """`torch.optim.SGD` whose gradients are rescaled per tensor by LARC before the step.

    Args:
        params: parameters or param groups, as for `torch.optim.SGD`. A group's own
            `weight_decay` is honoured (VISSL puts BN and bias parameters in groups
            with weight decay 0 when `regularize_bn`/`regularize_bias` are off).
        lr, momentum, weight_decay, nesterov: as for `torch.optim.SGD`.
        trust_coefficient: LARC's eta.
        clip: clip the multiplier at the global learning rate (LARC) rather than
            replacing the learning rate by it (LARS-like scaling).
        eps: added to the denominator.
        foreach: passed to `torch.optim.SGD` (None lets torch pick the fast path).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        trust_coefficient: float = 0.02,
        clip: bool = True,
        eps: float = 1e-8,
        foreach=None,
    ):
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            nesterov=nesterov,
            foreach=foreach,
        )
        self.trust_coefficient = trust_coefficient
        self.clip = clip
        self.eps = eps

    @torch.no_grad()
    def _apply_larc_to_gradients(self, group) -> None:
        # Which parameters have a gradient is the same on every rank (FSDP2 reduces
        # gradients collectively; prototype freezing drops them everywhere), so the
        # all-reduce below has the same size on every rank.
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        weights = [local_tensor(p) for p in params]
        grads = [local_tensor(p.grad) for p in params]
        weight_decay = group["weight_decay"]
        # One fused kernel per list, one all-reduce when sharded, and no host
        # synchronisation: the zero-norm case is handled with torch.where. The norms
        # are used in float32 (float64 for float64 parameters, e.g. exactness tests).
        wide = any(p.dtype == torch.float64 for p in params)
        norms = full_norms(weights + grads, shard_group(params))
        norms = norms if wide else norms.to(torch.float32)
        param_norms, grad_norms = norms[: len(params)], norms[len(params) :]
        local_lr = (
            self.trust_coefficient
            * param_norms
            / (grad_norms + weight_decay * param_norms + self.eps)
        )
        if self.clip:
            local_lr = torch.clamp(local_lr / group["lr"], max=1.0)
        valid = (param_norms > 0) & (grad_norms > 0)
        scale = torch.where(valid, local_lr, torch.ones_like(local_lr))
        # grad <- scale * (grad + decay * param), decay = weight_decay where valid.
        torch._foreach_mul_(grads, list(scale.unbind()))
        if weight_decay:
            decay = torch.where(valid, scale * weight_decay, torch.zeros_like(scale))
            torch._foreach_addcmul_(grads, weights, list(decay.unbind()))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Weight decay is already in the LARC-scaled gradient: the inner SGD step must
        # not add it a second time.
        weight_decays = []
        for group in self.param_groups:
            self._apply_larc_to_gradients(group)
            weight_decays.append(group["weight_decay"])
            group["weight_decay"] = 0.0
        try:
            super().step()
        finally:
            for group, weight_decay in zip(
                self.param_groups, weight_decays, strict=True
            ):
                group["weight_decay"] = weight_decay
        return loss
