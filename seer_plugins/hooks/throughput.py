"""`seer_throughput`: images per second, and model FLOPs utilisation on GPU.

Settings (`config.HOOKS.SEER_THROUGHPUT`):
- `LOG_FREQUENCY`: log every N iterations (0: `config.LOG_FREQUENCY`);
- `PEAK_TFLOPS`: the accelerator's peak per process, in TFLOP/s. 0 looks up the
  dense bf16/fp16 tensor-core peak of known NVIDIA GPUs; MFU is reported when a
  peak is known (set it to get MFU on other devices, CPU included);
- `COUNT_HOST_SYNCS_AT`: count the host synchronisations of one whole iteration
  from this iteration's `on_step` to the next (CUDA; 0: off), logged as
  `host syncs in one iteration: N (file:line xK, ...)`
  (seer_plugins/trainer/host_syncs.py).

MFU counts the FLOPs of one real training forward with torch's `FlopCounterMode`
(the first iteration of the first phase), times 3 for forward + backward, over the
measured iteration time (with `pad_group_width_to`, the padding's ~1% of extra
multiply-adds is counted too). Iteration time runs from one `on_step` to the next, so it
includes data loading, as a user's wall clock does.
"""

import logging
import time

import torch
from classy_vision.generic.distributed_util import is_primary
from torch.utils.flop_counter import FlopCounterMode

from seer_plugins.config.defaults import plugin_default, plugin_section
from seer_plugins.config.derived import global_batch_size
from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook
from seer_plugins.trainer.host_syncs import HostSyncCounter

CONFIG_KEY = "SEER_THROUGHPUT"
SECTION = f"HOOKS.{CONFIG_KEY}"
# configs/defaults/swav.yaml's, also for a hook built without a config.
DEFAULTS = plugin_default(SECTION)

# Dense bf16/fp16 tensor-core TFLOP/s (no sparsity), by device-name substring; the
# first match wins, so the more specific names come first.
PEAK_TFLOPS_BY_DEVICE = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("A10G", 70.0),
    ("L4", 121.0),
    ("V100", 125.0),
)


def lookup_peak_tflops(device_name: str) -> float | None:
    for key, tflops in PEAK_TFLOPS_BY_DEVICE:
        if key in device_name:
            return tflops
    return None


class ForwardFlopCounter:
    """Counts the FLOPs of the next forward of `module`, then removes itself."""

    def __init__(self, module: torch.nn.Module):
        self.flops: int | None = None
        self._mode = None
        self._handles = [
            module.register_forward_pre_hook(self._enter),
            module.register_forward_hook(self._exit),
        ]

    def _enter(self, module, args):
        self._mode = FlopCounterMode(display=False)
        self._mode.__enter__()

    def _exit(self, module, args, output):
        self.flops = self._mode.get_total_flops()
        self.remove()

    def remove(self):
        """Detach; also leaves the counting mode if a forward failed inside it."""
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None
        for handle in self._handles:
            handle.remove()
        self._handles = []


@register_hook("seer_throughput", order=60)
class SeerThroughputHook(SeerHook):
    """Logs img/s (all processes) and, with a known peak, MFU.

    Args:
        images_per_iteration: global images per iteration.
        log_frequency: log every this many iterations.
        peak_tflops: peak TFLOP/s per process; None: look it up on GPU.
        count_host_syncs_at: iteration whose host syncs are counted (0: none).
    """

    def __init__(
        self,
        images_per_iteration: int,
        log_frequency: int,
        peak_tflops: float | None = None,
        count_host_syncs_at: int = DEFAULTS["COUNT_HOST_SYNCS_AT"],
    ):
        super().__init__()
        self.images_per_iteration = images_per_iteration
        self.log_frequency = max(1, log_frequency)
        self.peak_tflops = peak_tflops
        self.flops_per_iteration: float | None = None
        self.images_per_second: float | None = None
        self.mfu: float | None = None
        self._counter: ForwardFlopCounter | None = None
        self._last: float | None = None
        self._times: list[float] = []
        self.count_host_syncs_at = count_host_syncs_at
        self.host_syncs: HostSyncCounter | None = None

    @classmethod
    def from_config(cls, config):
        settings = plugin_section(config, SECTION)
        return cls(
            images_per_iteration=global_batch_size(config),
            # 0 means: VISSL's LOG_FREQUENCY; look the GPU's peak up.
            log_frequency=settings["LOG_FREQUENCY"] or config.LOG_FREQUENCY,
            peak_tflops=settings["PEAK_TFLOPS"] or None,
            count_host_syncs_at=settings["COUNT_HOST_SYNCS_AT"],
        )

    def _resolve_peak(self, task) -> None:
        if self.peak_tflops is None and task.device.type == "cuda":
            name = torch.cuda.get_device_name(task.device)
            self.peak_tflops = lookup_peak_tflops(name)
            if self.peak_tflops is None:
                logging.info(
                    "no peak TFLOP/s known for %s: set HOOKS.%s.PEAK_TFLOPS for MFU",
                    name,
                    CONFIG_KEY,
                )

    def on_phase_start(self, task) -> None:
        self._last, self._times = None, []
        if not task.train:
            return
        self._resolve_peak(task)
        if self.peak_tflops and self.flops_per_iteration is None and not self._counter:
            self._counter = ForwardFlopCounter(task.base_model)

    def on_step(self, task) -> None:
        now = time.perf_counter()
        if not task.train:
            return
        if self._counter is not None and self._counter.flops is not None:
            # Forward + backward ~ 3 forwards.
            self.flops_per_iteration = 3.0 * self._counter.flops
            self._counter = None
        if self._last is not None:
            self._times.append(now - self._last)
        self._last = now
        if self._times and task.iteration % self.log_frequency == 0:
            self._report(task)
        self._count_host_syncs(task)

    def _count_host_syncs(self, task) -> None:
        if not self.count_host_syncs_at:
            return
        counter = self.host_syncs
        if counter is not None and counter.counting:
            counter.stop()
        elif counter is None and task.iteration == self.count_host_syncs_at:
            counter = self.host_syncs = HostSyncCounter()
            counter.start()
            if counter.counting:
                return
        else:
            return
        if is_primary():
            logging.info("host syncs in one iteration: %s", counter.summary())

    def _report(self, task) -> None:
        seconds = sum(self._times) / len(self._times)
        self._times = []
        self.images_per_second = self.images_per_iteration / seconds
        message = f"throughput: {self.images_per_second:.1f} img/s"
        if self.peak_tflops and self.flops_per_iteration:
            self.mfu = self.flops_per_iteration / seconds / (self.peak_tflops * 1e12)
            message += f"; MFU {100 * self.mfu:.1f}% of {self.peak_tflops:g} TFLOP/s"
        if is_primary():
            logging.info("iter %d %s", task.iteration, message)

    def on_phase_end(self, task) -> None:
        if self.host_syncs is not None:
            self.host_syncs.stop()
        if self._counter is not None:
            self._counter.remove()
            self._counter = None

    on_exception = on_phase_end
