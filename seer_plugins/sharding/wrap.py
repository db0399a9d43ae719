"""Which modules become FSDP2 units, with which precision, and applying `fully_shard`.

A unit is what FSDP2 all-gathers at once (and reduce-scatters the gradients of): the
peak memory above the shards is about the largest unit, the number of collectives
per step the number of units. The plan, bottom-up (a unit must be sharded before the
unit that contains it):

1. each BatchNorm, when the gathered parameters are bf16/fp16 (`PARAM_DTYPE`): an
   fp32 unit (BatchNorm's running statistics are buffers, which FSDP2 does not cast,
   so a bf16 BatchNorm fails with "expected scalar type BFloat16 but found Float").
   Its inputs are cast to fp32 and its output back to `PARAM_DTYPE`, so the next
   convolution gets the dtype of its weight; it is not resharded after forward
   (a few KB, gathered again in backward otherwise);
2. each layer holding more than `AUTO_WRAP_THRESHOLD` parameters of its own (a Conv2d
   or Linear of SEER-10B's res4/res5 blocks, its head's first Linear);
3. each SwAV prototype layer, in fp32 (VISSL's `swav_head_fsdp` does so "for
   convergence": the prototypes are renormalised every step and their scores are
   divided by a temperature of 0.1);
4. each RegNet block: the children of the trunk's stages (`_feature_blocks.res2` ...
   `res5`, VISSL's feature names, shared by `seer_regnet` and VISSL's `regnet`);
5. each head (`model.heads[i]`: `seer_swav_head`, `swav_head`, `eval_mlp`, `mlp`...);
6. the root: the stem and whatever is left, not resharded after forward (backward
   starts with it).

Units are found by role, not by class names: BatchNorm by type, prototypes through
:func:`seer_plugins.models.prototypes.find_prototype_layers`, blocks through the
trunk's `_feature_blocks` (wherever it sits: inside VISSL's `FeatureExtractorModel`
for linear evaluation too).
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from seer_plugins.models.prototypes import find_prototype_layers
from seer_plugins.models.wrappers import unwrap
from seer_plugins.sharding.config import ShardingSettings

STAGE_PREFIX = "res"


@dataclass(frozen=True)
class Unit:
    """One FSDP2 unit of the plan.

    Args:
        name: the module's name in the model ("" for the root).
        role: batchnorm, layer, prototypes, block, head or root.
        params: parameters this unit gathers: its own, without its sub-units'.
    """

    name: str
    module: nn.Module
    role: str
    params: int


def trunk_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, block) for every block of every stage of the model's RegNet trunk."""
    blocks = []
    for name, module in model.named_modules():
        feature_blocks = getattr(module, "_feature_blocks", None)
        if not isinstance(feature_blocks, nn.ModuleDict):
            continue
        prefix = f"{name}._feature_blocks" if name else "_feature_blocks"
        for stage_name, stage in feature_blocks.items():
            if stage_name.startswith(STAGE_PREFIX) and isinstance(stage, nn.Sequential):
                blocks += [
                    (f"{prefix}.{stage_name}.{block_name}", block)
                    for block_name, block in stage.named_children()
                ]
    return blocks


def _own_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def plan_units(model: nn.Module, settings: ShardingSettings) -> list[Unit]:
    """The units of `model`, in the order they are sharded (the root last).

    Works on a model on any device, the meta device included (the memory plan).
    """
    names = {id(m): n for n, m in model.named_modules()}
    roles: dict[int, str] = {}  # id(module) -> role; first role wins

    def add(module, role):
        roles.setdefault(id(module), role)

    prototypes = find_prototype_layers(model)
    if settings.low_precision:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                add(module, "batchnorm")
    threshold = settings.auto_wrap_threshold
    if threshold:
        prototype_ids = {id(p) for p in prototypes}
        for module in model.modules():
            if id(module) not in prototype_ids and _own_params(module) > threshold:
                add(module, "layer")
    for layer in prototypes:
        add(layer, "prototypes")
    for _, block in trunk_blocks(model):
        add(block, "block")
    for head in getattr(model, "heads", None) or []:
        add(head, "head")
    add(model, "root")

    order = ("batchnorm", "layer", "prototypes", "block", "head", "root")
    modules = {id(m): m for m in model.modules()}
    units = []
    for role in order:
        for module_id, module_role in roles.items():
            if module_role == role:
                units.append(Unit(names[module_id], modules[module_id], role, 0))
    return _count_params(units)


def _count_params(units: list[Unit]) -> list[Unit]:
    """Each unit's parameters, those of the units inside it excluded."""
    claimed: set[int] = set()
    counted = []
    for unit in units:  # bottom-up: inner units come first
        own = [p for p in unit.module.parameters() if id(p) not in claimed]
        claimed.update(id(p) for p in own)
        counted.append(
            Unit(unit.name, unit.module, unit.role, sum(p.numel() for p in own))
        )
    return counted


def _policy(role: str, settings: ShardingSettings) -> MixedPrecisionPolicy:
    low = settings.param_dtype if settings.low_precision else None
    reduce = settings.reduce_dtype if settings.reduce_dtype != torch.float32 else None
    if role == "prototypes":
        # float32 given explicitly: the unit then also casts its input (a bf16/fp16
        # embedding) to float32.
        return MixedPrecisionPolicy(
            param_dtype=torch.float32, reduce_dtype=torch.float32
        )
    if role == "batchnorm":
        return MixedPrecisionPolicy(
            param_dtype=torch.float32, reduce_dtype=torch.float32, output_dtype=low
        )
    return MixedPrecisionPolicy(param_dtype=low, reduce_dtype=reduce)


def _reshard_after_forward(role: str, settings: ShardingSettings) -> bool:
    if role in ("batchnorm", "root"):
        return False
    return settings.reshard_after_forward


class ShardedModel(nn.Module):
    """`task.model` of a sharded run: the sharded model under `.module`, as DDP holds
    the unsharded one, so that code naming parameters through `task.model` sees
    DDP's names (VISSL's `TEMP_FROZEN_PARAMS_ITER_MAP: [[module.heads.0....]]`).

    FSDP2 itself needs no wrapper: the forward is the model's own.
    """

    def __init__(self, model):
        super().__init__()
        self.module = unwrap(model)
        # The entry point VISSL calls (ClassyVision's wrapper around the module),
        # kept out of the module tree.
        self.__dict__["_entry"] = model

    def forward(self, *args, **kwargs):
        return self._entry(*args, **kwargs)


def shard_model(model: nn.Module, settings: ShardingSettings, mesh) -> list[Unit]:
    """`fully_shard` every unit of :func:`plan_units` on `mesh`; returns the plan.

    The model's parameters become DTensors in place: build the optimizer afterwards.
    """
    units = plan_units(model, settings)
    for unit in units:
        fully_shard(
            unit.module,
            mesh=mesh,
            mp_policy=_policy(unit.role, settings),
            reshard_after_forward=_reshard_after_forward(unit.role, settings),
        )
    return units
