"""End-to-end: VISSL's stock configs train on CPU through our launcher."""

import json
import re
from pathlib import Path

import pytest
from launch_helpers import SIMCLR_CPU, run_script, stock_swav_cpu

pytestmark = pytest.mark.slow

PROBE = Path(__file__).parent / "support" / "launcher_probe.py"


def _losses(output):
    return [float(x) for x in re.findall(r"loss: ([0-9.]+);", output)]


def _final_checkpoint(folder: Path):
    return sorted(folder.glob("model_final_checkpoint_*.torch"))


@pytest.mark.parametrize("num_proc", [1, 2])
def test_stock_simclr_cpu_config_trains(run_launcher, tmp_path, num_proc):
    checkpoint_dir = tmp_path / "checkpoints"
    output = run_launcher(
        [
            *SIMCLR_CPU,
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
            f"config.DISTRIBUTED.NUM_PROC_PER_NODE={num_proc}",
            # two iterations per process
            f"config.DATA.TRAIN.DATA_LIMIT={4 * num_proc}",
        ]
    )
    assert _losses(output), output[-3000:]
    assert _final_checkpoint(checkpoint_dir)
    # The launcher dumps the composed config next to the checkpoints, as VISSL's does.
    assert (checkpoint_dir / "train_config.yaml").is_file()


@pytest.mark.parametrize("num_proc", [1, 2])
def test_stock_swav_config_trains_on_cpu(run_launcher, tmp_path, num_proc):
    checkpoint_dir = tmp_path / "checkpoints"
    output = run_launcher(
        [
            *stock_swav_cpu(checkpoint_dir),
            f"config.DISTRIBUTED.NUM_PROC_PER_NODE={num_proc}",
        ]
    )
    losses = _losses(output)
    assert losses and all(loss == loss for loss in losses)  # no NaN
    assert _final_checkpoint(checkpoint_dir)


def test_zero_sharded_optimizer_trains_with_two_processes(run_launcher, tmp_path):
    """VISSL's ZeRO optimizer (FairScale OSS, the vendored 0.3.7) on 2 gloo ranks."""
    checkpoint_dir = tmp_path / "checkpoints"
    output = run_launcher(
        [
            *SIMCLR_CPU,
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
            "config.DISTRIBUTED.NUM_PROC_PER_NODE=2",
            "config.OPTIMIZER.use_zero=true",
            "config.DATA.TRAIN.DATA_LIMIT=8",
        ]
    )
    assert "Building a ZeRO enabled optimizer" in output
    assert len(_losses(output)) >= 1
    assert _final_checkpoint(checkpoint_dir)


@pytest.mark.parametrize("num_proc", [1, 2])
def test_plugin_hooks_reach_every_worker(tmp_path, num_proc):
    """Hooks registered in the entry script are built in spawned workers, after
    VISSL's default hooks."""
    checkpoint_dir = tmp_path / "checkpoints"
    rc, output = run_script(
        PROBE,
        [
            "local",
            *SIMCLR_CPU,
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
            f"config.DISTRIBUTED.NUM_PROC_PER_NODE={num_proc}",
            f"config.DATA.TRAIN.DATA_LIMIT={4 * num_proc}",
            "++config.HOOKS.PLUGINS=[seer_test_marker]",
        ],
        cwd=tmp_path,
    )
    assert rc == 0, output[-4000:]
    for rank in range(num_proc):
        hooks = (checkpoint_dir / f"hook_marker_rank{rank}").read_text().split()
        # listed plugin hooks after VISSL's defaults; the NaN guard (CHECK_NAN) last
        assert hooks[-2:] == ["SeerTestMarkerHook", "SeerNanGuardHook"]
        assert "LogLossLrEtaHook" in hooks[:-2]


def test_slurm_path_uses_our_hook_generator(tmp_path):
    """The SLURM path (submitit) runs the same engine with our hooks. submitit's
    debug executor runs the submitted job in-process, so no cluster is needed."""
    checkpoint_dir = tmp_path / "checkpoints"
    rc, output = run_script(
        PROBE,
        [
            "slurm-debug",
            *SIMCLR_CPU,
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
            "config.SLURM.USE_SLURM=true",
            f"config.SLURM.LOG_FOLDER={tmp_path / 'slurm_logs'}",
            "config.SLURM.PORT_ID=40123",
            "++config.HOOKS.PLUGINS=[seer_test_marker]",
        ],
        cwd=tmp_path,
    )
    assert rc == 0, output[-4000:]
    hooks = (checkpoint_dir / "hook_marker_rank0").read_text().split()
    assert hooks[-2:] == ["SeerTestMarkerHook", "SeerNanGuardHook"]
    assert _final_checkpoint(checkpoint_dir)


def test_train_config_dump_equals_compose(run_launcher, tmp_path):
    """`seer_plugins.compose` returns exactly the config the launcher trains with."""
    import yaml

    import seer_plugins

    checkpoint_dir = tmp_path / "checkpoints"
    overrides = [*SIMCLR_CPU, f"config.CHECKPOINT.DIR={checkpoint_dir}"]
    run_launcher(overrides)
    dumped = yaml.safe_load((checkpoint_dir / "train_config.yaml").read_text())
    composed = seer_plugins.compose(overrides)
    # FSDP dtypes become torch objects after the dump, as in VISSL's own launcher.
    for config in (dumped, composed):
        config["MODEL"].pop("FSDP_CONFIG")
    assert json.loads(json.dumps(composed)) == dumped
