"""Does a config fit on N GPUs of G GB each, sharded or not? (`seer plan`)

The plan is of the config as it trains (sharded when `MODEL.SEER_FSDP.ENABLED`, as
`seer_10b`), unless asked for the other.

Per GPU: parameters, gradients, optimizer state, the largest gathered unit and
the activations at the batch, their total against G (GiB, as GPU memory is sold).

How each line is obtained:

- parameters, gradients, optimizer state: counted on the model built on the meta
  device, in float32 (SEER's master weights). Sharded, each rank holds FSDP2's
  padded shard of every tensor (`ceil(rows / N)` rows); unsharded, the whole model,
  and DDP's gradient buckets hold a second copy of the gradients (VISSL does not
  make them views). Optimizer state: one float32 tensor per trainable parameter for
  SGD with momentum (LARC adds none), two for Adam(W);
- largest gathered unit (sharded only): the largest FSDP2 unit of the plan
  (:func:`seer_plugins.sharding.wrap.plan_units`) in backward: its gathered
  parameters and the next unit's (prefetched) in the gathered dtype, its unsharded
  gradients in that dtype and their reduce-scatter copy in the reduce dtype;
- activations: **measured** by one training forward and backward of the whole model
  at the batch (the config's crops, per GPU), under the config's autocast dtype and
  activation checkpointing, on fake tensors (`FakeTensorMode`: shapes and dtypes,
  no memory; CPU ones, as autograd's engine wants a real device for CUDA ones, so
  CPU autocast's op lists decide which ops run in 16 bits, close to CUDA's): the
  peak of the bytes alive of every tensor the step creates (a dispatch mode adds a
  storage when an op creates it and subtracts it when it is freed; parameters,
  buffers and gradients are not in it; torch's `MemTracker` measures the same but
  took 90 s for SEER-10B). The stand-in loss is the sum of the head's outputs
  (SwAV's own adds a few MB).

Not counted: the CUDA context and the allocator's fragmentation (a few GB), the
data loader's pinned memory, communication buffers.
"""

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import torch
from torch import nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from seer_plugins.config.compose import compose
from seer_plugins.config.precision import amp_dtype
from seer_plugins.models.wrappers import unwrap
from seer_plugins.optimizers.seer_sgd import OPTIMIZER_NAME
from seer_plugins.sharding.config import sharding_settings
from seer_plugins.sharding.wrap import plan_units

GiB = 2**30
# Units FSDP2 gathers in float32 whatever PARAM_DTYPE says (seer_plugins.sharding.wrap).
FP32_UNITS = ("prototypes", "batchnorm")
METHOD = (
    "activations measured: peak live bytes of one forward + backward on fake "
    "tensors (FakeTensorMode) in the config's autocast dtype"
)


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per GPU; `fits` compares their total with the GPU's memory."""

    config: str
    gpus: int
    gpu_memory_gb: float
    sharded: bool
    batch: int
    parameters: int
    gradients: int
    optimizer_state: int
    gathered: int
    activations: int
    largest_unit: str

    @property
    def total(self) -> int:
        return (
            self.parameters
            + self.gradients
            + self.optimizer_state
            + self.gathered
            + self.activations
        )

    @property
    def ddp_buckets(self) -> int:
        """DDP's copy of the gradients, counted in `gradients` (0 sharded)."""
        return 0 if self.sharded else self.gradients // 2

    @property
    def fits(self) -> bool:
        return self.total <= self.gpu_memory_gb * GiB


def _build_meta(config) -> nn.Module:
    from vissl.models import build_model

    with torch.device("meta"):
        return unwrap(build_model(config.MODEL, config.OPTIMIZER))


def _shard_bytes(tensors, gpus: int, element_size: int = 4) -> int:
    """Bytes of one rank's padded FSDP2 shards (all of it when gpus == 1)."""
    total = 0
    for t in tensors:
        rows = t.shape[0] if t.dim() else 1
        per_row = t.numel() // rows if rows else 0
        total += math.ceil(rows / gpus) * per_row * element_size
    return total


def _optimizer_states(config) -> int:
    optimizer = config.OPTIMIZER
    name = optimizer.name
    if name in ("adam", "adamw"):
        return 2
    if name in ("sgd", OPTIMIZER_NAME, "sgd_fsdp"):
        return 1 if optimizer.get("momentum", 0) else 0
    return 2  # unknown: as much as Adam


def crop_groups(config) -> list[tuple[int, int]]:
    """[(resolution, count)] of one sample's crops, from the train transforms."""
    for transform in config.DATA.TRAIN.TRANSFORMS:
        if transform.get("name") == "ImgPilToMultiCrop":
            return list(
                zip(transform["size_crops"], transform["num_crops"], strict=True)
            )
    for transform in config.DATA.TRAIN.TRANSFORMS:
        size = transform.get("size")
        if transform.get("name") in ("RandomResizedCrop", "CenterCrop") and size:
            return [(size if isinstance(size, int) else size[0], 1)]
    return [(224, 1)]


class _LiveBytes(TorchDispatchMode):
    """The peak bytes of the storages that ops create, freed when their last tensor is.

    Storages seen before (the parameters and buffers) are not counted; views share
    their base's storage and are counted once.
    """

    def __init__(self, known: list[torch.Tensor]):
        super().__init__()
        self.live = self.peak = 0
        self._seen = weakref.WeakSet(t.untyped_storage() for t in known)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in pytree.tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._add(tensor.untyped_storage())
        return out

    def _add(self, storage) -> None:
        if storage in self._seen:
            return
        self._seen.add(storage)
        size = storage.nbytes()
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, size)

    def _free(self, size: int) -> None:
        self.live -= size


