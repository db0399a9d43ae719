"""`pad_group_width_to`: grouped 3x3 convolutions computed on zero-padded groups.

SEER 1.3B's group width, 373, is not a multiple of 8, and cuDNN's grouped kernels
are 1.4-2.9x slower for it than for 376 (docs/performance.md). Padding each group with
channels whose inputs and weights are exactly zero computes the same function: the
extra input channels are zero, and the extra output channels are dropped.

The parameter stays in the published layout (`weight`: C x 373 x 3 x 3), so state
dicts, VISSL's WEIGHTS_INIT, optimisers, LARC norms and weight decay see exactly
the unpadded model; the padded weight is rebuilt on the fly (F.pad, differentiable)
in each forward.
"""

import torch
import torch.nn.functional as F
from torch import nn


def padded_width(group_width: int, multiple: int) -> int:
    return -(-group_width // multiple) * multiple


class SeerPaddedGroupConv2d(nn.Module):
    """Bias-free grouped Conv2d whose groups are padded from gw to gp channels.

    Args:
        conv: the grouped convolution to replace; its weight Parameter is reused.
        multiple: pad each group's width up to a multiple of this.
    """

    def __init__(self, conv: nn.Conv2d, multiple: int):
        super().__init__()
        if conv.bias is not None or conv.in_channels != conv.out_channels:
            raise ValueError("only the bias-free C -> C grouped 3x3 convs are padded")
        self.weight = conv.weight
        self.stride, self.padding = conv.stride, conv.padding
        self.groups = conv.groups
        self.group_width = conv.in_channels // conv.groups
        self.padded_group_width = padded_width(self.group_width, multiple)

    def extra_repr(self) -> str:
        return (
            f"{self.groups * self.group_width}, groups={self.groups}, "
            f"group width {self.group_width} padded to {self.padded_group_width}, "
            f"stride={self.stride}"
        )

    def _padded_weight(self) -> torch.Tensor:
        g, gw, gp = self.groups, self.group_width, self.padded_group_width
        w = self.weight.unflatten(0, (g, gw))  # g x gw(out) x gw(in) x k x k
        w = F.pad(w, (0, 0, 0, 0, 0, gp - gw, 0, gp - gw))
        w = w.flatten(0, 1)
        if self.weight.is_contiguous(memory_format=torch.channels_last):
            w = w.contiguous(memory_format=torch.channels_last)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, gw, gp = self.groups, self.group_width, self.padded_group_width
        n, _, h, w = x.shape
        fmt = (
            torch.channels_last
            if x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous()
            else torch.contiguous_format
        )
        x_pad = torch.empty(
            (n, g * gp, h, w), dtype=x.dtype, device=x.device, memory_format=fmt
        ).zero_()
        x_pad.unflatten(1, (g, gp))[:, :, :gw].copy_(x.unflatten(1, (g, gw)))
        y_pad = F.conv2d(
            x_pad, self._padded_weight(), None, self.stride, self.padding, 1, g
        )
        y = torch.empty(
            (n, g * gw, *y_pad.shape[2:]),
            dtype=y_pad.dtype,
            device=y_pad.device,
            memory_format=fmt,
        )
        y.unflatten(1, (g, gw)).copy_(y_pad.unflatten(1, (g, gp))[:, :, :gw])
        return y


def pad_groups(feature_blocks: nn.Module, multiple: int) -> int:
    """Swap every block's grouped conv (`f.b.0`) for a padded one where needed.

    Returns how many convolutions were swapped (0 when every group width is
    already a multiple of `multiple`).
    """
    swapped = 0
    for module in feature_blocks.modules():
        f = getattr(module, "f", None)
        if f is None or not hasattr(f, "b"):
            continue
        conv = f.b[0]
        if isinstance(conv, nn.Conv2d) and (conv.in_channels // conv.groups) % multiple:
            f.b[0] = SeerPaddedGroupConv2d(conv, multiple)
            swapped += 1
    return swapped
