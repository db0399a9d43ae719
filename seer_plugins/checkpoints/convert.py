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
the trunk (VISSL heads, timm's `head.fc`) are not converted; `seer convert`
(:mod:`seer_plugins.apps.convert`) reports them.
"""

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from seer_plugins.checkpoints.formats import (
    VISSL_PREFIX,
    ConversionError,
    detect_format,
    unwrap_state_dict,
)

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


@dataclass(frozen=True)
class _Layout:
    """A layout's names for VISSL's: stem prefixes, the block pattern, block prefixes.

    `block_of(match)` -> (stage, 0-based block index, block-relative rest), or None.
    """

    name: str
    stem_keys: tuple
    block_pattern: re.Pattern
    block_keys: tuple
    block_of: Callable


_TIMM = _Layout(
    "timm",
    _STEM_KEYS,
    _TIMM_BLOCK,
    _BLOCK_KEYS,
    lambda m: (int(m[1]), int(m[2]) - 1, m[3]),  # s{k}.b{i+1}.
)
_TORCHVISION = _Layout(
    "torchvision",
    _TORCHVISION_STEM_KEYS,
    _TORCHVISION_BLOCK,
    _TORCHVISION_BLOCK_KEYS,
    # trunk_output.block{k}.block{k}-{i}.: both k must agree.
    lambda m: (int(m[1]), int(m[3]), m[4]) if m[1] == m[2] else None,
)


def _key_to_vissl(key: str, layout: _Layout) -> str:
    mapped = _swap_prefix(key, layout.stem_keys, forward=False)
    if mapped is not None:
        return VISSL_PREFIX + mapped
    match = layout.block_pattern.match(key)
    where = layout.block_of(match) if match else None
    if where is not None:
        stage, index, inner = where
        mapped = _swap_prefix(inner, layout.block_keys, forward=False)
        if mapped is not None:
            return f"{VISSL_PREFIX}res{stage + 1}.block{stage}-{index}.{mapped}"
    raise ConversionError(f"no VISSL name for {layout.name} RegNet key {key!r}")


def timm_key_to_vissl(key: str) -> str:
    """`s1.b1.conv1.conv.weight` -> `_feature_blocks.res2.block1-0.f.a.0.weight`."""
    return _key_to_vissl(key, _TIMM)


def torchvision_key_to_vissl(key: str) -> str:
    """`trunk_output.block1.block1-0.proj.0.weight` -> `_feature_blocks.res2.block1-0.proj.weight`."""
    return _key_to_vissl(key, _TORCHVISION)


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
    state_dict = unwrap_state_dict(checkpoint)
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
        state_dict = unwrap_state_dict(checkpoint)
        dropped = [k for k in state_dict if k.startswith(classifier)]
        if dropped:
            logging.info("convert: classifier keys not converted: %s", dropped)
        trunk = {
            to_vissl(k): v
            for k, v in state_dict.items()
            if not k.startswith(classifier)
        }
    return vissl_checkpoint(trunk) if to == "vissl" else vissl_trunk_to_timm(trunk)
