"""Convert RegNetY trunk weights between VISSL/SEER checkpoints and timm's layout.

A VISSL checkpoint keeps the trunk at `classy_state_dict -> base_model -> model ->
trunk` with keys of VISSL's `regnet` trunk (= seer_regnet's); timm's `RegNet` is a
flat state dict. Key mapping, `k` the stage (1..4), `i` the block (0-based in VISSL,
1-based in timm), `X` a parameter or buffer name:

    VISSL (_feature_blocks.)              timm
    conv1.stem.0.weight                   stem.conv.weight
    conv1.stem.1.X                        stem.bn.X
    res{k+1}.block{k}-{i}.proj.weight     s{k}.b{i+1}.downsample.conv.weight
    res{k+1}.block{k}-{i}.bn.X            s{k}.b{i+1}.downsample.bn.X
    ....f.a.0.weight / f.a.1.X            ....conv1.conv.weight / conv1.bn.X
    ....f.b.0.weight / f.b.1.X            ....conv2.conv.weight / conv2.bn.X
    ....f.se.excitation.0.X               ....se.fc1.X
    ....f.se.excitation.2.X               ....se.fc2.X
    ....f.c.weight / f.final_bn.X         ....conv3.conv.weight / conv3.bn.X

torchvision's `regnet_y_*` (read only, converted to VISSL's names): `stem.0`/`stem.1`
-> `conv1.stem.0`/`conv1.stem.1`, `trunk_output.block{k}.block{k}-{i}.` ->
`res{k+1}.block{k}-{i}.` with `proj.0`/`proj.1` -> `proj`/`bn`, `f.se.fc1`/`fc2` ->
`f.se.excitation.0`/`2`, `f.c.0`/`f.c.1` -> `f.c`/`f.final_bn` (`f.a`, `f.b` alike).

Tensors are carried over unchanged (same shapes, no transposition), so a timm
`RegNet(RegNetCfg(w0=..., wa=..., wm=..., group_size=..., depth=..., se_ratio=0.25),
num_classes=0)` with the same parameters computes the same features. Keys outside
the trunk (VISSL heads, timm's `head.fc`) are not converted and are reported.

A sharded checkpoint (:mod:`seer_plugins.sharding.checkpoint`: VISSL's small `.torch`
file pointing at a folder of shards, or the folder itself) is consolidated first, in
this one process: `--to vissl` writes the whole model, trunk and heads, in the
layout of a VISSL checkpoint (as VISSL's unsharded runs write it and the published
SEER checkpoints are), `--to timm` the trunk.
"""

import logging
import os
import pickle
import re
from collections.abc import Mapping

import torch

from seer_plugins.sharding.checkpoint import read_model_state, sharded_reference

VISSL_PREFIX = "_feature_blocks."
VISSL_TRUNK_PATH = ("classy_state_dict", "base_model", "model", "trunk")

# (VISSL block-relative prefix, timm block-relative prefix)
_BLOCK_KEYS = (
    ("proj.", "downsample.conv."),
    ("bn.", "downsample.bn."),
    ("f.a.0.", "conv1.conv."),
    ("f.a.1.", "conv1.bn."),
    ("f.b.0.", "conv2.conv."),
    ("f.b.1.", "conv2.bn."),
    ("f.se.excitation.0.", "se.fc1."),
    ("f.se.excitation.2.", "se.fc2."),
    ("f.c.", "conv3.conv."),
    ("f.final_bn.", "conv3.bn."),
)
_STEM_KEYS = (("conv1.stem.0.", "stem.conv."), ("conv1.stem.1.", "stem.bn."))
# (VISSL block-relative prefix, torchvision block-relative prefix); the rest is equal.
_TORCHVISION_BLOCK_KEYS = (
    ("proj.", "proj.0."),
    ("bn.", "proj.1."),
    ("f.se.excitation.0.", "f.se.fc1."),
    ("f.se.excitation.2.", "f.se.fc2."),
    ("f.c.", "f.c.0."),
    ("f.final_bn.", "f.c.1."),
    ("f.a.", "f.a."),
    ("f.b.", "f.b."),
)
_TORCHVISION_STEM_KEYS = (("conv1.stem.0.", "stem.0."), ("conv1.stem.1.", "stem.1."))
_TORCHVISION_BLOCK = re.compile(r"^trunk_output\.block(\d+)\.block(\d+)-(\d+)\.(.+)$")
_VISSL_BLOCK = re.compile(r"^res(\d+)\.block(\d+)-(\d+)\.(.+)$")
_TIMM_BLOCK = re.compile(r"^s(\d+)\.b(\d+)\.(.+)$")


