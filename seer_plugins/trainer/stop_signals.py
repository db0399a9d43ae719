"""Ctrl-C (SIGINT) and SLURM's pre-emption (SIGTERM) stop a run with a checkpoint.

VISSL's launcher catches `KeyboardInterrupt`, logs "Wrapping up", then "All Done!",
and exits 0 with no checkpoint since the last scheduled one: `seer train ... &&
seer sweep ...` goes on as if the run had finished. Here a stop signal only takes
note; the task (:mod:`seer_plugins.trainer.task`) checks at every iteration
boundary, writes an iteration checkpoint there, through VISSL's checkpoint hook and
with every rank's state as a scheduled one (so the resume is exact), and raises
:class:`TrainingInterrupted`. The launcher exits `128 + signal` (130, 143).

Every rank must stop at the same iteration (a rank that stops alone leaves the
others waiting in a collective), and a signal may reach them at different times,
or only the launcher (`kill -INT <pid>`, which it forwards to its workers). The
ranks agree through an all-reduce of the signal number on a gloo group, on the CPU:
started after one iteration and read after the next, so it never waits on the GPU
or on the network. With several processes the stop lands one boundary after the
first rank to note the signal checked for it: the next boundary or the one after.

Data loader workers ignore both signals: the training process decides, and its
watchdog (:mod:`seer_plugins.data.worker_watchdog`) ends them when it is gone.
"""

import contextlib
import logging
import multiprocessing
import os
import signal

import torch
import torch.distributed as dist

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    """A run stopped by a signal, at an iteration boundary, with a checkpoint."""

    def __init__(self, signum: int, iteration: int, checkpoint: str):
        self.signum, self.iteration, self.checkpoint = signum, iteration, checkpoint
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} after iteration {iteration}, checkpoint "
            f"{checkpoint}: rerun the same command to resume"
        )

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


_received: list[int] = []


def _take_note(signum, frame) -> None:
    if not _received:
        logging.warning(
            "%s received: stopping at the next iteration boundary, with a checkpoint",
            signal.Signals(signum).name,
        )
    _received.append(signum)


def received_signal() -> int | None:
    """The first stop signal this process received, or None."""
    return _received[0] if _received else None


def take_note_of_stop_signals() -> None:
    """Note SIGINT / SIGTERM instead of dying of them (the main thread only)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _take_note)


@contextlib.contextmanager
def forwarding_stop_signals():
    """In the launcher, while its workers run: note a stop signal and pass it on to
    the worker processes (a terminal's Ctrl-C reaches them already; a `kill` of the
    launcher does not)."""

    def forward(signum, frame):
        _take_note(signum, frame)
        for child in multiprocessing.active_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class StopAgreement:
    """Whether every rank stops now: the largest signal number any rank had noted
    one iteration ago (0: none). One process needs no agreement."""

    def __init__(self):
        self.distributed = dist.is_available() and dist.is_initialized()
        self.distributed = self.distributed and dist.get_world_size() > 1
        self._group = dist.new_group(backend="gloo") if self.distributed else None
        self._flag = torch.zeros(1, dtype=torch.int64)
        self._pending = None

    def stop_signal(self) -> int:
        if not self.distributed:
            return received_signal() or 0
        agreed = 0
        if self._pending is not None:
            self._pending.wait()
            agreed = int(self._flag.item())
        self._flag = torch.tensor([received_signal() or 0], dtype=torch.int64)
        self._pending = dist.all_reduce(
            self._flag, op=dist.ReduceOp.MAX, group=self._group, async_op=True
        )
        return agreed
