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
            key = f"config.DATA.{split}.DATA_PATHS[{index}]={path!r}"
            if not os.path.exists(path):
                raise PreflightError(
                    f"{key} does not exist (data source {source!r}): set it to your "
                    "image folder or file list."
                )
            if _is_empty(path):
                raise PreflightError(
                    f"{key} holds no images (data source {source!r}): a folder needs "
                    "image files (in class sub-folders for disk_folder), a file list "
                    "at least one path."
                )


def _is_empty(path: str) -> bool:
    """A folder with no file anywhere below it, or a file list with no entry."""
    if os.path.isdir(path):
        return not any(files for _, _, files in os.walk(path))
    if os.path.getsize(path) == 0:
        return True
    if path.endswith(".npy"):
        import numpy as np

        try:  # a header read for string arrays; object arrays must be loaded
            entries = np.load(path, mmap_mode="r")
        except ValueError:
            entries = np.load(path, allow_pickle=True)
        return len(entries) == 0
    return False


def check_weights_file(config) -> None:
    """`MODEL.WEIGHTS_INIT.PARAMS_FILE`, when set to a local path, must exist: VISSL
    reads it only after every process started and built its model."""
    path = config.MODEL.WEIGHTS_INIT.get("PARAMS_FILE", "") or ""
    if not path or "://" in path or os.path.isfile(path):
        return
    raise PreflightError(
        f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={path!r} is not a file: set it to a "
        "checkpoint (.torch/.pth, e.g. model_final_checkpoint_phase0.torch) or to "
        '"" to start from random weights.'
    )


def preflight(config) -> None:
    check_devices(config)
    check_data_paths(config)
    check_weights_file(config)