class ConversionError(ValueError):
    """A key or a checkpoint layout the conversion does not know."""


def _swap_prefix(rest: str, table, forward: bool) -> str | None:
    for vissl, timm in table:
        src, dst = (vissl, timm) if forward else (timm, vissl)
        if rest.startswith(src):
            return dst + rest[len(src) :]
    return None


def vissl_key_to_timm(key: str) -> str:
    """`_feature_blocks.res2.block1-0.f.a.0.weight` -> `s1.b1.conv1.conv.weight`."""
    if not key.startswith(VISSL_PREFIX):
        raise ConversionError(f"{key!r} is not a VISSL trunk key ({VISSL_PREFIX}...)")
    rest = key[len(VISSL_PREFIX) :]
    mapped = _swap_prefix(rest, _STEM_KEYS, forward=True)
    if mapped is not None:
        return mapped
    match = _VISSL_BLOCK.match(rest)
    if match:
        res, stage, block, inner = match.groups()
        if int(res) != int(stage) + 1:
            raise ConversionError(f"{key!r}: res{res} cannot hold block{stage}-*")
        mapped = _swap_prefix(inner, _BLOCK_KEYS, forward=True)
        if mapped is not None:
            return f"s{stage}.b{int(block) + 1}.{mapped}"
    raise ConversionError(f"no timm name for VISSL trunk key {key!r}")


def timm_key_to_vissl(key: str) -> str:
    """`s1.b1.conv1.conv.weight` -> `_feature_blocks.res2.block1-0.f.a.0.weight`."""
    mapped = _swap_prefix(key, _STEM_KEYS, forward=False)
    if mapped is not None:
        return VISSL_PREFIX + mapped
    match = _TIMM_BLOCK.match(key)
    if match:
        stage, block, inner = match.groups()
        mapped = _swap_prefix(inner, _BLOCK_KEYS, forward=False)
        if mapped is not None:
            stage = int(stage)
            return (
                f"{VISSL_PREFIX}res{stage + 1}.block{stage}-{int(block) - 1}.{mapped}"
            )
    raise ConversionError(f"no VISSL name for timm RegNet key {key!r}")


def torchvision_key_to_vissl(key: str) -> str:
    """`trunk_output.block1.block1-0.proj.0.weight` -> `_feature_blocks.res2.block1-0.proj.weight`."""
    mapped = _swap_prefix(key, _TORCHVISION_STEM_KEYS, forward=False)
    if mapped is not None:
        return VISSL_PREFIX + mapped
    match = _TORCHVISION_BLOCK.match(key)
    if match:
        stage, stage_again, block, inner = match.groups()
        mapped = _swap_prefix(inner, _TORCHVISION_BLOCK_KEYS, forward=False)
        if mapped is not None and stage == stage_again:
            return f"{VISSL_PREFIX}res{int(stage) + 1}.block{stage}-{block}.{mapped}"
    raise ConversionError(f"no VISSL name for torchvision RegNet key {key!r}")


def vissl_trunk_to_timm(trunk: Mapping[str, torch.Tensor]) -> dict:
    return {vissl_key_to_timm(k): v for k, v in trunk.items()}


def timm_to_vissl_trunk(state_dict: Mapping[str, torch.Tensor]) -> dict:
    return {timm_key_to_vissl(k): v for k, v in state_dict.items()}


