"""`pad_group_width_to`: bottleneck blocks stored with zero-padded groups, exactly.

Why: SEER 1.3B's group width, 373, is not a multiple of 8, and cuDNN's grouped 3x3
kernels run 1.4-2.9x slower at 373 channels per group than at 376 under
channels_last (docs/performance.md). The group width is fixed by the published
checkpoints; a group padded with channels that stay exactly zero computes the same
function.

What is padded. A block with g groups of gw channels keeps its bottleneck at
g x gp channels (gp: gw rounded up to the multiple M), from conv a's outputs to
conv c's inputs; channel `k*gp + i` holds the published channel `k*gw + i` for
i < gw, and channels `k*gp + i`, i >= gw, are padding:

    f.a.0  1x1 conv            out channels    g*gw -> g*gp
    f.a.1  BN                  channels        g*gw -> g*gp
    f.b.0  grouped 3x3 conv    out, in/group   (g*gw, gw) -> (g*gp, gp)
    f.b.1  BN                  channels        g*gw -> g*gp
    f.se.excitation.0  SE reduce, in channels  g*gw -> g*gp
    f.se.excitation.2  SE expand, out channels (weight and bias)
    f.c    1x1 conv            in channels     g*gw -> g*gp

The block's input and output, the shortcut and `final_bn` keep their widths, so
res2..res5 and the trunk's `out_width` are unchanged. Padded entries: conv and SE
weights 0, SE bias 0, BN weight (gamma) 0 and bias (beta) 0, running mean 0,
running variance 1.

Why it stays exact, in training too. Forward: conv a's padded output channels
are zero (zero weight rows); BN maps a constant-zero channel to its bias, 0
(mean 0, variance 0, normalised value 0, times gamma 0, plus beta 0); ReLU keeps 0;
the grouped conv's padded inputs meet zero weights and its padded outputs are zero
(zero weight rows), BN and ReLU again give 0; the SE gate of a padded channel is
sigmoid(0) = 1/2, applied to a zero input; conv c's padded inputs are zero and meet
zero weight columns. The real channels see exactly the published computation.
Backward: ReLU'(0) = 0 stops every gradient into the padded channels after each
BN, so their BN gamma and beta, conv a's padded rows and the grouped conv's padded
rows get zero gradients; a zero input gives a zero weight gradient to the weights
that read it (the grouped conv's padded input columns, SE reduce's padded columns,
conv c's padded columns), and SE expand's padded rows only reach a zero input.
So every padded parameter has value 0 and gradient 0: SGD, momentum (the buffer
stays 0), weight decay (decay x 0 = 0) and LARC (zeros add nothing to the norms
||w|| and ||grad||, so the per-tensor trust ratio is the unpadded model's) keep
the padding exactly zero, and the real entries follow the unpadded model's
trajectory up to the order of summation. The padded running variances decay as
(1 - momentum)^t towards 0 (the batch variance of a zero channel is 0); they never
reach an output (the input is 0 and gamma is 0; BN's eps > 0) and are not saved.

Checkpoints: state-dict hooks give `state_dict()` the published layout (group
width 373 for SEER 1.3B: same keys, shapes and values as the unpadded trunk's), and
`load_state_dict()` takes that layout and fills the padding as above. So VISSL
checkpoints, `MODEL.WEIGHTS_INIT` (see seer_plugins/patches/weights_init.py),
`tools/convert_checkpoint.py` and timm see the published model. `state_dict()`
returns copies of the padded tensors (not views of the parameters): writing a
checkpoint holds one extra copy of those weights while it is saved.
"""

import torch
from torch import nn

from seer_plugins.models.regnet_blocks import SeerBottleneckBlock

# The bottleneck modules whose tensors are padded, relative to the block.
PADDED_MODULES = ("f.a.0", "f.a.1", "f.b.0", "f.b.1", "f.se.excitation.0")
PADDED_MODULES += ("f.se.excitation.2", "f.c")


