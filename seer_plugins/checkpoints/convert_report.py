"""What a conversion found: the architecture a trunk's shapes match, and the heads.

A trunk state dict (VISSL's `_feature_blocks.*` keys) determines a RegNet's stem
width and, per stage, its width, depth, group width and whether it has SE: those
are compared with our presets and with timm's named `regnety_*` configs (a timm
match is confirmed by building that model on the meta device and comparing every
shape). Heads are what a trunk conversion leaves out: VISSL's `heads` (SwAV's
projection and prototypes, or classifiers), timm's classifier `head.*`. With
`keep_head`, VISSL heads travel inside a timm state dict under `vissl_heads.`, which
timm's `RegNet` does not know: load such a file with `strict=False`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from seer_plugins.checkpoints.convert import vissl_key_to_timm
from seer_plugins.checkpoints.formats import VISSL_PREFIX
from seer_plugins.models.regnet_params import PRESETS, RegNetParams, stage_specs

# VISSL head tensors kept in a timm state dict, e.g. vissl_heads.0.prototypes0.weight.
HEAD_PREFIX = "vissl_heads."
_BLOCK = re.compile(rf"^{re.escape(VISSL_PREFIX)}res(\d)\.block\d+-(\d+)\.(.+)$")


@dataclass(frozen=True)
class TrunkShape:
    """What the weights say: stem width; per stage (width, depth, group width)."""

    stem_width: int
    stages: tuple[tuple[int, int, int], ...]
    se: bool


def trunk_shape(trunk: Mapping[str, torch.Tensor]) -> TrunkShape:
    """The architecture of VISSL-layout trunk weights."""
    stem = trunk[f"{VISSL_PREFIX}conv1.stem.0.weight"].shape[0]
    stages: dict[int, dict] = {}
    se = False
    for key, value in trunk.items():
        match = _BLOCK.match(key)
        if not match:
            continue
        res, block, rest = int(match.group(1)), int(match.group(2)), match.group(3)
        stage = stages.setdefault(res, {"blocks": set()})
        stage["blocks"].add(block)
        if block == 0 and rest == "f.c.weight":
            stage["width"] = value.shape[0]
        if block == 0 and rest == "f.b.0.weight":
            stage["group_width"] = value.shape[1]
        se = se or rest.startswith("f.se.")
    return TrunkShape(
        stem_width=stem,
        stages=tuple(
            (s["width"], len(s["blocks"]), s["group_width"])
            for _, s in sorted(stages.items())
        ),
        se=se,
    )


def params_shape(params: RegNetParams) -> TrunkShape:
    return TrunkShape(
        stem_width=params.stem_width,
        stages=tuple((s.width, s.depth, s.group_width) for s in stage_specs(params)),
        se=params.se_ratio > 0,
    )


# timm's `RegNetCfg` field -> ours (`RegNetParams`).
TIMM_FIELDS = {
    "depth": "depth",
    "w0": "w_0",
    "wa": "w_a",
    "wm": "w_m",
    "group_size": "group_width",
    "bottle_ratio": "bottleneck_multiplier",
    "se_ratio": "se_ratio",
    "stem_width": "stem_width",
}


def regnet_cfg_text(params: RegNetParams) -> str:
    """timm's `RegNetCfg(...)` for `params`, stem_width included."""
    fields = ", ".join(
        f"{t}={getattr(params, ours)}" for t, ours in TIMM_FIELDS.items()
    )
    return f"RegNetCfg({fields})"


def _timm_params(cfg) -> RegNetParams:
    return RegNetParams(**{ours: getattr(cfg, t) for t, ours in TIMM_FIELDS.items()})


def _timm_shapes_equal(cfg, trunk: Mapping[str, torch.Tensor]) -> bool:
    from timm.models.regnet import RegNet

    with torch.device("meta"):
        model = RegNet(cfg, num_classes=0)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        ours = {vissl_key_to_timm(k): tuple(v.shape) for k, v in trunk.items()}
    except ValueError:
        return False
    return ours == expected


