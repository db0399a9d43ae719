"""LARC (You et al., 2017) on top of torch's SGD, without NVIDIA apex.

Each parameter tensor gets its own learning-rate multiplier

    local_lr = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + eps)

and the weight decay is folded into the gradient before scaling, as apex's LARC does,
so a stock VISSL config that used apex's wrapper trains the same way here. With
`clip=True` the multiplier is `min(local_lr / lr, 1)`: LARC may only lower the
learning rate. A tensor whose weight or gradient norm is zero keeps its gradient and
skips weight decay for that step (apex's behaviour, e.g. a zero-initialised bias).
"""

from collections.abc import Iterable

import torch


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
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        weight_decay = group["weight_decay"]
        # One fused kernel per list, norms accumulated in float32 at least (float64
        # for float64 parameters), and no host synchronisation: the zero-norm case
        # is handled with torch.where.
        wide = any(p.dtype == torch.float64 for p in params)
        dtype = torch.float64 if wide else torch.float32
        param_norms = torch.stack(torch._foreach_norm(params, 2, dtype=dtype))
        grad_norms = torch.stack(torch._foreach_norm(grads, 2, dtype=dtype))
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
            torch._foreach_addcmul_(grads, params, list(decay.unbind()))

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
