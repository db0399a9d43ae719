"""`seer plan --simulate`: the config's training job, two steps, on fake tensors.

One process plays rank 0 of the config's world: a fake process group of that size
(`torch.testing._internal.distributed.fake_pg`: collectives return at once) and
`FakeTensorMode` (tensors with shapes and dtypes, no storage). On it the job is
built as `seer_self_supervision_task` builds it: the trunk, head and loss (its
prototypes, its queue), `seer_sgd` with LARC, the autocast settings, activation
checkpointing and `MODEL.SEER_FSDP` sharding over a mesh of the world size. Two
training steps then run through the config's train step, the loss with Sinkhorn,
and the SwAV hooks (queue, prototype normalisation and freezing), under torch's
memory tracker (`FSDPMemTracker` sharded, `MemTracker` otherwise): the peak of
the two, the second's in practice (it has the optimizer state the first made). Last,
DCP plans this rank's part of the sharded checkpoint (nothing is written).

What differs from the GPU job, and how it is accounted for:

- the tensors are CPU ones (autograd's engine wants a real device for CUDA fake
  tensors): CPU autocast's op lists decide which ops run in 16 bits;
- DDP cannot wrap fake tensors. Unsharded, the model is not wrapped and DDP's
  gradient buckets (VISSL keeps them apart from the gradients: a second float32
  copy, allocated when DDP is built and kept) are added as a category of their own;
- BatchNorm stays BatchNorm (SyncBatchNorm is CUDA only; it keeps the same
  tensors for backward);
- the data loader is a stand-in that yields the config's crops at the batch;
- hooks that only read values to log or guard them (progress, throughput, NaN
  guard, collapse warning) are left out: fake tensors have no values, and they
  keep no tensors;
- a host read of a value (`.item()`) reads 0;
- a queue that starts late (`queue.start_iter`) is used from the first step:
  the peak of the whole run is the one with the queue.

Not counted: the CUDA context with cuDNN's and cuBLAS's workspaces, NCCL's buffers
and the caching allocator's fragmentation. :data:`ALLOWANCE_GIB` and
:data:`FRAGMENTATION` are added for them before comparing with the GPU's memory.
"""

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch.distributed as dist

from seer_plugins.apps.memory_plan.plan import crop_groups
from seer_plugins.apps.memory_plan.stand_ins import (
    Batches,
    GlobalBatch,
    HostReadsAsZero,
)
from seer_plugins.checkpoints.sharded import save_plan
from seer_plugins.config.compose import compose
from seer_plugins.hooks.registry import build_plugin_hooks
from seer_plugins.hooks.swav import (
    SeerFreezePrototypesHook,
    SeerNormalizePrototypesHook,
    SeerSwAVQueueHook,
)
from seer_plugins.models.wrappers import unwrap
from seer_plugins.trainer.task import TASK_NAME

GiB = 2**30
# The CUDA context with cuDNN's and cuBLAS's workspaces (~0.5-1 GiB on an H100
# with torch 2.x) and NCCL's buffers (~0.5-1 GiB at hundreds of ranks).
ALLOWANCE_GIB = 2.0
# The caching allocator holds more than is allocated: blocks split and cached
# between iterations (PyTorch's memory notes; a few % with expandable segments).
FRAGMENTATION = 0.05
STEPS = 2
# The sentinel checkpoint path that makes a sharded build initialise each rank's
# shards in place (`sharded_model.build_sharded_model`) instead of broadcasting
# rank 0's whole model, which a fake world cannot, and skips MODEL.WEIGHTS_INIT's
# file (VISSL's `_build_model`): a simulation reads no files.
NO_CHECKPOINT_READ = "<simulated: no checkpoint is read>"

# torch's tracker categories (`_MemRefType`, `_FSDPRefType` values) -> ours.
CATEGORIES = {
    "Parameter": "parameters",
    "Sharded Param": "parameters",
    "Buffer": "parameters",
    "Unsharded Param": "gathered_parameters",
    "Gradient": "gradients",
    "Sharded Grad": "gradients",
    "Unsharded Grad": "gathered_gradients",
    "Optstate": "optimizer_state",
    "OptState": "optimizer_state",
    "Activation": "activations",
    "Temp": "temporaries",
    "Inputs": "inputs",
    "All Gather": "all_gather",
    "Reduce Scatter": "reduce_scatter",
    "Other": "other",
}
DDP_BUCKETS = "ddp_buckets"
# The hooks that change what a step holds (the rest log or guard values).
STEP_SHAPING_HOOKS = (
    SeerSwAVQueueHook,
    SeerNormalizePrototypesHook,
    SeerFreezePrototypesHook,
)


