"""Sinkhorn-Knopp equipartition of samples over prototypes (SwAV, Caron et al. 2020).

A pure function of tensors. It computes the same codes as VISSL's
`distributed_sinkhornknopp` (and the official SwAV code) with three differences in
how, not what:

- it always runs in float32 or float64, whatever the autocast state or the dtype of
  the scores, so fp16/bf16 training cannot overflow `exp(scores / epsilon)`;
- the scores are shifted by their global maximum (over all processes) before `exp`.
  A global constant factor cancels in every normalisation, so the codes are the
  same as without the shift, and the largest entry is exactly 1. With cosine
  scores in [-1, 1], nothing underflows in float32 while `2 / epsilon < 87`
  (epsilon > 0.023; 0.0029 in float64);
- sums are clamped away from zero, so an entry that does underflow (a prototype or
  sample far from everything) gets zero mass instead of inf/NaN, where VISSL
  patches infs after the fact.

Distributed: the maximum and the per-prototype sums couple the samples, so they are
all-reduced (one scalar, then K values per iteration). N processes then compute the
assignments that one process computes on the concatenated batch.
"""

import torch
import torch.distributed as dist


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce(tensor: torch.Tensor, op=dist.ReduceOp.SUM) -> torch.Tensor:
    dist.all_reduce(tensor, op=op)
    return tensor


@torch.no_grad()
def sinkhorn_knopp(
    scores: torch.Tensor,
    epsilon: float,
    num_iters: int,
    *,
    dtype: torch.dtype = torch.float32,
    hard_assignment: bool = False,
    distributed: bool = True,
) -> torch.Tensor:
    """Soft assignments of samples to prototypes with equal prototype marginals.

    In the notation of SwAV: `Q = Diag(u) exp(C^T Z / epsilon) Diag(v)` with the
    prototype marginal `r = 1/K` and the sample marginal `c = 1/B`, rescaled so that
    each sample's codes sum to 1.

    Args:
        scores: `(B, K)` prototype scores `z_b . c_k` of B local samples.
        epsilon: entropic regularisation; smaller is sharper.
        num_iters: Sinkhorn iterations. 0 gives `softmax(scores / epsilon)`.
        dtype: float32 or float64, the precision of the computation.
        hard_assignment: return one-hot codes (argmax of the soft ones).
        distributed: all-reduce the maximum and the prototype sums over the default
            process group when one is initialised with more than one process. The
            B samples of the processes then form one batch.

    Returns:
        `(B, K)` codes in `dtype`, each row summing to 1. After enough iterations
        each prototype's column sums to (global B) / K.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (samples, prototypes), got {scores.shape}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    distributed = distributed and _is_distributed()
    tiny = torch.finfo(dtype).tiny

    with torch.autocast(scores.device.type, enabled=False):
        logits = scores.to(dtype) / epsilon
        shift = logits.max()
        if distributed:
            _all_reduce(shift, op=dist.ReduceOp.MAX)
        q = torch.exp(logits - shift)
        for _ in range(num_iters):
            # Prototype marginal: each prototype gets an equal share of all samples.
            prototype_sums = q.sum(dim=0, keepdim=True)
            if distributed:
                _all_reduce(prototype_sums)
            q /= prototype_sums.clamp_min(tiny)
            # Sample marginal: each sample's codes sum to 1 (the 1/B of the paper,
            # up to a global factor that the next row normalisation removes).
            q /= q.sum(dim=1, keepdim=True).clamp_min(tiny)
        if num_iters == 0:
            q /= q.sum(dim=1, keepdim=True).clamp_min(tiny)
        if hard_assignment:
            q = torch.zeros_like(q).scatter_(1, q.argmax(dim=1, keepdim=True), 1.0)
    return q
