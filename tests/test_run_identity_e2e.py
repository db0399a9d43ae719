"""Runs know what they are, through the launcher (a fresh process each, as a user
runs `seer train`): a finished run does not swallow another, a second run into a
busy folder is refused, more epochs extend a run, `--restart` keeps the old one."""

import json
import os

from launch_helpers import LAUNCHER, run_script

from seer_plugins.runs import run_folder

TINY = [
    "config=pretrain/seer_tiny",
    "config.OPTIMIZER.num_epochs=1",
    "config.DATA.TRAIN.DATA_LIMIT=32",
]


def _train(tmp_path, *overrides, options=()):
    return run_script(
        LAUNCHER,
        [*options, *TINY, "config.CHECKPOINT.DIR=run", *overrides],
        cwd=tmp_path,
        timeout=300,
    )


def _error_lines(output):
    return [line for line in output.splitlines() if line.startswith("error: ")]


def _phases(folder):
    lines = (folder / "metrics.json").read_text().splitlines()
    return [json.loads(line)["train_phase_idx"] for line in lines if line.strip()]


def test_a_finished_run_is_resumed_extended_refused_or_restarted(tmp_path):
    folder = tmp_path / "run"
    rc, output = _train(tmp_path)
    assert rc == 0, output[-3000:]
    final = folder / "model_final_checkpoint_phase0.torch"
    made = final.stat().st_mtime_ns

    assert "run folder run: a new run" in output
    # The same run again: nothing to do, said in words; nothing rewritten.
    rc, output = _train(tmp_path)
    assert rc == 0, output[-3000:]
    assert "holds this run, finished (same config and inputs): nothing to do" in output
    assert final.stat().st_mtime_ns == made

    # Another run into its folder: one line naming what differs, nothing written.
    config_before = (folder / "train_config.yaml").read_text()
    rc, output = _train(tmp_path, "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4")
    assert rc == 2, output[-3000:]
    (line,) = _error_lines(output)
    assert line.startswith(
        "error: config.CHECKPOINT.DIR='run': holds a run of another config or inputs"
    )
    assert "DATA.TRAIN.BATCHSIZE_PER_REPLICA: 8 -> 4" in line
    assert "--restart" in line and "Training already succeeded" not in output
    assert (folder / "train_config.yaml").read_text() == config_before

    # More epochs: the finished run goes on from its final checkpoint.
    rc, output = _train(tmp_path, "config.OPTIMIZER.num_epochs=2")
    assert rc == 0, output[-3000:]
    assert "extending the finished run in run to 2 epochs" in output
    assert _phases(folder) == [0, 1]
    assert (folder / "model_final_checkpoint_phase1.torch").is_file()

    # --restart: the old run moves aside whole, the new one starts afresh.
    rc, output = _train(
        tmp_path, "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4", options=["--restart"]
    )
    assert rc == 0, output[-3000:]
    (old,) = (folder / "superseded").iterdir()
    assert _phases(old) == [0, 1] and _phases(folder) == [0]


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_first(tmp_path):
    """The lock a running launcher holds (here this test's, standing in for it)."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder = run_folder.lock_run_folder(folder)
    try:
        rc, output = _train(tmp_path)
    finally:
        os.close(holder)
    assert rc == 2, output[-3000:]
    (line,) = _error_lines(output)
    assert (
        f"is in use by another run (host {os.uname().nodename}, PID {os.getpid()}"
        in line
    )
    assert not (folder / "train_config.yaml").exists()
    assert not list(folder.glob("*.torch"))


def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "blocker").write_text("")
    rc, output = run_script(
        LAUNCHER,
        [*TINY, "config.CHECKPOINT.DIR=blocker/run"],
        cwd=tmp_path,
        timeout=300,
    )
    assert rc == 2, output[-3000:]
    (line,) = _error_lines(output)
    assert line.startswith("error: config.CHECKPOINT.DIR='blocker/run': cannot be")
    assert "Traceback" not in output
