"""A sharded model built on the meta device, given memory and initial values per rank.

VISSL builds the whole model on every rank before wrapping it; for SEER-10B that is
37 GB of float32 per process (300 GB per 8-GPU node) before the first shard exists.
The sharded task instead builds it on the meta device (shapes, no storage), shards
it, and only then allocates each rank's shards (`to_empty`) and initialises them
here, the way the model's own constructors do:

- every module's `reset_parameters()` (torch's construction-time init of Conv2d,
  Linear, BatchNorm: the heads' layers; BatchNorm's running statistics too);
- then the RegNet init of the trunk's `_feature_blocks` (ClassyVision's, which
  `seer_regnet` and VISSL's `regnet` both use: conv ~ N(0, 2 / fan_out), BN (1, 0)).

Fans come from the global shapes (a DTensor's `shape`), so each shard is drawn from
the distribution of the unsharded tensor. Each rank draws from its own seed,
`SEED_VALUE + rank` (a forked generator: the training streams are untouched), so
shards differ from each other, but the values are not those an unsharded build
would draw. That is enough where the values are replaced next (a resumed run, a
`MODEL.WEIGHTS_INIT` file); a new run without one takes its shards of an unsharded
build instead (:mod:`seer_plugins.trainer.sharded_model`).
"""

import warnings

import torch
from torch import nn

from seer_plugins.models.regnet_blocks import init_weights


def feature_blocks(model: nn.Module) -> list[nn.Module]:
    """The `_feature_blocks` of every RegNet-layout trunk in `model`."""
    return [
        m._feature_blocks
        for m in model.modules()
        if isinstance(getattr(m, "_feature_blocks", None), nn.ModuleDict)
    ]


@torch.no_grad()
def initialise(model: nn.Module, seed: int) -> None:
    """Initialise every parameter and buffer of `model` (sharded or not) in place."""
    devices = [p.device for p in model.parameters() if p.device.type == "cuda"][:1]
    with (
        torch.random.fork_rng(devices=devices, device_type="cuda"),
        warnings.catch_warnings(),
    ):
        # On CPU each rank draws its shards from its own generator (seeded apart),
        # which is what DTensor warns about.
        warnings.filterwarnings("ignore", message="DTensor random operators")
        torch.manual_seed(seed)
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
        for blocks in feature_blocks(model):
            init_weights(blocks)


def materialise(model: nn.Module, device: torch.device, seed: int) -> None:
    """Allocate this rank's shards of a meta-device model on `device`, initialised."""
    model.to_empty(device=device)
    initialise(model, seed)
