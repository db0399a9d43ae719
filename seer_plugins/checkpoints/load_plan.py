"""`MODEL.WEIGHTS_INIT` verified: every trunk tensor comes from the file, or no run.

VISSL matches a weights file's keys to the model's (after `STATE_DICT_KEY_NAME`,
`REMOVE_PREFIX`, `APPEND_PREFIX` and `SKIP_LAYERS`), logs `Not found: ... not
initialized` for each model tensor it cannot match, and trains from random weights
with exit status 0: a wrong prefix on a published SEER checkpoint is a wrong paper
number nobody notices. Here the same matching is planned (with VISSL's own prefix
functions) and any trunk tensor the file does not provide, or provides with another
shape, is refused naming the file, the counts, sample keys of both sides and what to
set. `MODEL.WEIGHTS_INIT.SEER_ALLOW_PARTIAL_LOAD: True` allows a deliberate partial
load, said in the log. Head tensors may be missing (a new classifier is the point of
fine-tuning); they are reported.

Used three times, with one plan: by the launcher's preflight on a model built on the
meta device, before any process starts (:mod:`seer_plugins.checks.weights_init`);
around VISSL's own load (:mod:`seer_plugins.patches.weights_init`), which also
covers VISSL's entry points; and by the sharded load
(:mod:`seer_plugins.checkpoints.sharded_load`).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from vissl.utils.checkpoint import (
    append_module_prefix,
    get_checkpoint_model_state_dict,
    replace_module_prefix,
)

from seer_plugins.checkpoints.formats import guess_format
from seer_plugins.checkpoints.sharded import sharded_reference
from seer_plugins.config.defaults import plugin_setting
from seer_plugins.errors import ConfigError

KEY = "config.MODEL.WEIGHTS_INIT"
PARAMS_KEY = f"{KEY}.PARAMS_FILE"
ALLOW_PARTIAL = "SEER_ALLOW_PARTIAL_LOAD"
CONVERT_HINT = "convert it first: seer convert {path} OUT.torch --to vissl"
SAMPLE = 3


@dataclass
class LoadPlan:
    """What VISSL's loader will do with each model tensor."""

    file_keys: list[str]
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # SKIP_LAYERS, frozen heads
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    @staticmethod
    def trunk(names: list[str]) -> list[str]:
        return [name for name in names if name.startswith("trunk.")]

    def mismatched_names(self) -> list[str]:
        return [name for name, _, _ in self.mismatched]


def load_weights_file(path: str) -> Mapping:
    """The file's contents as VISSL reads them (tensors memory-mapped, not read)."""
    try:
        try:
            checkpoint = torch.load(
                path, map_location="cpu", weights_only=True, mmap=True
            )
        except RuntimeError as error:
            if "mmap" not in str(error) and "zip" not in str(error):
                raise
            # The legacy (non-zip) format cannot be memory-mapped.
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails on garbage in many ways
        first = str(error).splitlines()[0] if str(error) else ""
        raise ConfigError(
            PARAMS_KEY,
            path,
            f"is not a torch checkpoint VISSL can read ({type(error).__name__}: "
            f"{first[:160]})",
            "give a .torch/.pth file written by torch.save (a VISSL checkpoint, "
            "or a state dict converted with seer convert)",
        ) from None
    if not isinstance(checkpoint, Mapping):
        raise ConfigError(
            PARAMS_KEY,
            path,
            f"holds a {type(checkpoint).__name__}, not a checkpoint mapping",
            "give a VISSL checkpoint or a state dict",
        )
    return checkpoint


def prepared_state(config, checkpoint: Mapping, path: str) -> Mapping:
    """The file's tensors under the names VISSL will look them up by."""
    params = config.MODEL.WEIGHTS_INIT
    if sharded_reference(checkpoint) is not None:
        raise ConfigError(
            PARAMS_KEY,
            path,
            "is a sharded run's checkpoint (its shards are in a folder beside it), "
            "which only a sharded model reads",
            f"set config.MODEL.SEER_FSDP.ENABLED=True, or consolidate it first: "
            f"seer convert {path} OUT.torch --to vissl",
        )
    layout = guess_format(checkpoint)
    if layout in ("timm", "torchvision"):
        raise ConfigError(
            PARAMS_KEY,
            path,
            f"is a {layout} RegNet state dict, which VISSL cannot load by name",
            CONVERT_HINT.format(path=path),
        )
    key_name = params.get("STATE_DICT_KEY_NAME", None) or ""
    state = checkpoint
    if key_name:
        if key_name not in checkpoint:
            raise ConfigError(
                f"{KEY}.STATE_DICT_KEY_NAME",
                key_name,
                f"is not a top-level key of {path}",
                f"its keys: {list(checkpoint)[:8]}; a VISSL checkpoint has "
                "classy_state_dict, a plain state dict needs ''",
            )
        state = checkpoint[key_name]
    if key_name == "classy_state_dict":
        try:
            return get_checkpoint_model_state_dict(config, state)
        except (KeyError, TypeError):
            raise ConfigError(
                f"{KEY}.STATE_DICT_KEY_NAME",
                key_name,
                f"{path}'s classy_state_dict has no base_model -> model -> trunk/heads",
                "is it a VISSL checkpoint? (convert others with seer convert)",
            ) from None
    if params.get("REMOVE_PREFIX", None):
        state = replace_module_prefix(state, params.REMOVE_PREFIX)
    if params.get("APPEND_PREFIX", None):
        state = append_module_prefix(state, params.APPEND_PREFIX)
    return state


