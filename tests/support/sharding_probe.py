"""Entry script for the sharding tests: resume_probe's loss log and kill, plus state.

The `seer_test_model_state` hook writes into the checkpoint folder:

- `bytes_rank<R>.json` after the first update: this rank's bytes of parameters,
  gradients and optimizer state (local shards when sharded);
- `start_state.pt` when training starts (after any resume) and `final_state.pt`
  when it ends: the whole model's state dict, gathered on rank 0.

    python sharding_probe.py OVERRIDES...
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import resume_probe  # noqa: E402,F401  registers seer_test_loss_log
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.distributed.checkpoint.state_dict import (  # noqa: E402
    StateDictOptions,
    get_model_state_dict,
)
from vissl.utils.checkpoint import get_checkpoint_folder  # noqa: E402

from seer_plugins.apps.launcher import main  # noqa: E402
from seer_plugins.hooks.base import SeerHook  # noqa: E402
from seer_plugins.hooks.registry import register_hook  # noqa: E402
from seer_plugins.models.wrappers import unwrap  # noqa: E402
from seer_plugins.sharding.dtensors import local_tensor  # noqa: E402


def _bytes(tensors) -> int:
    tensors = [local_tensor(t) for t in tensors if t is not None]
    return sum(t.numel() * t.element_size() for t in tensors)


@register_hook("seer_test_model_state")
class SeerTestModelStateHook(SeerHook):
    def __init__(self, folder):
        super().__init__()
        self.folder = Path(folder)
        self._counted = False

    @classmethod
    def from_config(cls, config):
        return cls(get_checkpoint_folder(config))

    def _save_full_state(self, task, name):
        state = get_model_state_dict(
            unwrap(task.base_model),
            options=StateDictOptions(full_state_dict=True, cpu_offload=True),
        )
        if dist.get_rank() == 0:
            torch.save({k: v.clone() for k, v in state.items()}, self.folder / name)

    def on_start(self, task):
        self._save_full_state(task, "start_state.pt")

    def on_update(self, task):
        if self._counted or not task.train:
            return
        self._counted = True
        params = list(task.base_model.parameters())
        optimizer = task.optimizer.optimizer
        states = [v for s in optimizer.state.values() for v in s.values()]
        sizes = {
            "parameters": _bytes(params),
            "gradients": _bytes(p.grad for p in params),
            "optimizer": _bytes(t for t in states if isinstance(t, torch.Tensor)),
        }
        path = self.folder / f"bytes_rank{dist.get_rank()}.json"
        path.write_text(json.dumps(sizes))

    def on_end(self, task):
        self._save_full_state(task, "final_state.pt")


def _float64_allreduce(process_group, bucket):
    """DDP's mean of the gradients with exact (float64) sums, rounded once."""
    group = process_group or dist.group.WORLD
    wide = bucket.buffer().double()
    work = dist.all_reduce(wide, group=group, async_op=True)

    def rounded(future):
        return future.value()[0].div_(group.size()).to(bucket.buffer().dtype)

    return work.get_future().then(rounded)


@register_hook("seer_test_float64_ddp_sums")
class SeerTestFloat64DDPSums(SeerHook):
    """DDP's gradient sums in float64, as `MODEL.SEER_FSDP.REDUCE_DTYPE=float64`'s."""

    @classmethod
    def from_config(cls, config):
        return cls()

    def on_start(self, task):
        model = task.distributed_model
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model.register_comm_hook(None, _float64_allreduce)


if __name__ == "__main__":
    main(sys.argv[1:])