def padded_width(group_width: int, multiple: int) -> int:
    return -(-group_width // multiple) * multiple


def _padded_dims(groups: int) -> dict[str, tuple[tuple[int, int], ...]]:
    """Block-relative tensor name -> the padded dims, each (dim, runs of gw there)."""
    bn = {n: ((0, groups),) for n in ("weight", "bias", "running_mean", "running_var")}
    dims = {"f.a.0.weight": ((0, groups),), "f.b.0.weight": ((0, groups), (1, 1))}
    dims |= {f"f.a.1.{n}": d for n, d in bn.items()}
    dims |= {f"f.b.1.{n}": d for n, d in bn.items()}
    dims["f.se.excitation.0.weight"] = ((1, groups),)
    dims["f.se.excitation.2.weight"] = ((0, groups),)
    dims["f.se.excitation.2.bias"] = ((0, groups),)
    dims["f.c.weight"] = ((1, groups),)
    return dims


def _fill(name: str) -> float:
    return 1.0 if name.endswith("running_var") else 0.0


def pad_tensor(t, dims, gw: int, gp: int, fill: float = 0.0) -> torch.Tensor:
    """A new tensor: along each (dim, runs) of `dims`, runs of gw entries -> gp."""
    for dim, runs in dims:
        grouped = t.unflatten(dim, (runs, gw))
        shape = list(grouped.shape)
        shape[dim + 1] = gp
        out = grouped.new_full(shape, fill)
        out.narrow(dim + 1, 0, gw).copy_(grouped)
        t = out.flatten(dim, dim + 1)
    return t


def unpad_tensor(t, dims, gw: int, gp: int) -> torch.Tensor:
    """The published entries of a padded tensor, as a new tensor (never a view)."""
    source = t
    for dim, runs in dims:
        t = t.unflatten(dim, (runs, gp)).narrow(dim + 1, 0, gw).flatten(dim, dim + 1)
    if t.untyped_storage().data_ptr() == source.untyped_storage().data_ptr():
        t = t.clone()  # a view would save (torch.save) the padded storage whole
    return t


def _widened(module: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """A module of `module`'s kind and settings holding `tensors` (its own
    parameters and buffers, some padded).

    Built on the meta device, so no random initialisation runs (the global RNG is
    untouched) and nothing is allocated twice.
    """
    weight = tensors["weight"]
    if isinstance(module, nn.Conv2d):
        new = nn.Conv2d(
            weight.shape[1] * module.groups,
            weight.shape[0],
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            device="meta",
        )
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        new = type(module)(
            weight.shape[0],
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
            device="meta",
        )
    else:
        raise TypeError(f"cannot pad a {type(module).__name__}")
    for name, tensor in tensors.items():
        old = getattr(module, name)
        if isinstance(old, nn.Parameter):
            tensor = nn.Parameter(tensor, requires_grad=old.requires_grad)
        setattr(new, name, tensor)
    return new


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent), name, module)


class SeerPaddedBottleneckBlock(SeerBottleneckBlock):
    """A bottleneck block whose groups are stored padded from gw to gp channels.

    Made from a built block: takes its modules and weights (no new initialisation)
    and widens the bottleneck's. Same forward, same function, same state dict.

    Args:
        block: the block to pad (left unusable: its modules are taken).
        multiple: pad each group's width up to a multiple of this.
    Attributes:
        groups, group_width, padded_group_width: g, gw, gp.
    """

    def __init__(self, block: SeerBottleneckBlock, multiple: int):
        nn.Module.__init__(self)  # the modules come from `block`, already built
        conv = block.f.b[0]
        self.groups = conv.groups
        self.group_width = conv.in_channels // conv.groups
        self.padded_group_width = padded_width(self.group_width, multiple)
        self.proj_block = block.proj_block
        if block.proj_block:
            self.proj, self.bn = block.proj, block.bn
        self.f = block.f
        self.activation = block.activation
        self.padded_dims = {
            name: dims
            for name, dims in _padded_dims(self.groups).items()
            if name.rpartition(".")[0] in dict(self.named_modules())
        }
        state = self.state_dict()  # not hooked yet: the published layout
        self.published_shapes = {n: state[n].shape for n in self.padded_dims}
        with torch.no_grad():
            for path in PADDED_MODULES:
                if path in dict(self.named_modules()):  # no SE when se_ratio is 0
                    _set_submodule(self, path, self._padded_module(path))
        self.register_state_dict_post_hook(_save_published)
        self.register_load_state_dict_pre_hook(_load_published)

    def _padded_module(self, path: str) -> nn.Module:
        module = self.get_submodule(path)
        gw, gp = self.group_width, self.padded_group_width
        own = dict(module.named_parameters(recurse=False))
        own |= dict(module.named_buffers(recurse=False))
        tensors = {}
        for name, tensor in own.items():
            key = f"{path}.{name}"
            if key in self.padded_dims:
                tensor = pad_tensor(tensor, self.padded_dims[key], gw, gp, _fill(key))
            tensors[name] = tensor
        return _widened(module, tensors)

    def extra_repr(self) -> str:
        return (
            f"groups={self.groups}, group width {self.group_width} stored padded "
            f"to {self.padded_group_width}"
        )

    def padding_entries(self, tensors: dict | None = None) -> dict[str, torch.Tensor]:
        """The padded entries of each padded tensor, flat: all 0 but running_var's.

        Args:
            tensors: block-relative name -> tensor of the stored shape (gradients,
                optimizer state); default: the block's parameters and buffers.
        """
        if tensors is None:
            tensors = dict(self.named_parameters()) | dict(self.named_buffers())
        gw, gp = self.group_width, self.padded_group_width
        entries = {}
        for name, dims in self.padded_dims.items():
            if name not in tensors:
                continue
            published = torch.ones(self.published_shapes[name], dtype=torch.bool)
            is_padding = ~pad_tensor(published, dims, gw, gp, fill=0.0)
            tensor = tensors[name].detach()
            entries[name] = tensor[is_padding.to(tensor.device)]
        return entries


