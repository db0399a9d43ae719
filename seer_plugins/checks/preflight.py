"""Checks run by the launcher before any process starts: fail in a second, not an hour.

Composition (`seer_plugins.compose`) must work on any machine, so a config for 512
GPUs composes on a laptop; whether *this* machine and these files can run it is
decided here, in this order, cheapest first:

1. devices (a GPU config without GPUs);
2. data (:mod:`seer_plugins.checks.data_files`): paths that exist and hold images,
   class folders that are not empty, a dataset name with no path and no catalog
   entry, `DATA_LIMIT` within the data, some images that decode, low-shot split
   files that match their folder and cover its classes, top-k within the classes;
   tar shards (:mod:`seer_plugins.checks.shard_files`): an index that counts them
   all, local shards that exist, a first shard that reads;
3. `MODEL.WEIGHTS_INIT` (:mod:`seer_plugins.checks.weights_init`): a readable
   checkpoint whose keys give every trunk tensor, planned on a meta-device model.

Every refusal is a :class:`PreflightError`, one line naming the key and the value.
"""

import contextlib
import os

import torch
from vissl.utils.checkpoint import get_resume_checkpoint

from seer_plugins.checkpoints.load_plan import PARAMS_KEY
from seer_plugins.checks.data_files import check_data
from seer_plugins.checks.shard_files import check_shards
from seer_plugins.checks.weights_init import check_weights_init
from seer_plugins.errors import ConfigError

CPU_RUN_HINT = (
    "for a CPU run add the override +config/pretrain/seer/runtime=cpu (one process, "
    "gloo, fp32, no SyncBN), or use config=pretrain/seer_tiny for a model and batch "
    "sized for a CPU"
)


class PreflightError(ConfigError):
    """The config cannot run on this machine or with these files."""


def check_devices(config) -> None:
    if config.MACHINE.DEVICE != "gpu":
        return
    wanted = config.DISTRIBUTED.NUM_PROC_PER_NODE
    available = torch.cuda.device_count()
    if available == 0:
        raise PreflightError(
            "config.MACHINE.DEVICE", "gpu", "this machine has no CUDA GPU", CPU_RUN_HINT
        )
    if wanted > available:
        raise PreflightError(
            "config.DISTRIBUTED.NUM_PROC_PER_NODE",
            wanted,
            f"this machine has {available} GPU(s)",
            f"add config.DISTRIBUTED.NUM_PROC_PER_NODE={available} (and "
            "config.DISTRIBUTED.NUM_NODES=1 outside SLURM); the learning rate "
            "follows the global batch",
        )


@contextlib.contextmanager
def _refused_as_preflight():
    """A ConfigError raised inside is the preflight's refusal (PreflightError)."""
    try:
        yield
    except PreflightError:
        raise
    except ConfigError as error:
        raise PreflightError(
            error.key, error.value, error.problem, error.valid
        ) from None


def check_data_paths(config) -> None:
    with _refused_as_preflight():
        check_data(config)
        check_shards(config)


def _resumes(config) -> bool:
    """VISSL ignores WEIGHTS_INIT when the checkpoint folder has a run to resume."""
    folder = config.CHECKPOINT.DIR
    if not config.CHECKPOINT.get("AUTO_RESUME", False) or not os.path.isdir(folder):
        return False
    return get_resume_checkpoint(config, checkpoint_folder=folder) is not None


def check_weights_file(config) -> None:
    """`MODEL.WEIGHTS_INIT.PARAMS_FILE`, when set to a local path, must exist and
    initialise the whole trunk: VISSL reads it only after every process started and
    built its model, and starts from random weights where names do not match."""
    path = config.MODEL.WEIGHTS_INIT.get("PARAMS_FILE", "") or ""
    if not path or "://" in path:
        return
    if not os.path.isfile(path):
        raise PreflightError(
            PARAMS_KEY,
            path,
            "is not a file",
            "set it to a checkpoint (.torch/.pth, e.g. "
            'model_final_checkpoint_phase0.torch) or to "" to start from random '
            "weights",
        )
    if _resumes(config):
        return
    with _refused_as_preflight():
        check_weights_init(config)


def preflight(config) -> None:
    check_devices(config)
    check_data_paths(config)
    check_weights_file(config)
