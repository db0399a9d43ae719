"""A worker that raises ends the whole job with that rank's error, without a hang.

Rank 1 raises at iteration 3 while rank 0 waits for it in the next all-reduce;
`torch.multiprocessing.spawn` (VISSL's `launch_distributed`) sees the failed
process, terminates the others and re-raises rank 1's traceback in the launcher.
A hang would run into the subprocess timeout and fail the test.
"""

from pathlib import Path

import pytest
from launch_helpers import run_script

PROBE = Path(__file__).parent / "support" / "fault_probe.py"


@pytest.mark.slow
def test_a_failing_rank_ends_the_job_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEER_TEST_FAULT", "raise:3:1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rc, output = run_script(
        PROBE,
        [
            "config=pretrain/seer_tiny",
            f"config.CHECKPOINT.DIR={tmp_path / 'checkpoints'}",
            "config.DISTRIBUTED.NUM_PROC_PER_NODE=2",
            "config.OPTIMIZER.num_epochs=1",
            "config.HOOKS.PLUGINS=[seer_test_fault]",
        ],
        cwd=tmp_path,
        timeout=180,
    )
    assert rc != 0, output[-3000:]
    assert "Process 1 terminated with the following error" in output, output[-3000:]
    assert "RuntimeError: injected fault on rank 1" in output


@pytest.mark.slow
def test_a_failing_run_prints_its_error_once(tmp_path, monkeypatch):
    """VISSL's `logging.error("...", e)` used to add `--- Logging error ---` and a
    traceback of the logging module to the real one."""
    monkeypatch.setenv("SEER_TEST_FAULT", "raise:2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rc, output = run_script(
        PROBE,
        [
            "config=pretrain/seer_tiny",
            f"config.CHECKPOINT.DIR={tmp_path / 'checkpoints'}",
            "config.OPTIMIZER.num_epochs=1",
            "config.HOOKS.PLUGINS=[seer_test_fault]",
        ],
        cwd=tmp_path,
        timeout=180,
    )
    assert rc != 0, output[-3000:]
    assert "--- Logging error ---" not in output, output[-3000:]
    assert output.count("Traceback (most recent call last)") == 1, output[-3000:]
    assert "RuntimeError: injected fault on rank 0" in output
