"""`seer_progress_bar`: a tqdm bar on rank 0 with loss, lr, img/s and ETA.

The bar counts training iterations over the whole run (`task.max_iteration`),
starting from the resumed iteration; tqdm's remaining time is the ETA. Other ranks
show nothing. VISSL's own log lines keep going to the log as before.
"""

import sys
import time

from classy_vision.generic.distributed_util import is_primary
from tqdm import tqdm

from seer_plugins.config.derived import global_batch_size
from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook
from seer_plugins.trainer.train_step import last_loss_value


@register_hook("seer_progress_bar", order=70)
class SeerProgressBarHook(SeerHook):
    """Args:
    images_per_iteration: global images per iteration (for img/s).
    file: where the bar is drawn (default: stderr).
    """

    def __init__(self, images_per_iteration: int, file=None):
        super().__init__()
        self.images_per_iteration = images_per_iteration
        self.file = file
        self.bar: tqdm | None = None
        self._last: float | None = None
        self._seconds: float | None = None  # smoothed iteration time

    @classmethod
    def from_config(cls, config):
        return cls(images_per_iteration=global_batch_size(config))

    def on_start(self, task) -> None:
        if is_primary():
            self.bar = tqdm(
                total=task.max_iteration,
                initial=task.iteration,
                desc="train",
                unit="it",
                dynamic_ncols=True,
                file=self.file or sys.stderr,
            )

    def on_step(self, task) -> None:
        if self.bar is None or not task.train:
            return
        now = time.perf_counter()
        if self._last is not None:
            seconds = now - self._last
            self._seconds = (
                seconds
                if self._seconds is None
                else 0.9 * self._seconds + 0.1 * seconds
            )
        self._last = now
        postfix = {
            "loss": f"{last_loss_value(task):.4f}",
            "lr": f"{_lr(task):.4g}",
        }
        if self._seconds:
            postfix["img/s"] = f"{self.images_per_iteration / self._seconds:.1f}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def on_end(self, task) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    on_exception = on_end


def _lr(task) -> float:
    lr = task.optimizer.options_view.lr
    return float(max(lr)) if isinstance(lr, set | list | tuple) else float(lr)