def _forward(model: nn.Module, crops, batch: int):
    """VISSL's multi-resolution forward, as training runs it (one trunk call for
    all resolutions: seer_plugins.patches.multi_res_forward)."""
    images = [
        torch.randn(batch, 3, resolution, resolution)
        for resolution, count in crops
        for _ in range(count)
    ]
    return model.multi_res_input_forward(images, model._output_feature_names)


def _flat(output) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for item in output for t in _flat(item)]


def _gather_in(model: nn.Module, settings) -> None:
    """Parameters in the dtype FSDP2 gathers them in (float32: BN, prototypes)."""
    kept = {id(u.module) for u in plan_units(model, settings) if u.role in FP32_UNITS}
    kept |= {
        id(m) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }
    for module in model.modules():
        if id(module) not in kept:
            for param in module.parameters(recurse=False):
                param.data = param.data.to(settings.param_dtype)


@lru_cache(maxsize=8)
def _measured_activations(overrides: tuple[str, ...], batch: int, sharded: bool) -> int:
    """Peak bytes of one training step's activations and temporaries, measured.

    Unsharded, autocast keeps a 16-bit copy of every weight through the step (its
    cast cache): counted here. Sharded, FSDP2 gathers the weights in that dtype
    already (counted as the gathered unit), so the model is measured so.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from vissl.models import build_model

    config = compose(list(overrides))
    dtype = amp_dtype(config)
    # Fake CPU tensors: autograd's engine wants a real device for CUDA ones.
    with FakeTensorMode():
        model = unwrap(build_model(config.MODEL, config.OPTIMIZER))
        model.train()
        if sharded:
            _gather_in(model, replace(sharding_settings(config), enabled=True))
        known = [*model.parameters(), *model.buffers()]
        for param in model.parameters():
            # Gradients are counted apart (or, sharded, per gathered unit).
            param.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
        with _LiveBytes(known) as tracker:
            autocast = torch.autocast(
                "cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None
            )
            with autocast:
                outputs = _flat(_forward(model, crop_groups(config), batch))
                loss = sum(o.float().sum() for o in outputs)
            loss.backward()
            del outputs, loss
    return tracker.peak


def plan_memory(
    overrides: Sequence[str],
    gpus: int,
    gpu_memory_gb: float,
    sharded: bool | None = None,
    batch: int | None = None,
) -> MemoryPlan:
    """The per-GPU memory of the config `overrides` compose to (see the module doc).

    `sharded`: None plans what the config trains with (`MODEL.SEER_FSDP.ENABLED`).
    """
    config = compose(list(overrides))
    if sharded is None:
        sharded = sharding_settings(config).enabled
    batch = batch or config.DATA.TRAIN.BATCHSIZE_PER_REPLICA
    model = _build_meta(config)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    shards = gpus if sharded else 1
    gradients = _shard_bytes(trainable, shards)
    optimizer = _optimizer_states(config) * gradients
    gathered, largest = 0, "none (unsharded: the whole model is resident)"
    if sharded:
        settings = replace(sharding_settings(config), enabled=True)
        units = plan_units(model, settings)
        unit = max(units, key=lambda u: u.params * _gather_size(u.role, settings))
        p_bytes = _gather_size(unit.role, settings)
        r_bytes = torch.tensor([], dtype=settings.reduce_dtype).element_size()
        gathered = unit.params * (3 * p_bytes + r_bytes)
        largest = f"{unit.name} ({unit.role}, {unit.params / 1e6:.1f}M parameters)"
    else:
        gradients *= 2  # DDP's buckets
    return MemoryPlan(
        config=_config_name(overrides),
        gpus=gpus,
        gpu_memory_gb=gpu_memory_gb,
        sharded=sharded,
        batch=batch,
        parameters=_shard_bytes(params, shards),
        gradients=gradients,
        optimizer_state=optimizer,
        gathered=gathered,
        activations=_measured_activations(tuple(overrides), batch, sharded),
        largest_unit=largest,
    )


def mode_line(sharded: bool, gpus: int) -> str:
    plural = "s" if gpus != 1 else ""
    if sharded:
        return f"sharded over {gpus} GPU{plural} (FSDP2)"
    return f"unsharded (DDP, {gpus} GPU{plural})"


def _gather_size(role: str, settings) -> int:
    dtype = (
        torch.float32 if role in ("prototypes", "batchnorm") else settings.param_dtype
    )
    return torch.tensor([], dtype=dtype).element_size()


def _config_name(overrides: Sequence[str]) -> str:
    return next((o.split("=", 1)[1] for o in overrides if o.startswith("config=")), "")


def format_plan(plan: MemoryPlan) -> str:
    def gib(n: int) -> str:
        return f"{n / GiB:8.2f} GiB"

    lines = [
        f"{plan.config}: {mode_line(plan.sharded, plan.gpus)}, "
        f"{plan.batch} images per GPU",
        f"  parameters         {gib(plan.parameters)}",
    ]
    lines.append(f"  gradients          {gib(plan.gradients - plan.ddp_buckets)}")
    if not plan.sharded:
        lines.append(f"  DDP buckets        {gib(plan.ddp_buckets)}")
    lines += [
        f"  optimizer state    {gib(plan.optimizer_state)}",
        f"  largest gathered   {gib(plan.gathered)}  {plan.largest_unit}",
        f"  activations        {gib(plan.activations)}",
        f"  total              {gib(plan.total)}  of {plan.gpu_memory_gb:g} GiB: "
        + ("fits" if plan.fits else "does not fit"),
        f"  ({METHOD}; CUDA context and fragmentation not included)",
    ]
    return "\n".join(lines)
