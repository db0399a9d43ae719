"""RegNetY building blocks with ClassyVision's module names.

The attribute names (`stem.0`, `proj`/`bn`, `f.a.0`, `f.b.0`, `f.se.excitation.0`,
`f.c`, `f.final_bn`, stages' `block{s}-{i}`) are those of ClassyVision's AnyNet,
which VISSL's `regnet` trunk wraps: published SEER checkpoints load by key, unchanged.
"""

from collections import OrderedDict

import torch
from torch import nn

from seer_plugins.models.regnet_params import StageSpec


def _bn(channels: int, eps: float, momentum: float) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)


class SeerStem(nn.Module):
    """3x3 stride-2 convolution, BN, ReLU (RegNet's simple ImageNet stem)."""

    def __init__(self, width_out: int, bn_eps: float, bn_momentum: float):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width_out, 3, stride=2, padding=1, bias=False),
            _bn(width_out, bn_eps, bn_momentum),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)


class SeerSqueezeExcitation(nn.Module):
    """x * sigmoid(W_2 relu(W_1 avgpool(x))), with biases (ClassyVision's layout)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.excitation = nn.Sequential(
            nn.Conv2d(channels, reduced, 1, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(reduced, channels, 1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.excitation(self.avgpool(x))


class SeerBottleneckBlock(nn.Module):
    """Residual bottleneck block: relu(shortcut(x) + F(x)).

    F = 1x1 (`f.a`) -> grouped 3x3 with the stride (`f.b`) -> SE (`f.se`) -> 1x1
    (`f.c`) -> BN (`f.final_bn`). The shortcut is a 1x1 projection + BN (`proj`,
    `bn`) when the width or the resolution changes, the identity otherwise.

    Args:
        width_in, width_out: block input and output channels.
        stride: stride of the 3x3 convolution and of the projection.
        group_width: channels per group of the 3x3 convolution.
        bottleneck_multiplier: bottleneck width = round(width_out * multiplier).
        se_ratio: SE width = round(se_ratio * width_in); 0 disables SE.
    """

    def __init__(
        self,
        width_in: int,
        width_out: int,
        stride: int,
        group_width: int,
        bottleneck_multiplier: float,
        se_ratio: float,
        bn_eps: float,
        bn_momentum: float,
    ):
        super().__init__()
        w_b = int(round(width_out * bottleneck_multiplier))
        self.proj_block = width_in != width_out or stride != 1
        if self.proj_block:
            self.proj = nn.Conv2d(width_in, width_out, 1, stride=stride, bias=False)
            self.bn = _bn(width_out, bn_eps, bn_momentum)
        layers = OrderedDict()
        layers["a"] = nn.Sequential(
            nn.Conv2d(width_in, w_b, 1, bias=False),
            _bn(w_b, bn_eps, bn_momentum),
            nn.ReLU(inplace=True),
        )
        layers["b"] = nn.Sequential(
            nn.Conv2d(
                w_b,
                w_b,
                3,
                stride=stride,
                padding=1,
                groups=w_b // group_width,
                bias=False,
            ),
            _bn(w_b, bn_eps, bn_momentum),
            nn.ReLU(inplace=True),
        )
        if se_ratio:
            # The SE width follows the block's input width, as in pycls.
            layers["se"] = SeerSqueezeExcitation(w_b, int(round(se_ratio * width_in)))
        layers["c"] = nn.Conv2d(w_b, width_out, 1, bias=False)
        layers["final_bn"] = _bn(width_out, bn_eps, bn_momentum)
        self.f = nn.Sequential(layers)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor | list[torch.Tensor]):
        """One batch, or a list of batches (one per crop resolution: each goes
        through the block in turn; why, :meth:`SeerRegNetTrunk.forward`)."""
        if isinstance(x, list):
            return self._residuals(x)
        return self._residual(x)

    def _residuals(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """`_residual` of each batch, one layer at a time over all batches: a
        layer that is an FSDP2 unit of its own (SEER-10B's largest) then has its
        gradient complete before backward reaches the previous layer."""
        if self.proj_block:
            shortcuts = [self.bn(self.proj(x)) for x in xs]
        else:
            shortcuts = xs
        hs = xs
        for layer in self.f:
            hs = [layer(h) for h in hs]
        return [self.activation(s + h) for s, h in zip(shortcuts, hs, strict=True)]

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.bn(self.proj(x)) if self.proj_block else x
        return self.activation(shortcut + self.f(x))


def build_stage(
    index: int,
    width_in: int,
    spec: StageSpec,
    bottleneck_multiplier: float,
    se_ratio: float,
    bn_eps: float,
    bn_momentum: float,
) -> nn.Sequential:
    """Stage `index` (1-based, ClassyVision's numbering: res2 holds `block1-*`)."""
    blocks = OrderedDict()
    for i in range(spec.depth):
        blocks[f"block{index}-{i}"] = SeerBottleneckBlock(
            width_in if i == 0 else spec.width,
            spec.width,
            spec.stride if i == 0 else 1,
            spec.group_width,
            bottleneck_multiplier,
            se_ratio,
            bn_eps,
            bn_momentum,
        )
    return nn.Sequential(blocks)


@torch.no_grad()
def init_weights(module: nn.Module) -> None:
    """ClassyVision's RegNet init: conv ~ N(0, 2 / (k*k*out)), BN (1, 0).

    Keeps a freshly built seer_regnet statistically identical to VISSL's `regnet`;
    a sharded model built on the meta device is initialised by it again
    (:mod:`seer_plugins.sharding.materialise`), VISSL's `regnet` trunk included.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(mean=0.0, std=(2.0 / fan_out) ** 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
