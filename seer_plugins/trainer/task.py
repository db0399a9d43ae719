"""`seer_self_supervision_task`: VISSL's training task, resumed exactly after a kill.

VISSL's checkpoint already holds the model, the optimizer (momentum, LARC), the
phase and iteration (hence the LR schedule and the prototype freeze) and rank 0's
loss buffers; its stateful sampler (`DATA.TRAIN.USE_STATEFUL_DISTRIBUTED_SAMPLER`)
restarts mid-epoch at the checkpoint's batch. What it leaves out, this task adds:

- the augmentations: samples are augmented from `(SEED_VALUE, epoch, index)`
  (:mod:`seer_plugins.data.seeded_dataset`), not from the data loader workers'
  streams, which a resumed run cannot replay;
- each rank's random generators and loss buffers (its SwAV queue), gathered on rank 0
  when a checkpoint is due and restored on the rank that saved them;
- the fp16 gradient scaler of `seer_train_step` (its scale and growth counter);
- a data loader generator of its own, so that making an epoch's iterator does not
  draw from the training loop's torch stream;
- data loader workers that exit when the training process is killed
  (:mod:`seer_plugins.data.worker_watchdog`), instead of living on.

Select it with `config.TRAINER.TASK_NAME: seer_self_supervision_task` (the SEER
pretraining configs do).
"""

import logging
import os

import torch
import torch.distributed as dist
from classy_vision.tasks import register_task
from fairscale.nn import FullyShardedDataParallel
from torch.utils.data import DataLoader
from vissl.trainer.train_task import SelfSupervisionTask
from vissl.utils.checkpoint import is_checkpoint_phase

from seer_plugins.data.seeded_dataset import SeerSeededSSLDataset
from seer_plugins.data.worker_watchdog import ExitWithTrainingProcess
from seer_plugins.trainer.amp import grad_scaler, set_grad_scaler
from seer_plugins.trainer.rng_state import capture_rng_state, restore_rng_state

TASK_NAME = "seer_self_supervision_task"
STATE_KEY = "seer_resume"


def _rank_and_world_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _torch_loader(loader):
    """The torch DataLoader inside VISSL's GPU-copy wrappers."""
    while not isinstance(loader, DataLoader) and hasattr(loader, "dataloader"):
        loader = loader.dataloader
    return loader if isinstance(loader, DataLoader) else None


