"""A NaN stops training with the iteration in the message; the last good checkpoint
stays the newest one on disk (VISSL's own NaN hook would checkpoint the NaN model)."""

import os
from pathlib import Path

import pytest
import torch
from launch_helpers import run_script

from seer_plugins import compose
from seer_plugins.hooks.nan_guard import HOOK_NAME, SeerNanGuardHook, _all_finite

PROBE = Path(__file__).parent / "support" / "fault_probe.py"


def test_check_nan_means_our_guard_last():
    config = compose(
        ["config=pretrain/seer_tiny", "config.HOOKS.PLUGINS=[seer_progress_bar]"]
    )
    assert config.HOOKS.CHECK_NAN is False  # VISSL's hooks off: one saves NaN models
    assert config.HOOKS.PLUGINS[-1] == HOOK_NAME
    assert "seer_progress_bar" in config.HOOKS.PLUGINS
    off = compose(["config=pretrain/seer_tiny", "config.HOOKS.CHECK_NAN=false"])
    assert HOOK_NAME not in off.HOOKS.PLUGINS


def test_all_finite():
    assert _all_finite([torch.ones(3), torch.arange(4)])
    assert not _all_finite([torch.ones(3), torch.tensor([1.0, float("inf")])])
    assert not _all_finite([torch.tensor([float("nan")], dtype=torch.bfloat16)])


def test_guard_from_config_needs_nothing():
    assert isinstance(SeerNanGuardHook.from_config({}), SeerNanGuardHook)


def _run_with_fault(tmp_path, monkeypatch, fault):
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("SEER_TEST_FAULT", fault)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rc, output = run_script(
        PROBE,
        [
            "config=pretrain/seer_tiny",
            f"config.CHECKPOINT.DIR={folder}",
            "config.CHECKPOINT.CHECKPOINT_ITER_FREQUENCY=4",
            "config.OPTIMIZER.num_epochs=1",
            "config.HOOKS.PLUGINS=[seer_test_fault]",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    return rc, output, folder


def _assert_last_good_checkpoint(folder, iteration):
    names = sorted(p.name for p in folder.glob("model_*.torch"))
    assert names == [f"model_iteration{iteration}.torch"], names
    assert os.path.realpath(folder / "checkpoint.torch").endswith(names[-1])
    state = torch.load(folder / names[-1], map_location="cpu", weights_only=False)
    trunk = state["classy_state_dict"]["base_model"]["model"]["trunk"]
    assert all(torch.isfinite(t).all() for t in trunk.values() if t.is_floating_point())


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault, message",
    [
        # the 8th update turns the weights NaN; iteration 8 is a checkpoint iteration
        ("params:7", "non-finite parameters after the update"),
        ("output:6", "non-finite model output"),
    ],
)
def test_nan_stops_training_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, fault, message
):
    rc, output, folder = _run_with_fault(tmp_path, monkeypatch, fault)
    assert rc != 0, output[-3000:]
    iteration = fault.split(":")[1]
    assert f"FloatingPointError: {message}" in output, output[-3000:]
    assert f"at iteration {iteration} " in output
    assert "Last checkpoint:" in output and "model_iteration4.torch" in output
    _assert_last_good_checkpoint(folder, 4)


@pytest.mark.slow
def test_nan_in_one_ranks_shard_stops_every_rank(tmp_path, monkeypatch):
    """Sharded, a NaN weight is in one rank's shard only: the guard's verdict is
    all-reduced, every rank stops at that iteration, and the newest checkpoint on
    disk is the last good one."""
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("SEER_TEST_FAULT", "params:7:1")  # rank 1's shard only
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rc, output = run_script(
        PROBE,
        [
            "config=pretrain/seer_tiny",
            f"config.CHECKPOINT.DIR={folder}",
            "config.CHECKPOINT.CHECKPOINT_ITER_FREQUENCY=4",
            "config.OPTIMIZER.num_epochs=1",
            "config.DATA.TRAIN.DATA_LIMIT=160",
            "config.DISTRIBUTED.NUM_PROC_PER_NODE=2",
            "config.MODEL.SEER_FSDP.ENABLED=True",
            "config.HOOKS.PLUGINS=[seer_test_fault]",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    assert rc != 0, output[-3000:]
    stopped = "non-finite parameters after the update"
    assert f"{stopped} (trunk._feature_blocks.conv1.stem.0.weight)" in output  # rank 1
    assert f"{stopped} (in another rank's shards)" in output  # rank 0
    assert sorted(p.name for p in folder.glob("model_*.torch")) == [
        "model_iteration4.torch"
    ]
    assert [p.name for p in (folder / "sharded").iterdir()] == ["model_iteration4"]
