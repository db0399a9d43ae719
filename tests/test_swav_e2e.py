"""End-to-end SwAV pretraining through our launcher on CPU: seer_swav_loss, LARC,
the SwAV hooks, a queue, prototype freezing, bf16 autocast, TensorBoard."""

import re

import pytest
import torch
from launch_helpers import LAUNCHER, run_script, stock_swav_cpu

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def _losses(output):
    return [float(x) for x in re.findall(r"loss: ([0-9.naif]+);", output)]


def _seer_swav(checkpoint_dir, num_proc):
    return [
        *stock_swav_cpu(checkpoint_dir),
        f"config.DISTRIBUTED.NUM_PROC_PER_NODE={num_proc}",
        "config.DATA.TRAIN.TRANSFORMS.0.size_crops=[32,16]",
        f"config.DATA.TRAIN.DATA_LIMIT={16 * num_proc}",  # 4 iterations
        "config.LOG_FREQUENCY=1",
        # The stock block, renamed; VISSL's name-based freeze map is replaced by ours.
        "config.LOSS.name=seer_swav_loss",
        "config.MODEL.TEMP_FROZEN_PARAMS_ITER_MAP=[]",
        "++config.LOSS.seer_swav_loss.freeze_prototypes_iters=2",
        "++config.LOSS.seer_swav_loss.queue={queue_length:16,start_iter:1}",
        "++config.HOOKS.PLUGINS=[seer_throughput,seer_progress_bar]",
    ]


def _run(overrides, tmp_path, monkeypatch):
    # Two shared cores: one thread per process is several times faster here.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    workdir = tmp_path / "run"
    workdir.mkdir()
    rc, output = run_script(LAUNCHER, overrides, cwd=workdir, timeout=300)
    assert rc == 0, output[-6000:]
    return output


def _final_state(checkpoint_dir):
    (path,) = checkpoint_dir.glob("model_final_checkpoint_*.torch")
    return torch.load(path, map_location="cpu", weights_only=False)["classy_state_dict"]


def test_seer_swav_trains_with_bf16_larc_and_hooks(tmp_path, monkeypatch):
    checkpoint_dir = tmp_path / "checkpoints"
    output = _run(
        [
            *_seer_swav(checkpoint_dir, num_proc=1),
            "++config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=bf16",
            "config.MODEL.AMP_PARAMS.USE_AMP=False",
            "config.HOOKS.TENSORBOARD_SETUP.USE_TENSORBOARD=True",
        ],
        tmp_path,
        monkeypatch,
    )
    losses = _losses(output)
    assert len(losses) == 4 and all(0 < x < 10 for x in losses), output[-3000:]
    assert "seer_sgd" in output  # LARC without apex
    assert "prototypes are trained from iteration 2 on" in output
    assert re.search(r"throughput: [0-9.]+ img/s", output)
    assert "img/s=" in output and "4/4" in output  # the progress bar
    assert list((checkpoint_dir / "tb_logs").glob("events.out.tfevents.*"))

    state = _final_state(checkpoint_dir)
    prototypes = state["base_model"]["model"]["heads"]["0.prototypes0.weight"]
    torch.testing.assert_close(prototypes.norm(dim=1), torch.ones(20))
    # Queue filled from iteration 1 on: 3 iterations x 4 images, of 16.
    assert int(state["loss"]["criterion.queue_filled"]) == 12


def test_seer_swav_trains_with_two_processes(tmp_path, monkeypatch):
    checkpoint_dir = tmp_path / "checkpoints"
    output = _run(_seer_swav(checkpoint_dir, num_proc=2), tmp_path, monkeypatch)
    losses = _losses(output)
    assert len(losses) == 4 and all(0 < x < 10 for x in losses), output[-3000:]
    state = _final_state(checkpoint_dir)
    # Each process keeps half the global queue (16 / 2), filled with 3 x 4 rows.
    assert state["loss"]["criterion.queue_embeddings"].shape == (2, 8, 32)
    assert int(state["loss"]["criterion.queue_filled"]) == 8
