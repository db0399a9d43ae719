"""Apex-free LARC: one step against the formula by hand, through VISSL's groups, and on
sharded (DTensor) parameters against whole ones."""

import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from seer_plugins.optimizers.larc import LARCSGD
from seer_plugins.optimizers.seer_sgd import SeerSGD

LR, TRUST, EPS = 0.5, 0.02, 1e-8


def _expected_step(param, grad, *, weight_decay, clip, lr=LR):
    """apex's LARC, then plain SGD (first step: the momentum buffer is the gradient)."""
    w, g = param.norm(), grad.norm()
    if w == 0 or g == 0:
        return param - lr * grad  # unchanged gradient, no weight decay
    local_lr = TRUST * w / (g + weight_decay * w + EPS)
    if clip:
        local_lr = min(local_lr / lr, 1.0)
    return param - lr * local_lr * (grad + weight_decay * param)


def _params():
    g = torch.Generator().manual_seed(0)
    values = [
        torch.randn(4, 3, generator=g),  # ordinary weight
        torch.randn(5, generator=g) * 100,  # large weight: clipping binds
        torch.zeros(3),  # zero-initialised bias: zero weight norm
        torch.randn(2, 2, generator=g),  # zero gradient below
    ]
    grads = [
        torch.randn(4, 3, generator=g),
        torch.randn(5, generator=g) * 1e-3,
        torch.randn(3, generator=g),
        torch.zeros(2, 2),
    ]
    return values, grads


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_one_step_matches_the_larc_formula(clip, weight_decay, momentum):
    values, grads = _params()
    params = [nn.Parameter(v.clone()) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    optimizer = LARCSGD(
        params,
        lr=LR,
        momentum=momentum,
        weight_decay=weight_decay,
        trust_coefficient=TRUST,
        clip=clip,
        eps=EPS,
    )
    optimizer.step()
    for p, v, g in zip(params, values, grads, strict=True):
        expected = _expected_step(v, g, weight_decay=weight_decay, clip=clip)
        torch.testing.assert_close(p.detach(), expected)
    # The group's own weight decay is back after the step.
    assert optimizer.param_groups[0]["weight_decay"] == weight_decay


def test_clipping_only_ever_lowers_the_learning_rate():
    values, grads = _params()
    param = nn.Parameter(values[1].clone())
    param.grad = grads[1].clone()
    LARCSGD([param], lr=LR, trust_coefficient=TRUST, clip=True).step()
    # local_lr / lr >> 1 here: clipped to plain SGD.
    torch.testing.assert_close(param.detach(), values[1] - LR * grads[1])


def test_bf16_parameters():
    values, grads = _params()
    param = nn.Parameter(values[0].to(torch.bfloat16))
    param.grad = grads[0].to(torch.bfloat16)
    LARCSGD([param], lr=LR, weight_decay=1e-2, trust_coefficient=TRUST).step()
    expected = _expected_step(
        values[0].to(torch.bfloat16).float(),
        grads[0].to(torch.bfloat16).float(),
        weight_decay=1e-2,
        clip=True,
    )
    assert param.dtype == torch.bfloat16
    torch.testing.assert_close(param.detach().float(), expected, rtol=2e-2, atol=2e-2)


class _Tiny(nn.Module):
    """Module names as VISSL's optimizer helper sorts them: trunk vs `head`."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.heads = nn.ModuleList([nn.Linear(4, 3)])


def test_vissl_param_groups_keep_bn_and_bias_unregularised():
    """`regularize_bn/bias: False` puts BN and biases in groups with weight decay 0:
    LARC then scales their gradient without any decay."""
    from classy_vision.optim.param_scheduler import ConstantParamScheduler
    from vissl.optimizers.optimizer_helper import get_optimizer_param_groups

    from seer_plugins import compose

    config = compose(
        [
            "config=test/integration_test/quick_swav",
            "config.OPTIMIZER.regularize_bn=False",
            "config.OPTIMIZER.regularize_bias=False",
            "config.OPTIMIZER.weight_decay=0.01",
            "config.OPTIMIZER.larc_config.clip=False",
            f"config.OPTIMIZER.larc_config.trust_coefficient={TRUST}",
        ]
    )
    assert config.OPTIMIZER.name == "seer_sgd" and config.OPTIMIZER.seer_larc
    model = _Tiny()
    torch.manual_seed(0)
    for p in model.parameters():
        p.data.normal_()
        p.grad = torch.randn_like(p)
    before = {
        n: (p.detach().clone(), p.grad.clone()) for n, p in model.named_parameters()
    }
    schedulers = {
        "lr": ConstantParamScheduler(LR),
        "lr_head": ConstantParamScheduler(LR),
    }
    groups = get_optimizer_param_groups(
        model, config.MODEL, config.OPTIMIZER, schedulers
    )
    optimizer = SeerSGD.from_config(config.OPTIMIZER)
    optimizer.set_param_groups(groups)
    optimizer.step(where=0.0)

    unregularised = ("trunk.1.weight", "trunk.1.bias", "trunk.0.bias", "heads.0.bias")
    momentum = config.OPTIMIZER.momentum
    assert momentum == 0.9  # first step: the buffer is the gradient either way
    for name, param in model.named_parameters():
        weight_decay = 0.0 if name in unregularised else 0.01
        value, grad = before[name]
        expected = _expected_step(value, grad, weight_decay=weight_decay, clip=False)
        torch.testing.assert_close(param.detach(), expected, msg=name)


def test_unknown_larc_keys_are_listed():
    with pytest.raises(ValueError, match=r"unknown keys \['trust'\]"):
        SeerSGD.from_config({"larc_config": {"trust": 0.1}, "seer_larc": True})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sharded_parameters_step_bit_for_bit_as_whole_ones(tmp_path):
    """2 gloo processes, three steps: the float64 sums of squares of the shards give
    the same float32 norms as the whole tensors' (float32 sums do not: this test
    fails with them)."""
    sys.path.insert(0, str(Path(__file__).parent / "support"))
    from sharding_workers import larc_worker

    mp.spawn(larc_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2)
    result = torch.load(tmp_path / "larc.pt")
    for plain, sharded in zip(result["plain"], result["sharded"], strict=True):
        assert torch.equal(plain, sharded)