@register_task(TASK_NAME)
class SeerSelfSupervisionTask(SelfSupervisionTask):
    def __init__(self, config):
        super().__init__(config)
        # {rank: state} captured where a checkpoint is due, read by get_classy_state.
        self._rank_states = None
        # This rank's saved state, put back when the resumed phase starts.
        self._pending_rank_state = None

    # -- data -------------------------------------------------------------------

    def build_datasets(self, current_train_phase_idx=0):
        datasets, data_and_label_keys = {}, {}
        for split in self.available_splits:
            datasets[split.lower()] = SeerSeededSSLDataset(
                cfg=self.config, split=split, seed=self.config.SEED_VALUE
            )
            data_and_label_keys["input"] = self.config.DATA[split].INPUT_KEY_NAMES
            data_and_label_keys["target"] = self.config.DATA[split].TARGET_KEY_NAMES
        return datasets, data_and_label_keys

    def build_dataloaders(self, pin_memory: bool, current_train_phase_idx=0):
        loaders = super().build_dataloaders(
            pin_memory=pin_memory, current_train_phase_idx=current_train_phase_idx
        )
        for loader in loaders.values():
            torch_loader = _torch_loader(loader)
            if torch_loader is None:
                continue
            torch_loader.generator = torch.Generator().manual_seed(
                int(self.config.SEED_VALUE)
            )
            torch_loader.worker_init_fn = ExitWithTrainingProcess(
                torch_loader.worker_init_fn, os.getpid()
            )
        return loaders

    def set_epoch(self, phase_type: str, epoch: int, start_iter: int, train_phase_idx):
        super().set_epoch(phase_type, epoch, start_iter, train_phase_idx)
        dataset = self.datasets[phase_type]
        if isinstance(dataset, SeerSeededSSLDataset):
            dataset.epoch = epoch

    # -- what a checkpoint holds ---------------------------------------------------

    def _local_state(self) -> dict:
        loss_state = self.loss.state_dict() if self.loss is not None else {}
        return {
            "rng": capture_rng_state(self.device),
            "loss": {k: v.detach().to("cpu", copy=True) for k, v in loss_state.items()},
        }

    def _checkpoint_due(self, hook_function_name: str) -> bool:
        if not self.train:
            return False
        if hook_function_name == "on_phase_end":
            return True  # cheap, once per epoch; VISSL decides whether it saves
        frequency = self.config.CHECKPOINT.CHECKPOINT_ITER_FREQUENCY
        return frequency > 0 and is_checkpoint_phase(
            self.iteration,
            frequency,
            self.train_phase_idx,
            self.num_train_phases,
            "iteration",
        )

    def _gather_rank_states(self) -> dict:
        """{rank: state} on rank 0 ({rank: own state} for FSDP's per-rank shards)."""
        rank, world_size = _rank_and_world_size()
        local = self._local_state()
        if world_size == 1 or isinstance(self.base_model, FullyShardedDataParallel):
            return {rank: local}
        gathered = [None] * world_size if rank == 0 else None
        dist.gather_object(local, gathered, dst=0)
        return dict(enumerate(gathered)) if rank == 0 else {}

    def run_hooks(self, hook_function_name: str):
        checkpoint_point = hook_function_name in ("on_step", "on_phase_end")
        if checkpoint_point and self._checkpoint_due(hook_function_name):
            # Before the hooks: VISSL's CheckpointHook saves during these events.
            self._rank_states = self._gather_rank_states()
        super().run_hooks(hook_function_name)
        if checkpoint_point:
            self._rank_states = None
        if hook_function_name == "on_phase_start" and self._pending_rank_state:
            # After the phase's data iterator exists, as when the state was taken.
            restore_rng_state(self._pending_rank_state["rng"], self.device)
            self._pending_rank_state = None

    def get_classy_state(self, deep_copy: bool = False):
        state = super().get_classy_state(deep_copy=deep_copy)
        rank, world_size = _rank_and_world_size()
        scaler = grad_scaler(self)
        state[STATE_KEY] = {
            "world_size": world_size,
            "ranks": self._rank_states or {rank: self._local_state()},
            "grad_scaler": scaler.state_dict() if scaler is not None else None,
        }
        return state

    def _set_classy_state(self, state):
        super()._set_classy_state(state)
        saved = state.get(STATE_KEY)
        if saved is None:
            logging.warning(
                "Checkpoint has no %r entry (written by another task): random "
                "generators, per-rank loss buffers and the fp16 gradient scaler "
                "start afresh; the resumed losses will differ from an "
                "uninterrupted run's.",
                STATE_KEY,
            )
            return
        if saved["grad_scaler"]:
            scaler = torch.amp.GradScaler(self.device.type)
            scaler.load_state_dict(saved["grad_scaler"])
            set_grad_scaler(self, scaler)
        rank, world_size = _rank_and_world_size()
        own = saved["ranks"].get(rank)
        if saved["world_size"] != world_size or own is None:
            # Another world size splits the data and the queue differently anyway.
            logging.warning(
                "Checkpoint written by %d processes, resumed on %d: random "
                "generators start afresh and loss buffers are rank 0's (as in "
                "VISSL); training goes on, but not bit-identically to an "
                "uninterrupted run.",
                saved["world_size"],
                world_size,
            )
            return
        if own["loss"]:
            self.base_loss.load_state_dict(own["loss"])
        self._pending_rank_state = own
