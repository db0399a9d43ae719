"""Data loader workers forked by VISSL's fork server find torch, VISSL and our
package already imported (seer_plugins/data/worker_start.py)."""

import subprocess
import sys

CHILD_REPORT = "import sys; print(sorted(m for m in MODULES if m in sys.modules))"

PROBE = f"""
import multiprocessing as mp
import sys
PRELOAD = sys.argv[1] == "preload"
if __name__ == "__main__":
    mp.set_start_method("forkserver")
    if PRELOAD:
        from seer_plugins.data.worker_start import preload_forkserver
        preload_forkserver()
    code = "MODULES = ['torch', 'vissl.data', 'seer_plugins']; " + {CHILD_REPORT!r}
    # exec is a builtin: unpickling it in the child imports nothing
    child = mp.Process(target=exec, args=(code,))
    child.start()
    child.join()
    sys.exit(child.exitcode)
"""


def _modules_in_a_fresh_worker(mode):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_fork_server_preloads_what_workers_import():
    assert _modules_in_a_fresh_worker("plain") == "[]"
    preloaded = _modules_in_a_fresh_worker("preload")
    assert preloaded == "['seer_plugins', 'torch', 'vissl.data']"