@dataclass(frozen=True)
class StepMemory:
    """One rank's peak bytes over a training step, by category (summing to it)."""

    peak: int
    by_category: dict[str, int]


@dataclass(frozen=True)
class Simulation:
    config: str
    world_size: int
    sharded: bool
    batch: int
    memory: StepMemory
    # DCP's plan of this rank's checkpoint part (sharded only): metadata entries,
    # items written, bytes written.
    checkpoint_plan: tuple[int, int, int] | None
    seconds: float

    @property
    def allowance(self) -> int:
        """Bytes a GPU needs beyond the tracked peak (module doc)."""
        return int(self.memory.peak * FRAGMENTATION + ALLOWANCE_GIB * GiB)

    @property
    def needed(self) -> int:
        return self.memory.peak + self.allowance

    def fits(self, gpu_memory_gib: float) -> bool:
        return self.needed <= gpu_memory_gib * GiB


def _build_task(config, mesh):
    """The task as `prepare()` builds it, without data, meters or a checkpoint."""
    from classy_vision.generic.distributed_util import set_cpu_device
    from vissl.trainer.trainer_main import build_task

    set_cpu_device()  # as VISSL's trainer does for MACHINE.DEVICE=cpu
    task = build_task(config)
    task.device_mesh = mesh
    task.checkpoint_path = NO_CHECKPOINT_READ
    task.phases = task._build_phases()
    task.num_phases = len(task.phases)
    task.base_model = task._build_model()
    task._set_ddp_options()
    task.meters = []
    task.optimizer = task._build_optimizer()
    task.optimizer_schedulers = task._build_optimizer_schedulers()
    task.prepare_optimizer()
    task.base_loss = task._build_loss()
    for module in task.base_loss.modules():
        if hasattr(module, "output_dir"):
            module.output_dir = None  # no dump: a fake loss's finiteness reads False
    task.data_and_label_keys = {"input": ["data"], "target": ["label"]}
    task.set_hooks(
        [h for h in build_plugin_hooks(config) if isinstance(h, STEP_SHAPING_HOOKS)]
    )
    batch = config.DATA.TRAIN.BATCHSIZE_PER_REPLICA
    sizes = [size for size, count in crop_groups(config) for _ in range(count)]
    task.data_iterator = Batches(batch, sizes, STEPS)
    task.datasets = {"train": GlobalBatch(batch * dist.get_world_size())}
    task.train, task.phase_idx, task.train_phase_idx = True, 0, 0
    return task


def _ddp_bucket_bytes(model) -> int:
    return sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)


def _peak_only(tracker_class):
    """`tracker_class` keeping the whole step's peak only.

    torch's trackers also keep each module's own peak, looping over every module
    after every op: three quarters of a simulation's time for SEER (torch 2.14).
    Only the step's peak is reported; the per-module figures are not kept.
    """

    class PeakOnly(tracker_class):
        def _update_peak_stats(self, peak_state) -> None:
            for device, snapshot in self._curr_mem_snap.items():
                if self._peak_mem.get(device, 0) < snapshot["Total"]:
                    self._peak_mem[device] = snapshot["Total"]
                    self._peak_mem_snap[device] = dict(snapshot)

    return PeakOnly


def _tracked_steps(task, sharded: bool, wrap=None) -> StepMemory:
    """`STEPS` train steps under torch's tracker: the peak of the steps (the
    second's: it has the optimizer state the first made) by category. `wrap`:
    run inside the tracker first (a real DDP wrapper: its buckets are counted)."""
    from torch.distributed._tools.fsdp2_mem_tracker import FSDPMemTracker
    from torch.distributed._tools.mem_tracker import MemTracker
    from vissl.trainer.train_steps import get_train_step

    model = unwrap(task.base_model)
    optimizer = task.optimizer.optimizer
    if sharded:
        tracker = _peak_only(FSDPMemTracker)(model, optimizer)
    else:
        tracker = _peak_only(MemTracker)()
        tracker.track_external(model, optimizer, task.base_loss)
    step = get_train_step(task.config.TRAINER.TRAIN_STEP_NAME)
    with tracker:
        if wrap is not None:
            wrap()
        for _ in range(STEPS):
            step(task)
            task.iteration += 1
            tracker.reset_mod_stats()  # per-module figures; the peak is kept
    (snapshot,) = tracker.get_tracker_snapshot("peak").values()
    by_category = dict.fromkeys([*CATEGORIES.values(), DDP_BUCKETS], 0)
    for kind, size in snapshot.items():
        if kind != "Total":
            by_category[CATEGORIES[kind.value]] += size
    return StepMemory(peak=snapshot["Total"], by_category=by_category)


