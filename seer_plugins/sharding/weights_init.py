"""`MODEL.WEIGHTS_INIT` into a sharded model, each rank reading only its own shards.

VISSL's loader has rank 0 `torch.load` the file and broadcast the whole object to
every rank, then copies each tensor in; for the published SEER-10B file (~36 GB)
that is the whole model in every process, and a sharded parameter refuses a plain
`copy_` anyway. Here every rank memory-maps the file (`torch.load(mmap=True)`: pages
are read when touched, as clean page cache) and copies, for each tensor, only its
own rows, `torch.chunk(full, world)[rank]`, FSDP2's layout. Measured on this
project's CPU machine (2 ranks, 8 x Linear(3072, 3072): a 288 MB file, 144 MB of
shards per rank, allocated beforehand): the copy adds no anonymous memory, and each
rank maps 129 / 143 MB of the file, its own rows; `torch.load` of the whole file
plus `set_model_state_dict(full_state_dict=True)` holds the 288 MB on every rank.

The keys are mapped as VISSL maps them (`STATE_DICT_KEY_NAME`, `REMOVE_PREFIX`,
`APPEND_PREFIX`, the `trunk.` / `trunk.base_model.` and `heads.` prefixes), and the
same layers are skipped (`SKIP_LAYERS`; the heads in feature evaluation). Unlike
VISSL's loader, a file that leaves trunk tensors uninitialised is refused
(:func:`check_trunk_coverage`): a wrong `STATE_DICT_KEY_NAME` or prefix otherwise
trains or evaluates a randomly initialised trunk without a word.

A checkpoint of a sharded run (the small `.torch` file VISSL lists, which points at
its folder of shards) is read with `torch.distributed.checkpoint` instead, which
reshards it to this run's world size.
"""

import logging
import os
from collections.abc import Collection, Mapping, Sequence

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.tensor import DTensor
from vissl.utils.checkpoint import (
    append_module_prefix,
    get_checkpoint_model_state_dict,
    replace_module_prefix,
)

from seer_plugins.checks.errors import ConfigError
from seer_plugins.sharding.checkpoint import sharded_reference

PARAMS_KEY = "config.MODEL.WEIGHTS_INIT.PARAMS_FILE"
TRUNK_PREFIX = "trunk."
# The trunk inside VISSL's FeatureExtractorModel (linear evaluation).
EXTRACTOR_PREFIX = "trunk.base_model."


def check_trunk_coverage(
    expected: Sequence[str],
    loaded: Collection[str],
    params_file: str,
    file_keys: Sequence[str] = (),
) -> None:
    """Refuse a weights file that leaves some of the model's trunk tensors as they are.

    Args:
        expected: the model's trunk state-dict keys that should come from the file.
        loaded: the keys the file provides (after VISSL's key mapping).
        params_file: the file, for the message.
        file_keys: some of the file's keys, shown when nothing matched.

    Raises:
        ConfigError on `MODEL.WEIGHTS_INIT.PARAMS_FILE`, with the counts and samples.
    """
    missing = [key for key in expected if key not in loaded]
    if not missing:
        return
    found = len(expected) - len(missing)
    sample = f"; the file has e.g. {list(file_keys)[:3]}" if not found else ""
    raise ConfigError(
        PARAMS_KEY,
        params_file,
        f"initialises {found} of the model's {len(expected)} trunk tensors "
        f"(missing e.g. {missing[:3]}{sample})",
        "a checkpoint of this trunk (VISSL layout: classy_state_dict -> base_model "
        "-> model -> trunk, keys _feature_blocks.*), or the right "
        "MODEL.WEIGHTS_INIT.STATE_DICT_KEY_NAME / REMOVE_PREFIX / APPEND_PREFIX",
    )


def wanted(key: str, config) -> bool:
    """VISSL's rule: not in SKIP_LAYERS; heads only when they are trained."""
    params = config.MODEL.WEIGHTS_INIT
    if any(skip in key for skip in params.get("SKIP_LAYERS") or []):
        return False
    evaluation = config.MODEL.FEATURE_EVAL_SETTINGS
    if "heads" in key and evaluation.EVAL_MODE_ON:
        return bool(evaluation.EVAL_TRUNK_AND_HEAD)
    return True


