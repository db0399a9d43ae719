"""Data loader workers end when their training process is SIGKILLed.

End to end (VISSL's forkserver workers, a real SIGKILL) this is exercised by
tests/test_exact_resume.py, whose killed runs would otherwise leave workers holding
the output pipe the test reads to its end.
"""

import os
import signal
import subprocess
import sys
import time

from launch_helpers import REPO

from seer_plugins.data.worker_watchdog import process_is_running

# Stands in for a data loader worker: installs the watchdog for the given training
# process pid, then idles far longer than the test waits.
WORKER = """
import sys, time
sys.path.insert(0, {repo!r})
from seer_plugins.data.worker_watchdog import ExitWithTrainingProcess

ExitWithTrainingProcess(None, int(sys.argv[1]))(0)
time.sleep(120)
"""


def _gone_within(pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_is_running(pid):
            return True
        time.sleep(0.2)
    return False


def test_running_and_zombie_processes():
    assert process_is_running(os.getpid())
    child = subprocess.Popen(["sleep", "30"])
    child.kill()
    assert _gone_within(child.pid, 5)  # a zombie until reaped: not running
    child.wait()
    assert not process_is_running(child.pid)


def test_worker_exits_when_the_training_process_is_killed():
    training = subprocess.Popen(["sleep", "120"])
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER.format(repo=str(REPO)), str(training.pid)]
    )
    try:
        time.sleep(3)  # the worker is up and watching
        assert worker.poll() is None, "the worker exited while training ran"
        training.send_signal(signal.SIGKILL)  # left unreaped: a zombie, as under
        assert worker.wait(timeout=15) == 1  # a parent busy elsewhere
    finally:
        for process in (training, worker):
            process.kill()
            process.wait()


def test_a_worker_freezes_the_objects_it_starts_with():
    """`FreezeStartupObjects` runs the loader's own worker_init_fn, then moves the
    worker's start-up objects out of the collector's scans (gc.freeze)."""
    import gc
    import pickle

    from seer_plugins.data.worker_heap import FreezeStartupObjects

    called = []
    init = pickle.loads(pickle.dumps(FreezeStartupObjects(None)))  # spawn-safe
    try:
        FreezeStartupObjects(called.append)(3)
        assert called == [3] and gc.get_freeze_count() > 0
        init(0)
    finally:
        gc.unfreeze()