def measure_steps(config, fake: bool, mesh=None) -> tuple[StepMemory, tuple | None]:
    """Build `config`'s job on this process's rank and track two training steps.

    The process group must exist (fake or real). `fake`: inside FakeTensorMode,
    host reads answered with 0, DDP's buckets counted rather than built. `mesh`:
    the sharded model's device mesh, built outside FakeTensorMode. Returns the
    memory and, sharded, DCP's save plan.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    sharded = bool(config.MODEL.SEER_FSDP.ENABLED)
    fake_mode = FakeTensorMode(allow_non_fake_inputs=True) if fake else None
    with fake_mode or contextlib.nullcontext():
        task = _build_task(config, mesh)
        wrap, buckets = None, 0
        if sharded:
            task.init_distributed_data_parallel_model()
        elif fake:
            buckets = _ddp_bucket_bytes(task.base_model)
            task.distributed_model = task.base_model
        else:
            wrap = task.init_distributed_data_parallel_model
        with HostReadsAsZero() if fake else contextlib.nullcontext():
            memory = _tracked_steps(task, sharded, wrap)
            plan = None
            if sharded:
                plan = save_plan(unwrap(task.base_model), task.optimizer.optimizer)
    if buckets:
        # Allocated when DDP is built and kept: present at every moment, the peak too.
        by_category = {**memory.by_category, DDP_BUCKETS: buckets}
        memory = StepMemory(peak=memory.peak + buckets, by_category=by_category)
    return memory, plan


@contextlib.contextmanager
def fake_world(world_size: int):
    """A fake process group of `world_size` with this process as rank 0, and its
    device mesh (built outside FakeTensorMode, which cannot build one)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if dist.is_initialized():
        raise RuntimeError("a simulation needs a process without a process group")
    dist.init_process_group("fake", rank=0, world_size=world_size, store=FakeStore())
    try:
        yield init_device_mesh("cpu", (world_size,))
    finally:
        dist.destroy_process_group()


def world_overrides(world_size: int, config) -> list[str]:
    """The layout of `world_size` ranks: the config's processes per node when they
    divide it, else one node."""
    per_node = config.DISTRIBUTED.NUM_PROC_PER_NODE
    if world_size % per_node:
        per_node = world_size
    return [
        f"config.DISTRIBUTED.NUM_NODES={world_size // per_node}",
        f"config.DISTRIBUTED.NUM_PROC_PER_NODE={per_node}",
    ]


def simulation_overrides(
    overrides: Sequence[str],
    world_size: int,
    sharded: bool | None = None,
    batch: int | None = None,
) -> list[str]:
    """`overrides` as the simulated rank composes them (module doc)."""
    config = compose(list(overrides))
    extra = world_overrides(world_size, config) + [
        "config.MACHINE.DEVICE=cpu",
        "config.MODEL.SYNC_BN_CONFIG.CONVERT_BN_TO_SYNC_BN=False",
        f"config.TRAINER.TASK_NAME={TASK_NAME}",
    ]
    if sharded is not None:
        extra.append(f"config.MODEL.SEER_FSDP.ENABLED={sharded}")
    if batch is not None:
        extra.append(f"config.DATA.TRAIN.BATCHSIZE_PER_REPLICA={batch}")
    loss = config.LOSS.get(config.LOSS.name) or {}
    if (loss.get("queue") or {}).get("queue_length"):
        extra.append(f"config.LOSS.{config.LOSS.name}.queue.start_iter=0")
    return list(overrides) + extra


def simulate(
    overrides: Sequence[str],
    world_size: int,
    sharded: bool | None = None,
    batch: int | None = None,
) -> Simulation:
    """Two training steps of the config `overrides` compose to, on one rank of a
    fake world of `world_size` (module doc)."""
    start = time.perf_counter()
    config = compose(simulation_overrides(overrides, world_size, sharded, batch))
    with fake_world(world_size) as mesh:
        memory, plan = measure_steps(config, fake=True, mesh=mesh)
    return Simulation(
        config=next(
            (o.split("=", 1)[1] for o in overrides if o.startswith("config=")), ""
        ),
        world_size=world_size,
        sharded=bool(config.MODEL.SEER_FSDP.ENABLED),
        batch=config.DATA.TRAIN.BATCHSIZE_PER_REPLICA,
        memory=memory,
        checkpoint_plan=plan,
        seconds=time.perf_counter() - start,
    )
