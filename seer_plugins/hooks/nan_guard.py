"""`seer_nan_guard`: stop on a non-finite loss, output or model, before it is saved.

VISSL's `HOOKS.CHECK_NAN` adds two hooks: one raises on a non-finite loss (good),
the other, on a non-finite model output, *writes a checkpoint of that model* as
`model_iteration<N>.torch`, which `CHECKPOINT.AUTO_RESUME` then resumes from. And
neither looks at the parameters after the update, so a step that turns the weights
NaN is saved by the next periodic checkpoint before any loss shows it.

This hook replaces both: it is wanted when `HOOKS.CHECK_NAN` is on (VISSL's default)
and switches that key off, so VISSL's hooks do not run. It raises
`FloatingPointError` naming the iteration:

- `on_forward` (read with the loss, in `on_loss_and_meter`: one host sync fewer):
  a non-finite model output (the input and output are saved for debugging as
  `rank<R>_nan_model_output.pth` / `rank<R>_nan_input_sample.pth`);
- `on_loss_and_meter`: a non-finite loss (all-reduced, so every rank stops), before
  backward and the update;
- `on_update`: a non-finite parameter after the update, before `on_step` and
  `on_phase_end`, where VISSL's checkpoint hook saves. Sharded parameters are
  checked shard by shard, and the verdict all-reduced: every rank stops together.

Raising there means the checkpoint hook never sees a NaN model: the last checkpoint
on disk is the last good one. Its order puts it after every other plugin hook, so
hooks that change parameters in `on_update` (prototype normalisation) run first.
"""

import logging
import math
from pathlib import Path

import torch
from classy_vision.generic.distributed_util import get_rank

from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook
from seer_plugins.sharding.dtensors import any_rank, local_tensor, shard_group
from seer_plugins.trainer.train_step import last_loss_value

HOOK_NAME = "seer_nan_guard"
# Last of the plugin hooks: it checks the parameters after every other update.
ORDER = 100


def nan_checks_wanted(config) -> bool:
    return bool(config.HOOKS.get("CHECK_NAN", False))


def _finite_flag(tensors) -> torch.Tensor | None:
    """A 0-d bool tensor on the tensors' device (no host sync), None if none."""
    tensors = [t for t in tensors if t.is_floating_point()]
    if not tensors:
        return None
    # One reduction per tensor: a non-finite element makes its tensor's norm
    # non-finite.
    norms = torch._foreach_norm([t.detach() for t in tensors])
    return torch.isfinite(torch.stack([n.float() for n in norms])).all()


def _all_finite(tensors) -> bool:
    flag = _finite_flag(tensors)
    return True if flag is None else bool(flag)  # one host sync for all


def _flatten(output):
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _flatten(item)]
    return []


def last_checkpoint(folder) -> str:
    """The newest checkpoint file in `folder`, or a note that there is none."""
    found = sorted(Path(folder or ".").glob("*.torch"), key=lambda p: p.stat().st_mtime)
    found = [p for p in found if p.name != "checkpoint.torch"]
    return str(found[-1]) if found else "none written yet"


@register_hook(
    HOOK_NAME, order=ORDER, wanted=nan_checks_wanted, replaces=("CHECK_NAN",)
)
class SeerNanGuardHook(SeerHook):
    """Raises FloatingPointError at the first non-finite output, loss or weight."""

    def __init__(self):
        super().__init__()
        self._output_finite: torch.Tensor | None = None

    @classmethod
    def from_config(cls, config):
        return cls()

    def _stop(self, task, what: str) -> None:
        message = (
            f"{what} at iteration {task.iteration} (train phase "
            f"{task.train_phase_idx}): training stopped before this model could be "
            f"checkpointed. Last checkpoint: {last_checkpoint(task.checkpoint_folder)}"
        )
        logging.error(message)
        raise FloatingPointError(message)

    def on_forward(self, task) -> None:
        # Read with the loss, which the step reads from the device anyway: no
        # host sync of its own between the forward and the loss.
        self._output_finite = _finite_flag(_flatten(task.last_batch.model_output))

    def _check_output(self, task) -> None:
        flag, self._output_finite = self._output_finite, None
        if flag is None or bool(flag):
            return
        output = task.last_batch.model_output
        if task.checkpoint_folder:
            folder, rank = Path(task.checkpoint_folder), get_rank()
            torch.save(output, folder / f"rank{rank}_nan_model_output.pth")
            torch.save(
                task.last_batch.sample, folder / f"rank{rank}_nan_input_sample.pth"
            )
        self._stop(task, "non-finite model output")

    def on_loss_and_meter(self, task) -> None:
        self._check_output(task)
        loss = last_loss_value(task)
        if not math.isfinite(loss):
            self._stop(task, f"non-finite loss {loss}")

    def on_update(self, task) -> None:
        if not task.train:
            return
        params = list(task.base_model.parameters())
        local = [local_tensor(p) for p in params]
        if not any_rank(not _all_finite(local), shard_group(params), task.device):
            return
        names = [
            n
            for n, p in task.base_model.named_parameters()
            if p.is_floating_point() and not torch.isfinite(local_tensor(p)).all()
        ]
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        shown = shown or "in another rank's shards"
        self._stop(task, f"non-finite parameters after the update ({shown})")