def matching_timm_models(trunk: Mapping[str, torch.Tensor]) -> list[str]:
    """timm's `regnety_*` names whose models hold exactly these tensor shapes."""
    from timm.models.regnet import model_cfgs

    shape = trunk_shape(trunk)
    names = []
    for name, cfg in model_cfgs.items():
        plain = cfg.downsample == "conv1x1" and not cfg.preact and not cfg.linear_out
        if not (name.startswith("regnety_") and plain and cfg.group_min_ratio == 0):
            continue
        try:
            same = params_shape(_timm_params(cfg)) == shape
        except (ValueError, ZeroDivisionError):
            continue
        if same and _timm_shapes_equal(cfg, trunk):
            names.append(name)
    return names


def describe_trunk(trunk: Mapping[str, torch.Tensor]) -> list[str]:
    """Lines saying which preset, timm model and RegNetCfg these weights are."""
    shape = trunk_shape(trunk)
    presets = [n for n, p in PRESETS.items() if params_shape(p) == shape]
    timm_names = matching_timm_models(trunk)
    widths = [w for w, _, _ in shape.stages]
    depths = [d for _, d, _ in shape.stages]
    groups = [g for _, _, g in shape.stages]
    lines = [
        f"trunk: RegNet{'Y' if shape.se else 'X'}, stem_width={shape.stem_width}, "
        f"stage widths {widths}, depths {depths}, group widths {groups} "
        f"({sum(v.numel() for v in trunk.values() if v.is_floating_point()):,} "
        "weights and BN statistics)"
    ]
    if presets:
        lines.append(
            f"seer_regnet preset: {', '.join(presets)} "
            f"(config.MODEL.TRUNK.SEER_REGNET.preset={presets[0]})"
        )
    if timm_names:
        lines.append(
            f"timm: {', '.join(timm_names)} "
            f"(timm.create_model({timm_names[0]!r}, num_classes=0) loads the trunk)"
        )
    if presets:
        lines.append(f"timm RegNetCfg: {regnet_cfg_text(PRESETS[presets[0]])}")
    elif timm_names:
        from timm.models.regnet import model_cfgs

        cfg = _timm_params(model_cfgs[timm_names[0]])
        lines.append(f"timm RegNetCfg: {regnet_cfg_text(cfg)}")
    else:
        lines.append(
            "no seer_regnet preset or timm regnety_* config has these shapes: build "
            "timm's RegNet from a RegNetCfg whose stages match the widths above"
        )
    return lines


def _groups(keys) -> list[str]:
    """`0.projection_head.0.weight`, ... -> `0.projection_head.*` (first two parts)."""
    return list(dict.fromkeys(".".join(k.split(".")[:2]) + ".*" for k in keys))


def vissl_heads(checkpoint: Mapping) -> dict:
    """The `heads` of a VISSL checkpoint ({} when there are none)."""
    node = checkpoint
    for key in ("classy_state_dict", "base_model", "model", "heads"):
        if not isinstance(node, Mapping) or key not in node:
            return {}
        node = node[key]
    return dict(node)


def split_kept_heads(state_dict: Mapping) -> tuple[dict, dict]:
    """A timm state dict -> (without `vissl_heads.*`, those heads unprefixed)."""
    rest = {k: v for k, v in state_dict.items() if not k.startswith(HEAD_PREFIX)}
    heads = {
        k[len(HEAD_PREFIX) :]: v
        for k, v in state_dict.items()
        if k.startswith(HEAD_PREFIX)
    }
    return rest, heads


def describe_heads(heads: Mapping, kept: bool, to: str) -> str:
    if not heads:
        return "heads: none in the input"
    what = f"{len(heads)} tensors: {', '.join(_groups(heads))}"
    if not kept:
        return f"dropped VISSL heads ({what}); --keep-head keeps them"
    where = f"as {HEAD_PREFIX}*" if to == "timm" else "under heads"
    return f"kept VISSL heads {where} ({what})"


def describe_timm_classifier(state_dict: Mapping) -> str | None:
    keys = [k for k in state_dict if k.startswith("head.")]
    if not keys:
        return None
    fc = state_dict.get("head.fc.weight")
    classes = f", {fc.shape[0]} classes" if fc is not None else ""
    return f"dropped timm's classifier ({', '.join(keys)}{classes})"
