"""Checks run by the launcher before any process starts: fail in a second, not an hour.

Composition (`seer_plugins.compose`) must work on any machine, so a config for 512
GPUs composes on a laptop; whether *this* machine can run it is decided here.
"""

import os

import torch

CPU_RUN_HINT = (
    "For a CPU run add the override\n"
    "  +config/pretrain/seer/runtime=cpu\n"
    "(one process, gloo, fp32, no SyncBN), or use config=pretrain/seer_tiny for a "
    "model and batch sized for a CPU."
)

# Data sources whose DATA_PATHS entries are files or folders on disk.
_DISK_SOURCES = {"disk_folder", "disk_filelist", "seer_low_shot"}


class PreflightError(RuntimeError):
    """The config cannot run on this machine or with these paths."""


def check_devices(config) -> None:
    if config.MACHINE.DEVICE != "gpu":
        return
    wanted = config.DISTRIBUTED.NUM_PROC_PER_NODE
    available = torch.cuda.device_count()
    if available == 0:
        raise PreflightError(
            f"config.MACHINE.DEVICE=gpu but this machine has no CUDA GPU. {CPU_RUN_HINT}"
        )
    if wanted > available:
        raise PreflightError(
            f"config.DISTRIBUTED.NUM_PROC_PER_NODE={wanted} but this machine has "
            f"{available} GPU(s). Add config.DISTRIBUTED.NUM_PROC_PER_NODE={available} "
            "(and config.DISTRIBUTED.NUM_NODES=1 outside SLURM); the learning rate "
            "follows the global batch."
        )


def _used_splits(config):
    yield "TRAIN"
    if config.TEST_MODEL:
        yield "TEST"


def check_data_paths(config) -> None:
    for split in _used_splits(config):
        data = config.DATA[split]
        for index, source in enumerate(data.DATA_SOURCES):
            if source not in _DISK_SOURCES or not data.DATA_PATHS:
                continue
            path = data.DATA_PATHS[index]
            if not os.path.exists(path):
                raise PreflightError(
                    f"config.DATA.{split}.DATA_PATHS[{index}]={path!r} does not exist "
                    f"(data source {source!r}): set it to your image folder or file list."
                )


def preflight(config) -> None:
    check_devices(config)
    check_data_paths(config)
