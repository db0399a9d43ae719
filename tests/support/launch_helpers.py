"""Helpers for tests that run our launcher as a user would, in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "tools" / "run_distributed_engines.py"

# VISSL's stock CPU SimCLR test config, made as small as it goes.
SIMCLR_CPU = [
    "config=test/cpu_test/test_cpu_regnet_simclr",
    "config.HOOKS.PERF_STATS.MONITOR_PERF_STATS=false",
]


def stock_swav_cpu(checkpoint_dir) -> list:
    """VISSL's stock quick_swav config on CPU: synthetic data, a tiny stock RegNet."""
    return [
        "config=test/integration_test/quick_swav",
        f"config.CHECKPOINT.DIR={checkpoint_dir}",
        "config.DISTRIBUTED.BACKEND=gloo",
        "config.MACHINE.DEVICE=cpu",
        "config.DATA.NUM_DATALOADER_WORKERS=0",
        "config.DATA.TRAIN.DATA_SOURCES=[synthetic]",
        "config.DATA.TRAIN.DATASET_NAMES=[synthetic]",
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
        "config.DATA.TRAIN.DATA_LIMIT=16",
        "config.DATA.TRAIN.TRANSFORMS.0.size_crops=[64,32]",
        "config.MODEL.TRUNK.NAME=regnet",
        "++config.MODEL.TRUNK.REGNET={depth:13,w_0:24,w_a:35.5,w_m:2.49,group_width:8}",
        "config.MODEL.HEAD.PARAMS=[[swav_head,{dims:[368,64,32],use_bn:True,num_clusters:[20]}]]",
        "config.HOOKS.PERF_STATS.MONITOR_PERF_STATS=false",
    ]


def run_script(script, args, cwd, timeout=600):
    """Run a Python script of the repo in a fresh interpreter; return (rc, output)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return result.returncode, result.stdout


def pretrain_tiny(folder, data_overrides, timeout=300) -> tuple[int, str]:
    """`config=pretrain/seer_tiny` through the launcher in a fresh process, on the
    data `data_overrides` give, into `folder/run`; returns (rc, output)."""
    folder = Path(folder)
    overrides = ["config=pretrain/seer_tiny", f"config.CHECKPOINT.DIR={folder / 'run'}"]
    return run_script(
        LAUNCHER, [*overrides, *data_overrides], cwd=folder, timeout=timeout
    )


def knn_results(train, val, folder, k: int) -> tuple[dict, str]:
    """`seer_knn` through the launcher, in a fresh process, from a randomly
    initialised digits trunk: (its knn_results.json, the launcher's output); k
    nearest of `train`, avgpool features. Random features tell images apart by what
    they look like: what these tests ask."""
    import json

    from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint

    folder = Path(folder)
    init = write_init_checkpoint(["config=pretrain/demo_digits"], folder / "init.torch")
    rc, output = run_script(
        LAUNCHER,
        [
            "config=benchmark/knn/digits",
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={init}",
            f"config.DATA.TRAIN.DATA_PATHS=[{train}]",
            f"config.DATA.TEST.DATA_PATHS=[{val}]",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
            f"config.NEAREST_NEIGHBOR.TOPK={k}",
            f"config.CHECKPOINT.DIR={folder / 'knn'}",
        ],
        cwd=folder,
        timeout=300,
    )
    assert rc == 0, output[-3000:]
    return json.loads((folder / "knn" / "knn_results.json").read_text()), output


def knn_top1(train, val, folder, k: int) -> float:
    """:func:`knn_results`' top-1 on the avgpool features."""
    return knn_results(train, val, folder, k)[0]["layers"]["avgpool"]["top1"]
