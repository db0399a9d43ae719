"""Entry script for the kill-and-resume tests: logs every loss, can SIGKILL itself,
or send the launcher a stop signal.

The `seer_test_loss_log` hook appends `<iteration> <loss>` (the float's exact
repr) to `losses_rank<R>.txt` in the checkpoint folder after each update. With
`SEER_TEST_KILL_AT_ITERATION=N` in the environment it kills its own process with
SIGKILL at the end of iteration N, after VISSL's checkpoint hook has run: no
exception, no clean-up, as a preempted node would die (with `SEER_TEST_KILL_RANK=R`
rank R only, and under torchrun on its first attempt only). With
`SEER_TEST_SIGNAL_AT_ITERATION=N` and `SEER_TEST_SIGNAL=SIGINT|SIGTERM`, rank 0
sends that signal at the end of iteration N: to the launcher's process only, as
`kill PID` would (the launcher passes it on to its workers), or with
`SEER_TEST_SIGNAL_TO=group` to every process of the run, data loader workers
included, as a terminal's Ctrl-C or SLURM's pre-emption does. Exits with the
launcher's status.

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
from seer_plugins.apps.launcher import cli  # noqa: E402
from seer_plugins.hooks.base import SeerHook  # noqa: E402
from seer_plugins.hooks.registry import register_hook  # noqa: E402

KILL_ENV = "SEER_TEST_KILL_AT_ITERATION"
KILL_RANK_ENV = "SEER_TEST_KILL_RANK"
SIGNAL_AT_ENV = "SEER_TEST_SIGNAL_AT_ITERATION"
SIGNAL_ENV = "SEER_TEST_SIGNAL"
SIGNAL_TO_ENV = "SEER_TEST_SIGNAL_TO"
# The launcher's process id, for its spawned workers (set before they start).
LAUNCHER_PID_ENV = "SEER_TEST_LAUNCHER_PID"


@register_hook("seer_test_loss_log")
class SeerTestLossLogHook(SeerHook):
    def __init__(self, folder):
        super().__init__()
        self.folder = folder
        self.kill_at = int(os.environ.get(KILL_ENV, "0"))
        self.signal_at = int(os.environ.get(SIGNAL_AT_ENV, "0"))

    @staticmethod
    def _kills(rank: int) -> bool:
        # One rank only with SEER_TEST_KILL_RANK; a torchrun restart runs through.
        wanted = os.environ.get(KILL_RANK_ENV)
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        return first_attempt and (wanted is None or int(wanted) == rank)

    @classmethod
    def from_config(cls, config):
        return cls(get_checkpoint_folder(config))

    def on_update(self, task):
        if task.train:
            rank = dist.get_rank() if dist.is_initialized() else 0
            with Path(self.folder, f"losses_rank{rank}.txt").open("a") as f:
                f.write(f"{task.iteration} {task.last_batch.loss.item()!r}\n")

    def on_step(self, task):
        rank = dist.get_rank() if dist.is_initialized() else 0
        if task.train and task.iteration == self.kill_at and self._kills(rank):
            os.kill(os.getpid(), signal.SIGKILL)
        if task.train and task.iteration == self.signal_at and rank == 0:
            launcher = int(os.environ[LAUNCHER_PID_ENV])
            signum = signal.Signals[os.environ[SIGNAL_ENV]]
            if os.environ.get(SIGNAL_TO_ENV) == "group":
                os.killpg(launcher, signum)  # the launcher leads its own group
            else:
                os.kill(launcher, signum)


if __name__ == "__main__":
    os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
    if os.environ.get(SIGNAL_TO_ENV) == "group":
        os.setsid()  # a group of this run's processes only, not the test's
    sys.exit(cli(sys.argv[1:]))
