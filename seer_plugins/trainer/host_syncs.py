"""Host synchronisations: where a training step waits for the GPU, and how often.

A call that needs a GPU result on the host (`.item()`, `.cpu()`, `float(t)`,
`bool(t)`, `if t:` on a CUDA tensor) waits until every queued kernel has run; the
GPU then idles while Python queues the next kernels. :class:`HostSyncCounter`
counts them per source line with torch's sync debug mode
(`torch.cuda.set_sync_debug_mode("warn")`, which does not see `torch.distributed`).
On CPU there is nothing to count (`supported` is False).

Per training iteration of `config=pretrain/seer_1b` (fp16), the host reads in
seer_plugins' step, loss and hooks (a "drain" waits for new GPU work; the others
come right after one and wait for nothing), 5 in all:

- the loss's non-finite check before dumping scores (`output_dir` set): drains
  the forward and the loss;
- the train step's read of the loss (`task.losses`, VISSL's contract; kept as
  `task.last_batch.loss_value` for the hooks) and `seer_nan_guard`'s read of the
  model output's finiteness (a flag computed on the device after the forward):
  right after it;
- torch's GradScaler reads `found_inf` in `step` (fp16 only): drains the backward;
- `seer_nan_guard` after the update, one flag for all 373 parameter tensors (all
  finite before a checkpoint may save them): drains the optimizer step.

Before issue 16 there were up to 381: `seer_nan_guard` copied one norm per tensor
to the host (2 for the model output, 373 for the parameters) and read the loss
tensor again, as did `seer_collapse_warning` and `seer_progress_bar`. VISSL's own
hooks (loss logging every `LOG_FREQUENCY`, perf stats) read on their own.
"""

import collections
import contextlib
import os
import warnings

import torch

_MARKER = "synchroniz"  # torch's warning: "called a synchronizing CUDA operation"


class HostSyncCounter:
    """Counts synchronising CUDA calls between `start()` and `stop()`.

    Attributes:
        sites: `path:line` -> count (paths relative to site-packages or the repo).
        supported: CUDA is available (on CPU nothing is counted).
    """

    def __init__(self):
        self.sites: collections.Counter = collections.Counter()
        self.supported = torch.cuda.is_available()
        self._catcher = None
        self._records = None
        self._previous = 0

    @property
    def counting(self) -> bool:
        return self._catcher is not None

    @property
    def total(self) -> int:
        return sum(self.sites.values())

    def start(self) -> None:
        if not self.supported or self._catcher is not None:
            return
        self._catcher = warnings.catch_warnings(record=True)
        self._records = self._catcher.__enter__()
        warnings.simplefilter("always")
        self._previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("warn")

    def stop(self) -> collections.Counter:
        if self._catcher is None:
            return self.sites
        torch.cuda.set_sync_debug_mode(self._previous)
        self._catcher.__exit__(None, None, None)
        for record in self._records:
            if _MARKER in str(record.message):
                self.sites[f"{_short(record.filename)}:{record.lineno}"] += 1
        self._catcher = self._records = None
        return self.sites

    def summary(self) -> str:
        if not self.supported:
            return "not counted (no CUDA)"
        sites = ", ".join(f"{site} x{n}" for site, n in self.sites.most_common())
        return f"{self.total}" + (f" ({sites})" if sites else "")


@contextlib.contextmanager
def count_host_syncs():
    """`with count_host_syncs() as counter:` counts the block's host syncs."""
    counter = HostSyncCounter()
    counter.start()
    try:
        yield counter
    finally:
        counter.stop()


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, "seer_plugins" + os.sep):
        if marker in path:
            head, _, tail = path.rpartition(marker)
            return tail if marker.startswith("site") else "seer_plugins/" + tail
    return path