def _save_published(module, state_dict, prefix, local_metadata) -> None:
    gw, gp = module.group_width, module.padded_group_width
    for name, dims in module.padded_dims.items():
        key = prefix + name
        if key in state_dict:
            state_dict[key] = unpad_tensor(state_dict[key].detach(), dims, gw, gp)


def _load_published(
    module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors
) -> None:
    gw, gp = module.group_width, module.padded_group_width
    for name, dims in module.padded_dims.items():
        key = prefix + name
        if key not in state_dict:
            continue
        value, shape = state_dict[key], module.published_shapes[name]
        if value.shape == shape:
            state_dict[key] = pad_tensor(value, dims, gw, gp, _fill(name))
        else:
            errors.append(
                f"{key}: expected the published shape {tuple(shape)} (group width "
                f"{gw}; pad_group_width_to pads it to {gp} inside the model), got "
                f"{tuple(value.shape)}"
            )


def pad_blocks(feature_blocks: nn.Module, multiple: int) -> int:
    """Replace every bottleneck block whose group width is not a multiple of
    `multiple` by its padded version, in place.

    Returns how many blocks were padded (0 when every group width is already a
    multiple of `multiple`).
    """
    padded = 0
    for stage in list(feature_blocks.modules()):
        for name, block in list(stage.named_children()):
            if type(block) is not SeerBottleneckBlock:
                continue
            conv = block.f.b[0]
            if (conv.in_channels // conv.groups) % multiple:
                setattr(stage, name, SeerPaddedBottleneckBlock(block, multiple))
                padded += 1
    return padded


def stores_padding(module: nn.Module) -> bool:
    """Whether `module` holds padded blocks (whose state dict is not a view)."""
    return any(isinstance(m, SeerPaddedBottleneckBlock) for m in module.modules())


def published_layout(module: nn.Module, tensors: dict) -> dict:
    """`tensors` keyed by `module`'s parameter names (gradients, optimizer
    buffers), with those of padded blocks cut to the published layout."""
    out = dict(tensors)
    for prefix, block in module.named_modules():
        if not isinstance(block, SeerPaddedBottleneckBlock):
            continue
        gw, gp = block.group_width, block.padded_group_width
        for name, dims in block.padded_dims.items():
            key = f"{prefix}.{name}" if prefix else name
            if key in out:
                out[key] = unpad_tensor(out[key], dims, gw, gp)
    return out


def padding_numel(module: nn.Module) -> int:
    """Parameter entries that padded blocks store beyond the published model."""
    total = 0
    for block in module.modules():
        if isinstance(block, SeerPaddedBottleneckBlock):
            shapes = block.published_shapes
            for name, p in block.named_parameters():
                if name in shapes:
                    total += p.numel() - shapes[name].numel()
    return total