def vissl_checkpoint(trunk: Mapping[str, torch.Tensor], heads=None) -> dict:
    """A checkpoint `MODEL.WEIGHTS_INIT` loads (`STATE_DICT_KEY_NAME:
    classy_state_dict`), as VISSL writes it: trunk and heads under base_model.model."""
    model = {"trunk": dict(trunk), "heads": dict(heads or {})}
    return {
        "classy_state_dict": {"base_model": {"model": model, "meta": {"trunk": {}}}}
    }


def consolidated_checkpoint(model_state: Mapping[str, torch.Tensor]) -> dict:
    """A VISSL checkpoint from a whole model's state dict (`trunk.*`, `heads.*`)."""
    trunk, heads = {}, {}
    for key, value in model_state.items():
        if key.startswith("heads."):
            heads[key.removeprefix("heads.")] = value
        elif key.startswith("trunk."):
            # VISSL's feature extractor (linear evaluation) holds the trunk deeper.
            trunk[key.removeprefix("trunk.").removeprefix("base_model.")] = value
        else:
            raise ConversionError(f"{key!r} is neither a trunk nor a head key")
    return vissl_checkpoint(trunk, heads)


def sharded_folder(path: str, checkpoint: Mapping | None) -> str | None:
    """The folder of shards `path` is (a folder) or points to, else None."""
    if os.path.isdir(path):
        return path
    reference = sharded_reference(checkpoint) if checkpoint is not None else None
    if reference is None:
        return None
    return os.path.join(os.path.dirname(path), reference["folder"])


def guess_format(checkpoint: Mapping) -> str | None:
    """'vissl', 'timm', 'torchvision' (RegNet layouts this module reads) or None."""
    if "classy_state_dict" in checkpoint:
        return "vissl"
    keys = [k for k in _unwrap(checkpoint) if isinstance(k, str)]
    if any(k.startswith((VISSL_PREFIX, "trunk." + VISSL_PREFIX)) for k in keys):
        return "vissl"
    if "stem.conv.weight" in keys:
        return "timm"
    if "stem.0.weight" in keys and any(k.startswith("trunk_output.") for k in keys):
        return "torchvision"
    return None


def detect_format(checkpoint: Mapping) -> str:
    """'vissl' (a VISSL checkpoint or bare trunk state dict), 'timm' or 'torchvision'."""
    found = guess_format(checkpoint)
    if found is None:
        keys = list(_unwrap(checkpoint))
        raise ConversionError(
            "not a RegNet checkpoint this tool knows: expected VISSL's "
            "classy_state_dict / `_feature_blocks.*` keys, timm's `stem.conv.weight`, "
            f"`s1.b1.*` or torchvision's `trunk_output.*`; first keys: {keys[:5]}"
        )
    return found


def _unwrap(checkpoint: Mapping) -> Mapping:
    for key in ("state_dict", "model"):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint


def vissl_trunk_state_dict(checkpoint: Mapping) -> dict:
    """The `_feature_blocks.*` trunk weights of a VISSL checkpoint or state dict."""
    if "classy_state_dict" in checkpoint:
        node = checkpoint
        for key in VISSL_TRUNK_PATH:
            if key not in node:
                path = " -> ".join(VISSL_TRUNK_PATH)
                raise ConversionError(f"VISSL checkpoint without {path} (no {key!r})")
            node = node[key]
        return dict(node)
    state_dict = _unwrap(checkpoint)
    trunk = {}
    for key, value in state_dict.items():
        key = key.removeprefix("trunk.").removeprefix("base_model.")
        if key.startswith(VISSL_PREFIX):
            trunk[key] = value
    skipped = len(state_dict) - len(trunk)
    if skipped:
        logging.info("convert: %d non-trunk keys not converted", skipped)
    return trunk