def checkpoint_tensors(config, checkpoint: Mapping, params_file: str) -> dict:
    """The file's tensors under the model's state-dict keys (VISSL's mapping)."""
    params = config.MODEL.WEIGHTS_INIT
    name = params.get("STATE_DICT_KEY_NAME") or ""
    state = checkpoint
    if name:
        if name not in state:
            raise ConfigError(
                "config.MODEL.WEIGHTS_INIT.STATE_DICT_KEY_NAME",
                name,
                f"is not a key of {params_file}",
                f"one of {list(state)[:10]}, or '' for a bare state dict",
            )
        state = state[name]
    if name == "classy_state_dict":
        return get_checkpoint_model_state_dict(config, state)
    if params.get("REMOVE_PREFIX"):
        state = replace_module_prefix(state, params.REMOVE_PREFIX)
    if params.get("APPEND_PREFIX"):
        state = append_module_prefix(state, params.APPEND_PREFIX)
    return dict(state)


def copy_into(target: torch.Tensor, full: torch.Tensor) -> None:
    """Copy this rank's part of `full` into `target` (a shard or a plain tensor)."""
    if not isinstance(target, DTensor):
        target.copy_(full)
        return
    mesh = target.device_mesh
    chunks = torch.chunk(full, mesh.size(), dim=0)
    rank = mesh.get_local_rank()
    part = chunks[rank] if rank < len(chunks) else full[:0]
    local = target.to_local()
    if part.shape != local.shape:
        raise ValueError(
            f"shard of shape {tuple(local.shape)} but rows {tuple(part.shape)} of the "
            "file's tensor: not FSDP2's dim-0 chunk layout"
        )
    local.copy_(part)


def _load_file(path: str) -> Mapping:
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError as error:
        if "mmap" not in str(error):
            raise
        # Files written with torch's legacy (non-zip) format cannot be mapped.
        logging.warning(
            "%s cannot be memory-mapped (%s): every rank loads it whole", path, error
        )
        return torch.load(path, map_location="cpu", weights_only=True)


def _targets(model: nn.Module, config) -> dict:
    targets = {k: v for k, v in model.state_dict().items() if wanted(k, config)}
    return targets


@torch.no_grad()
def load_weights_init(model: nn.Module, config) -> int:
    """Initialise `model` (sharded or not) from `MODEL.WEIGHTS_INIT.PARAMS_FILE`.

    Returns:
        how many of the model's tensors were loaded.
    Raises:
        ConfigError: missing trunk tensors, a tensor of another shape, a bad key.
    """
    path = config.MODEL.WEIGHTS_INIT.PARAMS_FILE
    checkpoint = _load_file(path)
    reference = sharded_reference(checkpoint)
    if reference is not None:
        return _load_sharded(model, config, path, reference)
    source = checkpoint_tensors(config, checkpoint, path)
    targets = _targets(model, config)
    expected = [k for k in targets if k.startswith(TRUNK_PREFIX)]
    check_trunk_coverage(expected, source, path, list(source))
    loaded = 0
    for key, target in targets.items():
        if key not in source:
            continue
        full = source[key]
        if tuple(full.shape) != tuple(target.shape):
            raise ConfigError(
                PARAMS_KEY,
                path,
                f"holds {key} of shape {tuple(full.shape)}",
                f"shape {tuple(target.shape)}, as this model's",
            )
        copy_into(target, full)
        loaded += 1
    logging.info(
        "WEIGHTS_INIT: %d of %d tensors from %s (%d trunk tensors), each rank its "
        "own shards",
        loaded,
        len(targets),
        path,
        len(expected),
    )
    return loaded


def _load_sharded(model, config, path: str, reference: dict) -> int:
    """A sharded run's checkpoint: the trunk (and trained heads) through DCP."""
    folder = os.path.join(os.path.dirname(path), reference["folder"])
    saved = set(dcp.FileSystemReader(folder).read_metadata().planner_data)
    targets = _targets(model, config)
    # The pretraining model's names: "trunk." where a feature extractor has
    # "trunk.base_model.".
    names = {k: TRUNK_PREFIX + k.removeprefix(EXTRACTOR_PREFIX) for k in targets}
    present = {k for k, name in names.items() if f"model.{name}" in saved}
    expected = [k for k in targets if k.startswith(TRUNK_PREFIX)]
    check_trunk_coverage(expected, present, path, sorted(saved))
    state = {names[k]: targets[k] for k in present}
    dcp.load({"model": state}, checkpoint_id=folder)
    logging.info(
        "WEIGHTS_INIT: %d of %d tensors from the shards of %s",
        len(state),
        len(targets),
        path,
    )
    return len(state)
