"""Data loader workers that exit when their training process is killed.

torch's workers watch their parent process. Under VISSL's default
`MULTI_PROCESSING_METHOD: forkserver` that parent is the fork server, not the
training process, and the fork server was seen outliving it (every forked child
holds the fork server's "alive" pipe open): after a SIGKILL of a `seer_tiny` run
(as by an OOM kill, `kill -9`, a preemption that spares the node) its workers lived
on, idle, holding ~0.7 GB each (SEER runs 8 per GPU) and any pipe the training
process wrote to.

:class:`ExitWithTrainingProcess` wraps a loader's `worker_init_fn`: each worker
also starts a daemon thread that checks every few seconds whether the training
process still runs, and ends the worker when it does not. The workers ignore
SIGINT, and SIGTERM from any process but the training process: it stops on them,
at an iteration boundary (:mod:`seer_plugins.trainer.stop_signals`), and needs its
workers until then; its own SIGTERM (multiprocessing ending its daemonic workers at
exit) still ends them.
"""

import os
import signal
import threading
import time

CHECK_EVERY_SECONDS = 2.0


def process_is_running(pid: int) -> bool:
    """False once `pid` has exited, zombie included (killed, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _exit_when_gone(pid: int) -> None:
    while process_is_running(pid):
        time.sleep(CHECK_EVERY_SECONDS)
    os._exit(1)  # no clean-up: the queues' other end is gone with the process


def _terminate_only_from(pid: int) -> None:
    """Die of SIGTERM from `pid` only (the training process ending its workers, as
    multiprocessing does at exit); one from anyone else (SLURM's pre-emption, sent
    to every process) is the training process's to act on. Where the sender cannot
    be known (no `sigwaitinfo`), SIGTERM keeps its default."""
    if not hasattr(signal, "sigwaitinfo"):
        return

    def wait_for_terminate():
        while True:
            if signal.sigwaitinfo({signal.SIGTERM}).si_pid == pid:
                os._exit(0)

    # Blocked here, before any other thread starts (they inherit the mask), so
    # only the waiting thread takes it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(
        target=wait_for_terminate, name="seer-terminate-from-training", daemon=True
    ).start()


class ExitWithTrainingProcess:
    """A picklable `worker_init_fn`: runs `inner`, then watches `training_pid`."""

    def __init__(self, inner, training_pid: int):
        self.inner = inner
        self.training_pid = training_pid

    def __call__(self, worker_id: int) -> None:
        # Ctrl-C and SLURM's SIGTERM reach every process; the training process
        # stops on them at an iteration boundary, and needs its workers until then.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _terminate_only_from(self.training_pid)
        if self.inner is not None:
            self.inner(worker_id)
        threading.Thread(
            target=_exit_when_gone,
            args=(self.training_pid,),
            name="seer-exit-with-training-process",
            daemon=True,
        ).start()