def convert(checkpoint: Mapping, to: str) -> dict:
    """Convert a loaded checkpoint to `to` ('vissl' or 'timm'); returns what to save.

    vissl -> timm: the trunk as a flat timm state dict (heads are dropped).
    timm / torchvision -> vissl: a VISSL checkpoint with that trunk and no heads
    (their ImageNet classifiers are dropped). Same-format requests only re-wrap the
    trunk.
    """
    if to not in ("vissl", "timm"):
        raise ConversionError(f"--to {to!r} is unknown; valid: vissl, timm")
    source = detect_format(checkpoint)
    if source == "vissl":
        trunk = vissl_trunk_state_dict(checkpoint)
    else:
        # timm's `head.*` and torchvision's `fc.*` are ImageNet classifiers.
        classifier, to_vissl = {
            "timm": ("head.", timm_key_to_vissl),
            "torchvision": ("fc.", torchvision_key_to_vissl),
        }[source]
        state_dict = _unwrap(checkpoint)
        dropped = [k for k in state_dict if k.startswith(classifier)]
        if dropped:
            logging.info("convert: classifier keys not converted: %s", dropped)
        trunk = {
            to_vissl(k): v
            for k, v in state_dict.items()
            if not k.startswith(classifier)
        }
    return vissl_checkpoint(trunk) if to == "vissl" else vissl_trunk_to_timm(trunk)


def load_checkpoint(path: str, trust_pickle: bool = False) -> Mapping:
    """torch.load on CPU; arbitrary pickled objects only with `trust_pickle`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as error:
        # torch's weights-only unpickler names a class it refuses ("Unsupported
        # global"); anything else is not a pickle of tensors at all.
        found = re.search(r"Unsupported global: (?:GLOBAL )?\S+", str(error))
        if not found:
            raise ConversionError("is not a torch checkpoint") from None
        raise ConversionError(
            f"holds objects other than tensors and containers ({found.group(0)}); "
            "if you trust the file, allow full unpickling (--trust-pickle)"
        ) from None
    except Exception as error:  # torch.load fails on garbage in many ways
        raise ConversionError(
            f"is not a torch checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:160] if str(error) else ''})"
        ) from None


def convert_file(
    input_path: str,
    output_path: str,
    to: str,
    trust_pickle: bool = False,
    keep_head: bool = False,
) -> str:
    """Load `input_path`, convert, save to `output_path`; returns the source format
    ('vissl', 'timm', 'torchvision' or 'sharded').

    Prints what it did: the architecture the trunk matches (seer_regnet preset, timm
    model, `RegNetCfg`) and the heads dropped, or, with `keep_head`, kept (VISSL's
    heads, e.g. SwAV's projection, which fine-tuning loads; in a timm file they are
    `vissl_heads.*` keys, see :mod:`seer_plugins.models.convert_report`). A sharded
    checkpoint consolidated `--to vissl` keeps its heads: it is the whole model, as
    an unsharded run would have written it.
    """
    from seer_plugins.models import convert_report as report

    checkpoint = None
    if not os.path.isdir(input_path):
        checkpoint = load_checkpoint(input_path, trust_pickle)
    folder = sharded_folder(input_path, checkpoint)
    if folder is not None:
        source = "sharded"
        checkpoint = consolidated_checkpoint(read_model_state(folder))
        keep_head = keep_head or to == "vissl"
    else:
        source = detect_format(checkpoint)
    if source == "timm":
        state_dict, heads = report.split_kept_heads(_unwrap(checkpoint))
        classifier = report.describe_timm_classifier(state_dict)
        checkpoint = state_dict
    else:
        heads, classifier = report.vissl_heads(checkpoint), None
    converted = convert(checkpoint, to)
    trunk = (
        timm_to_vissl_trunk(converted)
        if to == "timm"
        else vissl_trunk_state_dict(converted)
    )
    if keep_head and heads:
        if to == "timm":
            converted.update({report.HEAD_PREFIX + k: v for k, v in heads.items()})
        else:
            converted["classy_state_dict"]["base_model"]["model"]["heads"] = heads
    torch.save(converted, output_path)
    print(f"converted {input_path} ({source}) -> {output_path} ({to})")
    for line in report.describe_trunk(trunk):
        print(f"  {line}")
    for line in (classifier, report.describe_heads(heads, keep_head, to)):
        if line:
            print(f"  {line}")
    return source
