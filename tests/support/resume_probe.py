"""Entry script for the kill-and-resume test: logs every loss, can SIGKILL itself.

The `seer_test_loss_log` hook appends `<iteration> <loss>` (the float's exact
repr) to `losses_rank<R>.txt` in the checkpoint folder after each update. With
`SEER_TEST_KILL_AT_ITERATION=N` in the environment it kills its own process with
SIGKILL at the end of iteration N, after VISSL's checkpoint hook has run: no
exception, no clean-up, as a preempted node would die.

    python resume_probe.py OVERRIDES...
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch.distributed as dist  # noqa: E402
from vissl.utils.checkpoint import get_checkpoint_folder  # noqa: E402

import seer_plugins  # noqa: E402,F401
from seer_plugins.apps.launcher import main  # noqa: E402
from seer_plugins.hooks.base import SeerHook  # noqa: E402
from seer_plugins.hooks.registry import register_hook  # noqa: E402

KILL_ENV = "SEER_TEST_KILL_AT_ITERATION"


@register_hook("seer_test_loss_log")
class SeerTestLossLogHook(SeerHook):
    def __init__(self, folder):
        super().__init__()
        self.folder = folder
        self.kill_at = int(os.environ.get(KILL_ENV, "0"))

    @classmethod
    def from_config(cls, config):
        return cls(get_checkpoint_folder(config))

    def on_update(self, task):
        if task.train:
            rank = dist.get_rank() if dist.is_initialized() else 0
            with Path(self.folder, f"losses_rank{rank}.txt").open("a") as f:
                f.write(f"{task.iteration} {task.last_batch.loss.item()!r}\n")

    def on_step(self, task):
        if task.train and task.iteration == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1:])