def _head_frozen(config) -> bool:
    # VISSL does not initialise heads in feature-evaluation mode unless told to.
    settings = config.MODEL.FEATURE_EVAL_SETTINGS
    return bool(settings.EVAL_MODE_ON) and not settings.get(
        "EVAL_TRUNK_AND_HEAD", False
    )


def plan_load(
    config, checkpoint: Mapping, model_shapes: Mapping, path: str
) -> LoadPlan:
    """What VISSL's `init_model_from_consolidated_weights` will do, tensor by tensor.

    Args:
        model_shapes: `{state-dict key: shape}` of the model being initialised.
    """
    return plan_for_state(
        config, prepared_state(config, checkpoint, path), model_shapes
    )


def plan_for_state(config, state: Mapping, model_shapes: Mapping) -> LoadPlan:
    """`plan_load` on the file's tensors already under the model's names
    (`state`: name -> anything with a `.shape`, e.g. a sharded checkpoint's metadata)."""
    skip = list(config.MODEL.WEIGHTS_INIT.get("SKIP_LAYERS", None) or [])
    plan = LoadPlan(file_keys=[str(k) for k in state])
    for name, shape in model_shapes.items():
        if any(item in name for item in skip) or (
            "heads" in name and _head_frozen(config)
        ):
            plan.skipped.append(name)
        elif name not in state:
            plan.missing.append(name)
        elif tuple(getattr(state[name], "shape", ())) != tuple(shape):
            plan.mismatched.append((name, tuple(state[name].shape), tuple(shape)))
        else:
            plan.loaded.append(name)
    return plan


def verify(config, plan: LoadPlan, path: str) -> None:
    """Refuse a load that leaves trunk tensors uninitialised (unless allowed)."""
    trunk_missing = plan.trunk(plan.missing)
    trunk_total = len(plan.trunk(plan.loaded + plan.missing + plan.mismatched_names()))
    loaded = len(plan.trunk(plan.loaded))
    if plan.mismatched:
        name, found, wanted = plan.mismatched[0]
        raise ConfigError(
            PARAMS_KEY,
            path,
            f"{len(plan.mismatched)} tensors have other shapes than the model's (e.g. "
            f"{name}: file {list(found)}, model {list(wanted)})",
            "is it the same architecture (preset, head dims)? SKIP_LAYERS leaves "
            "tensors out",
        )
    heads = [n for n in plan.loaded if n.startswith("heads.")]
    if trunk_missing and not plugin_setting(
        config, f"MODEL.WEIGHTS_INIT.{ALLOW_PARTIAL}"
    ):
        file_sample = plan.file_keys[:SAMPLE]
        raise ConfigError(
            PARAMS_KEY,
            path,
            f"only {loaded} of {trunk_total} trunk tensors load from it (file keys "
            f"e.g. {file_sample}; model keys e.g. {trunk_missing[:SAMPLE]})",
            f"set {KEY}.STATE_DICT_KEY_NAME (classy_state_dict for VISSL "
            "checkpoints), APPEND_PREFIX / REMOVE_PREFIX so the names match, or "
            f"SKIP_LAYERS; {ALLOW_PARTIAL}=True for a deliberate partial load",
        )
    if trunk_missing:
        logging.warning(
            "WEIGHTS_INIT: partial load allowed (%s): %d of %d trunk tensors from "
            "%s; not loaded, e.g. %s",
            ALLOW_PARTIAL,
            loaded,
            trunk_total,
            path,
            trunk_missing[:SAMPLE],
        )
    else:
        logging.info(
            "WEIGHTS_INIT: all %d trunk tensors and %d head tensors loaded from %s",
            loaded,
            len(heads),
            path,
        )


def model_shapes(model: torch.nn.Module) -> dict:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}
