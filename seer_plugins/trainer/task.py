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

A checkpoint written by another number of processes resumes too: the random
generators start afresh, and a loss that can (`reshard_state`, the SwAV queue) deals
its per-rank buffers out to the new ranks.

With `MODEL.SEER_FSDP.ENABLED` the task shards the model with torch FSDP2 instead of
wrapping it in DDP (:mod:`seer_plugins.sharding`): the model is built on the meta
device and sharded before the optimizer is built on its sharded parameters; each
rank allocates and initialises only its shards, or copies them from
`MODEL.WEIGHTS_INIT`; checkpoints are folders of shards that VISSL's checkpoint file
points to (:mod:`seer_plugins.checkpoints.sharded`).

Select it with `config.TRAINER.TASK_NAME: seer_self_supervision_task` (the SEER
pretraining configs do; `MODEL.SEER_FSDP.ENABLED` selects it too).
"""

import logging
import os

import torch
import torch.distributed as dist
from classy_vision.tasks import register_task
from fairscale.nn import FullyShardedDataParallel
from torch.utils.data import DataLoader
from vissl.hooks.log_hooks import LogLossMetricsCheckpointHook
from vissl.optimizers import get_optimizer_param_groups
from vissl.trainer.train_task import SelfSupervisionTask

from seer_plugins.checkpoints import sharded as sharded_checkpoint
from seer_plugins.data.seeded_dataset import SeerSeededSSLDataset
from seer_plugins.data.worker_heap import FreezeStartupObjects
from seer_plugins.data.worker_start import preload_forkserver
from seer_plugins.data.worker_watchdog import ExitWithTrainingProcess
from seer_plugins.models.wrappers import unwrap
from seer_plugins.sharding.config import sharding_settings
from seer_plugins.sharding.wrap import ShardedModel
from seer_plugins.trainer.amp import grad_scaler, set_grad_scaler
from seer_plugins.trainer.checkpoint_events import (
    checkpoint_file_name,
    due_checkpoint_file,
)
from seer_plugins.trainer.ranks import rank_and_world_size
from seer_plugins.trainer.rng_state import capture_rng_state, restore_rng_state
from seer_plugins.trainer.sharded_model import build_sharded_model
from seer_plugins.trainer.stop_signals import (
    StopAgreement,
    TrainingInterrupted,
    take_note_of_stop_signals,
)

TASK_NAME = "seer_self_supervision_task"
STATE_KEY = "seer_resume"


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
        self.sharding = sharding_settings(config)
        # The mesh the model is sharded over: built with the model, unless given
        # (a simulation builds its own outside FakeTensorMode, where it can).
        self.device_mesh = None
        # The folder of shards of the checkpoint being written, for get_classy_state.
        self._sharded_reference = None
        # Whether the ranks stop at this iteration boundary (on a signal).
        self._stop_agreement = None
        # How the loss buffers were resumed, for the resume warning.
        self._loss_resume_note = "as saved"

    # -- the model: sharded instead of DDP-wrapped ---------------------------------

    def _build_model(self):
        """VISSL's model; sharded, built on the meta device, sharded, then given
        weights (:mod:`seer_plugins.trainer.sharded_model`)."""
        if not self.sharding.enabled:
            return super()._build_model()
        return build_sharded_model(self, super()._build_model)

    def _restore_model_weights(self, model):
        if self.sharding.enabled:
            return model  # into the shards, once they exist (_build_model)
        return super()._restore_model_weights(model)

    def prepare_optimizer(self):
        """VISSL's parameter groups; sharded, without the empty ones (VISSL makes six,
        some empty: torch.distributed.checkpoint's optimizer state dicts take at most
        one). An empty group changes no update."""
        if not self.sharding.enabled:
            return super().prepare_optimizer()
        groups = get_optimizer_param_groups(
            model=self.base_model,
            model_config=self.config["MODEL"],
            optimizer_config=self.config["OPTIMIZER"],
            optimizer_schedulers=self.optimizer_schedulers,
        )
        self.optimizer.set_param_groups([g for g in groups if g["params"]])

    def init_distributed_data_parallel_model(self):
        if not self.sharding.enabled:
            return super().init_distributed_data_parallel_model()
        # FSDP2 reduces the gradients itself: no DDP, only DDP's parameter names.
        self.distributed_model = ShardedModel(self.base_model)

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
        if self.config.MULTI_PROCESSING_METHOD == "forkserver":
            preload_forkserver()
        for loader in loaders.values():
            torch_loader = _torch_loader(loader)
            if torch_loader is None:
                continue
            torch_loader.generator = torch.Generator().manual_seed(
                int(self.config.SEED_VALUE)
            )
            torch_loader.worker_init_fn = ExitWithTrainingProcess(
                FreezeStartupObjects(torch_loader.worker_init_fn), os.getpid()
            )
        return loaders

    def set_epoch(self, phase_type: str, epoch: int, start_iter: int, train_phase_idx):
        super().set_epoch(phase_type, epoch, start_iter, train_phase_idx)
        dataset = self.datasets[phase_type]
        if isinstance(dataset, SeerSeededSSLDataset):
            dataset.epoch = epoch

    def _build_loss(self):
        """VISSL's loss; on another world size, the saved loss buffers are redealt
        before VISSL loads them (its rank 0 buffers may not fit: the per-rank queue
        length is the global one over the world size)."""
        loss = super()._build_loss()
        saved = (self.checkpoint or {}).get("classy_state_dict", {}).get(STATE_KEY)
        _, world_size = rank_and_world_size()
        if saved and "loss" in self.checkpoint and saved["world_size"] != world_size:
            self.checkpoint["loss"] = self._loss_state_for_this_world(loss, saved)
        return loss

    def _loss_state_for_this_world(self, loss, saved) -> dict:
        rank, world_size = rank_and_world_size()
        ranks = saved["ranks"]
        inner = unwrap(loss)
        if (
            callable(getattr(inner, "reshard_state", None))
            and len(ranks) == saved["world_size"]
        ):
            self._loss_resume_note = "redealt over the new ranks"
            states = [ranks[r]["loss"] for r in range(saved["world_size"])]
            return inner.reshard_state(states, rank, world_size)
        first = self.checkpoint["loss"]
        fresh = loss.state_dict()
        if all(
            k in first and tuple(first[k].shape) == tuple(v.shape)
            for k, v in fresh.items()
        ):
            self._loss_resume_note = "rank 0's on every rank (as in VISSL)"
            return first
        self._loss_resume_note = "started afresh (rank 0's do not fit)"
        return fresh

    # -- what a checkpoint holds ---------------------------------------------------

    def _local_state(self) -> dict:
        loss_state = self.loss.state_dict() if self.loss is not None else {}
        return {
            "rng": capture_rng_state(self.device),
            "loss": {k: v.detach().to("cpu", copy=True) for k, v in loss_state.items()},
        }

    def _gather_rank_states(self) -> dict:
        """{rank: state} on rank 0 ({rank: own state} for FSDP's per-rank shards)."""
        rank, world_size = rank_and_world_size()
        local = self._local_state()
        if world_size == 1 or isinstance(self.base_model, FullyShardedDataParallel):
            return {rank: local}
        gathered = [None] * world_size if rank == 0 else None
        dist.gather_object(local, gathered, dst=0)
        return dict(enumerate(gathered)) if rank == 0 else {}

    def run_hooks(self, hook_function_name: str):
        if hook_function_name == "on_start":
            take_note_of_stop_signals()
            self._stop_agreement = StopAgreement()
        stop = 0
        if hook_function_name == "on_step" and self.train and self._stop_agreement:
            stop = self._stop_agreement.stop_signal()
        checkpoint_file = due_checkpoint_file(self, hook_function_name)
        scheduled = checkpoint_file is not None
        if stop and not scheduled:
            checkpoint_file = checkpoint_file_name(self, "iteration", self.iteration)
        if checkpoint_file is not None:
            # Before the hooks: VISSL's checkpoint hook saves during these events,
            # on rank 0 only; what every rank must contribute is collected here.
            self._rank_states = self._gather_rank_states()
            if self.sharding.enabled:
                self._sharded_reference = sharded_checkpoint.save_sharded(
                    unwrap(self.base_model),
                    self.optimizer.optimizer,
                    self.checkpoint_folder,
                    checkpoint_file,
                )
        super().run_hooks(hook_function_name)
        if stop and not scheduled:
            self._checkpoint_now()
        if checkpoint_file is not None:
            self._rank_states = None
            self._sharded_reference = None
        if stop:
            path = os.path.join(self.checkpoint_folder, checkpoint_file)
            raise TrainingInterrupted(stop, self.iteration, path)
        if hook_function_name == "on_phase_start" and self._pending_rank_state:
            # After the phase's data iterator exists, as when the state was taken.
            restore_rng_state(self._pending_rank_state["rng"], self.device)
            self._pending_rank_state = None

    def _checkpoint_now(self) -> None:
        """An iteration checkpoint now, through VISSL's checkpoint hook (a stop
        signal's: :mod:`seer_plugins.trainer.stop_signals`)."""
        hook = next(
            h for h in self.hooks if isinstance(h, LogLossMetricsCheckpointHook)
        )
        hook._checkpoint_model(
            self, mode_frequency=1, mode_num=self.iteration, mode="iteration"
        )

    def get_classy_state(self, deep_copy: bool = False):
        if self.sharding.enabled:
            state = self._classy_state_without_weights(deep_copy)
        else:
            state = super().get_classy_state(deep_copy=deep_copy)
        rank, world_size = rank_and_world_size()
        scaler = grad_scaler(self)
        state[STATE_KEY] = {
            "world_size": world_size,
            "ranks": self._rank_states or {rank: self._local_state()},
            "grad_scaler": scaler.state_dict() if scaler is not None else None,
            "iterations_per_epoch": self._iterations_per_epoch(),
        }
        return state

    def _iterations_per_epoch(self) -> int | None:
        loader = (self.dataloaders or {}).get("train") if self.train else None
        return len(loader) if loader is not None else None

    def _compute_start_iter_from_checkpoint(self, phase_type) -> int:
        """Where the resumed epoch starts. VISSL counts it in iterations; with another
        world size an iteration is another number of samples, so the fraction of the
        epoch already done is carried over instead."""
        start_iter = super()._compute_start_iter_from_checkpoint(phase_type)
        saved = (self.checkpoint or {}).get("classy_state_dict", {}).get(STATE_KEY)
        old = (saved or {}).get("iterations_per_epoch")
        new = len(self.dataloaders[phase_type])
        if not old or old == new or self.checkpoint["iteration"] <= 0:
            return start_iter
        done = (
            self.checkpoint["iteration"]
            - (self.checkpoint["train_phase_idx"] + 1) * old
        )
        return max(0, done) * new // old

    def _classy_state_without_weights(self, deep_copy: bool) -> dict:
        """VISSL's state with a reference to the folder of shards for the weights."""
        if self._sharded_reference is None:
            raise RuntimeError(
                "a checkpoint of the sharded model was asked for outside VISSL's "
                "checkpoint events (on_step, on_phase_end), where no shards were "
                "written"
            )
        reference = {sharded_checkpoint.REFERENCE_KEY: self._sharded_reference}
        with sharded_checkpoint.weights_elsewhere(self, reference):
            return super().get_classy_state(deep_copy=deep_copy)

    def _set_classy_state(self, state):
        reference = sharded_checkpoint.sharded_reference(state)
        if reference is None:
            if self.sharding.enabled:
                raise ValueError(
                    f"{self.checkpoint_path} holds unsharded weights, and this run "
                    "is sharded (MODEL.SEER_FSDP.ENABLED): resume it unsharded, or "
                    "start a new run from its weights with MODEL.WEIGHTS_INIT"
                )
            super()._set_classy_state(state)
        elif not self.sharding.enabled:
            raise ValueError(
                f"{self.checkpoint_path} is a sharded checkpoint (its weights are in "
                f"{reference['folder']}): resume it with MODEL.SEER_FSDP.ENABLED=True, "
                "on any number of processes"
            )
        else:
            folder = os.path.join(
                os.path.dirname(self.checkpoint_path), reference["folder"]
            )
            sharded_checkpoint.load_sharded(
                unwrap(self.base_model), self.optimizer.optimizer, folder
            )
            with sharded_checkpoint.weights_elsewhere(self, {}):
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
        rank, world_size = rank_and_world_size()
        own = saved["ranks"].get(rank)
        if saved["world_size"] != world_size or own is None:
            # Another world size splits the data and the queue differently anyway.
            logging.warning(
                "Checkpoint written by %d processes, resumed on %d: random "
                "generators start afresh, loss buffers are %s, the epoch goes on "
                "from the same fraction of it; training goes on, but not "
                "bit-identically to an uninterrupted run.",
                saved["world_size"],
                world_size,
                self._loss_resume_note,
            )
            return
        if own["loss"]:
            self.base_loss.load_state_dict(own["loss"])
        self._pending_rank_state = own
