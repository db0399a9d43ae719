"""Sinkhorn-Knopp: marginals, edge cases, numerics, VISSL parity, 2-process parity."""

import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from seer_plugins.losses import SeerSwAVCriterion, sinkhorn_knopp


def _cosine_scores(batch, prototypes, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(batch, dim, generator=g), dim=1)
    c = F.normalize(torch.randn(prototypes, dim, generator=g), dim=1)
    return z @ c.t()


def test_rows_sum_to_one_and_prototypes_share_equally():
    scores = _cosine_scores(64, 8)
    codes = sinkhorn_knopp(scores, epsilon=0.05, num_iters=200)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(64))
    # Equipartition: each prototype gets B / K samples' worth of mass.
    torch.testing.assert_close(
        codes.sum(dim=0), torch.full((8,), 64 / 8), rtol=1e-3, atol=1e-3
    )
    assert (codes >= 0).all()


def test_zero_iterations_is_a_softmax():
    scores = _cosine_scores(10, 7)
    codes = sinkhorn_knopp(scores, epsilon=0.1, num_iters=0)
    torch.testing.assert_close(codes, torch.softmax(scores / 0.1, dim=1))


@pytest.mark.parametrize("num_iters", [0, 1, 3, 10])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_codes_as_vissl(num_iters, dtype):
    # VISSL is imported after seer_plugins, whose shims it needs.
    from vissl.losses.distibuted_sinkhornknopp import distributed_sinkhornknopp

    scores = _cosine_scores(12, 30).to(dtype)
    double = dtype == torch.float64
    q = torch.exp(scores / 0.05).t()
    expected = distributed_sinkhornknopp(
        Q=q,
        num_iter=num_iters,
        hard_assignment=False,
        world_size=1,
        use_double_prec=double,
        use_gpu=False,
    )
    codes = sinkhorn_knopp(scores, 0.05, num_iters, dtype=dtype)
    assert codes.dtype == dtype
    torch.testing.assert_close(codes.float(), expected, rtol=1e-5, atol=1e-6)


def test_hard_assignment_is_one_hot_argmax():
    scores = _cosine_scores(20, 5)
    soft = sinkhorn_knopp(scores, 0.05, 3)
    hard = sinkhorn_knopp(scores, 0.05, 3, hard_assignment=True)
    assert torch.equal(hard.sum(dim=1), torch.ones(20))
    assert torch.equal(hard.argmax(dim=1), soft.argmax(dim=1))


@pytest.mark.parametrize("score_dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_finite_with_small_epsilon_and_16k_prototypes(score_dtype):
    # SEER-10B's epsilon with SEER's 16K prototypes; low-precision scores as an
    # fp16/bf16 head produces them. exp(1 / 0.03) alone overflows fp16.
    scores = _cosine_scores(32, 16_000, dim=32).to(score_dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes = sinkhorn_knopp(scores, epsilon=0.03, num_iters=10)
    assert codes.dtype == torch.float32
    assert torch.isfinite(codes).all()
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(32))


def test_underflowing_entries_give_zero_mass_not_nan():
    # One sample far from every prototype relative to the others: its entries
    # underflow in float32 at this epsilon.
    scores = torch.tensor([[1.0, 0.9], [-1.0, -1.0]])
    codes = sinkhorn_knopp(scores, epsilon=0.01, num_iters=3)
    assert torch.isfinite(codes).all()


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="samples, prototypes"):
        sinkhorn_knopp(torch.zeros(3), 0.05, 3)
    with pytest.raises(ValueError, match="float32 or float64"):
        sinkhorn_knopp(torch.zeros(3, 2), 0.05, 3, dtype=torch.float16)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process_on_the_concatenated_batch(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent / "support"))
    from swav_dist_workers import sinkhorn_and_loss_worker

    num_crops, batch, prototypes = 4, 8, 12
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(num_crops, batch, 16, generator=g), dim=-1)
    c = F.normalize(torch.randn(prototypes, 16, generator=g), dim=-1)
    scores = z @ c.t()
    inputs = {"scores": scores, "epsilon": 0.05, "num_iters": 3}
    mp.spawn(
        sinkhorn_and_loss_worker,
        args=(2, _free_port(), inputs, str(tmp_path)),
        nprocs=2,
    )
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    codes = sinkhorn_knopp(scores[0], 0.05, 3)
    torch.testing.assert_close(torch.cat([r["codes"] for r in results]), codes)

    criterion = SeerSwAVCriterion(
        num_crops=num_crops,
        crops_for_assign=[0, 1],
        num_prototypes=[prototypes],
        embedding_dim=8,
        epsilon=0.05,
        num_iters=3,
    )
    loss = criterion(
        torch.zeros(num_crops * batch, 8), [scores.reshape(-1, prototypes)]
    )
    # Each rank's loss is its local mean; equal shards average to the global mean.
    torch.testing.assert_close((results[0]["loss"] + results[1]["loss"]) / 2, loss)
