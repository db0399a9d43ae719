"""A run killed with SIGKILL, or stopped by SIGINT / SIGTERM, mid-epoch and resumed
gives the uninterrupted run's losses.

Each test trains `seer_tiny` three times through the launcher (tests/support/resume_probe.py):
once uninterrupted, once killed at the end of iteration 10, once resumed from that
run's folder with `CHECKPOINT.AUTO_RESUME` (the config's default). Epochs are 6
iterations and checkpoints every 4: the kill lands mid-epoch 2, the resume starts
from iteration 8, also mid-epoch. What must survive is all switched on: data loader
workers (augmentations), random synthetic images (data order), fp16 autocast (the
gradient scaler), a SwAV queue filled from iteration 3, LARC momentum, the warm-up
and cosine LR, and the prototype freeze of the first 5 iterations.

A stop signal (Ctrl-C's SIGINT to every process, or SIGTERM to the launcher
alone, which passes it on) is sent once 6 iterations are done: the run stops at the
next iteration boundary, or with two processes at most one later (the ranks agree
through an all-reduce one iteration behind, and the launcher's forwarding may reach
a rank before or after its check), with a checkpoint there, exit status 130 / 143,
and resumes from it.

The losses are compared as the exact repr of each float, not within a tolerance.
"""

import re
from pathlib import Path

import pytest
from launch_helpers import run_script
from resume_runs import (
    CHECKPOINT_EVERY,
    NUM_ITERATIONS,
    PROBE,
    losses,
    resume_overrides,
)

KILL_AT = 10
SIGNAL_AT = 6


def _run(tmp_path, monkeypatch, name, processes, kill_at=None, stop=None):
    folder = tmp_path / name
    for variable in ("SEER_TEST_KILL_AT_ITERATION", "SEER_TEST_SIGNAL_AT_ITERATION"):
        monkeypatch.delenv(variable, raising=False)
    if kill_at is not None:
        monkeypatch.setenv("SEER_TEST_KILL_AT_ITERATION", str(kill_at))
    if stop is not None:
        signal_name, to = stop
        monkeypatch.setenv("SEER_TEST_SIGNAL_AT_ITERATION", str(SIGNAL_AT))
        monkeypatch.setenv("SEER_TEST_SIGNAL", signal_name)
        monkeypatch.setenv("SEER_TEST_SIGNAL_TO", to)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rc, out = run_script(PROBE, resume_overrides(folder, processes), cwd=tmp_path)
    return folder, rc, out


def _assert_resumed_exactly(whole, resumed, processes, stopped_at, checkpoint):
    for rank in range(processes):
        expected, whole_order = losses(whole, rank)
        got, order = losses(resumed, rank)
        assert whole_order == list(range(NUM_ITERATIONS))
        # stopped after iteration stopped_at - 1 (0-based) was logged; resumed at
        # the checkpoint, so iterations checkpoint .. stopped_at - 1 ran twice
        assert order == [*range(stopped_at), *range(checkpoint, NUM_ITERATIONS)]
        resumed_part = {i: v for i, v in got.items() if i >= checkpoint}
        assert resumed_part == {i: expected[i] for i in resumed_part}, rank


def _check_exact_resume(tmp_path, monkeypatch, processes, whole):
    resumed, rc, out = _run(tmp_path, monkeypatch, "killed", processes, KILL_AT)
    assert rc != 0, "the run was not killed"
    assert "SIGKILL" in out or rc in (-9, 137), out[-3000:]
    assert not (resumed / "model_final_checkpoint_phase1.torch").exists()

    _, rc, out = _run(tmp_path, monkeypatch, "killed", processes)
    assert rc == 0, out[-3000:]
    last_checkpoint = KILL_AT - KILL_AT % CHECKPOINT_EVERY
    assert re.search(
        rf"Resume from file: .*model_iteration{last_checkpoint}\.torch", out
    )
    _assert_resumed_exactly(whole, resumed, processes, KILL_AT, last_checkpoint)


def test_one_process_resumes_with_identical_losses(
    tmp_path, monkeypatch, uninterrupted
):
    _check_exact_resume(tmp_path, monkeypatch, 1, uninterrupted(1))


def test_two_processes_resume_with_identical_losses_per_rank(
    tmp_path, monkeypatch, uninterrupted
):
    """Each rank gets back its own SwAV queue and random generators."""
    _check_exact_resume(tmp_path, monkeypatch, 2, uninterrupted(2))


@pytest.mark.parametrize(
    "processes, signal_name, to, status",
    [(1, "SIGINT", "group", 130), (2, "SIGTERM", "launcher", 143)],
)
def test_a_stop_signal_checkpoints_exits_and_resumes_exactly(
    tmp_path, monkeypatch, uninterrupted, processes, signal_name, to, status
):
    folder, rc, out = _run(
        tmp_path, monkeypatch, "stopped", processes, stop=(signal_name, to)
    )
    assert rc == status, out[-3000:]
    said = re.search(
        rf"stopped by {signal_name} after iteration (\d+), checkpoint "
        rf"(\S+): rerun the same command to resume",
        out,
    )
    assert said, out[-3000:]
    stopped, checkpoint = int(said.group(1)), Path(said.group(2))
    # The first boundary after the signal; with two processes the ranks agree one
    # iteration behind, and a rank that notes it before its own check of that
    # boundary (the launcher forwards it) makes them agree one sooner.
    assert SIGNAL_AT + 1 <= stopped <= SIGNAL_AT + processes, stopped
    assert checkpoint == folder / f"model_iteration{stopped}.torch"
    assert "All Done" not in out and checkpoint.is_file()
    _, rc, out = _run(tmp_path, monkeypatch, "stopped", processes)
    assert rc == 0, out[-3000:]
    assert f"Resume from file: {checkpoint}" in out
    _assert_resumed_exactly(
        uninterrupted(processes), folder, processes, stopped, stopped
    )
