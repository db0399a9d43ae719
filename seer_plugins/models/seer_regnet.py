"""`MODEL.TRUNK.NAME: seer_regnet`: SEER's RegNetY trunks, built from a preset name.

Exposes VISSL's RegNet feature names `conv1, res2, res3, res4, res5, avgpool,
flatten` (res5: the last stage's map before pooling) and VISSL's module names
(`_feature_blocks.<name>...`), so `out_feat_keys`, `eval_mlp` heads, linear evaluation,
feature extraction and published SEER checkpoints work as with VISSL's `regnet`.

Config (`MODEL.TRUNK.SEER_REGNET`, defaults in seer_plugins/defaults/models.yaml):
`preset` or explicit `depth, w_0, w_a, w_m, group_width[, se_ratio,
bottleneck_multiplier, stem_width]`; `activation_checkpointing.{stages, segments}`;
`channels_last`; `pad_group_width_to`.
"""

import logging

import torch
from torch import nn
from vissl.data.collators.collator_helper import MultiDimensionalTensor
from vissl.models.model_helpers import (
    Flatten,
    get_tunk_forward_interpolated_outputs,
    parse_out_keys_arg,
    transform_model_input_data_type,
)
from vissl.models.trunks import register_model_trunk

from seer_plugins.models.activation_checkpointing import checkpointed_forward
from seer_plugins.models.config_checks import (
    TRUNK_NAME,
    TrunkOptions,
    check_model_config,
)
from seer_plugins.models.group_padding import pad_groups
from seer_plugins.models.regnet_blocks import SeerStem, build_stage, init_weights
from seer_plugins.models.regnet_params import RegNetParams, validate

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def build_feature_blocks(params: RegNetParams) -> nn.ModuleDict:
    """conv1, res2..res5, avgpool, flatten, initialised as ClassyVision does."""
    stages = validate(params)
    blocks = [("conv1", SeerStem(params.stem_width, BN_EPS, BN_MOMENTUM))]
    width_in = params.stem_width
    for index, spec in enumerate(stages, start=1):
        stage = build_stage(
            index,
            width_in,
            spec,
            params.bottleneck_multiplier,
            params.se_ratio,
            BN_EPS,
            BN_MOMENTUM,
        )
        blocks.append((f"res{index + 1}", stage))
        width_in = spec.width
    blocks.append(("avgpool", nn.AdaptiveAvgPool2d((1, 1))))
    blocks.append(("flatten", Flatten(1)))
    feature_blocks = nn.ModuleDict(blocks)
    init_weights(feature_blocks)
    return feature_blocks


@register_model_trunk(TRUNK_NAME)
class SeerRegNet(nn.Module):
    """A RegNetY trunk: `forward(x, out_feat_keys) -> list[Tensor]`.

    Args:
        model_config: `config.MODEL`; reads `TRUNK.SEER_REGNET`, `INPUT_TYPE`,
            `ACTIVATION_CHECKPOINTING` and checks `HEAD.PARAMS` against the width.
        model_name: the registered name (VISSL's trunk contract).
    """

    def __init__(self, model_config, model_name: str = TRUNK_NAME):
        super().__init__()
        params, options = check_model_config(model_config)
        self.model_config = model_config
        self.input_type = model_config.get("INPUT_TYPE", "rgb")
        if self.input_type not in ("rgb", "bgr"):
            raise ValueError(
                f"MODEL.INPUT_TYPE={self.input_type!r} is not supported by "
                f"{model_name}: expected 'rgb' or 'bgr'"
            )
        self.params = params
        self.options = options
        self._feature_blocks = build_feature_blocks(params)
        if options.pad_group_width_to > 1:
            pad_groups(self._feature_blocks, options.pad_group_width_to)
        if options.channels_last:
            self.to(memory_format=torch.channels_last)
        logging.info(
            "%s: %s, %.1fM params, checkpointing %s x%d, channels_last=%s",
            model_name,
            params,
            sum(p.numel() for p in self.parameters()) / 1e6,
            list(options.checkpoint_stages) or "off",
            options.checkpoint_segments,
            options.channels_last,
        )

    @property
    def feature_names(self) -> list[str]:
        return list(self._feature_blocks.keys())

    @property
    def out_width(self) -> int:
        """Channels of res5, avgpool and flatten."""
        return self._feature_blocks["res5"][-1].f.final_bn.num_features

    def forward(
        self, x: torch.Tensor, out_feat_keys: list[str] | None = None
    ) -> list[torch.Tensor]:
        """Features named in `out_feat_keys` (default: `flatten`), in that order.

        Args:
            x: images (N, 3, H, W), or VISSL's padded MultiDimensionalTensor.
            out_feat_keys: names among `feature_names`; duplicates allowed.
        Returns:
            One tensor per requested key: conv1 (N, stem_width, H/2, W/2), res{k}
            (N, C_k, H/2^k, W/2^k), avgpool (N, C_5, 1, 1), flatten (N, C_5).
        """
        if isinstance(x, MultiDimensionalTensor):
            # VISSL's path for padded variable-size images (evaluation only).
            return get_tunk_forward_interpolated_outputs(
                input_type=self.input_type,
                interpolate_out_feat_key_name="res5",
                remove_padding_before_feat_key_name="avgpool",
                feat=x,
                feature_blocks=self._feature_blocks,
            )
        x = transform_model_input_data_type(x, self.input_type)
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out_feat_keys, last = parse_out_keys_arg(out_feat_keys, self.feature_names)
        wanted = set(out_feat_keys)
        feats = {}
        for i, (name, block) in enumerate(self._feature_blocks.items()):
            if name in self.options.checkpoint_stages:
                x = checkpointed_forward(
                    list(block), x, self.options.checkpoint_segments
                )
            else:
                x = block(x)
            if name in wanted:
                feats[name] = x
            if i == last:
                break
        return [feats[key] for key in out_feat_keys]


def build_trunk(params: RegNetParams, options: TrunkOptions | None = None):
    """A SeerRegNet from parameters, without a VISSL config (tests, conversions)."""
    from vissl.config import AttrDict

    options = options or TrunkOptions()
    trunk_config = {
        **{k: getattr(params, k) for k in RegNetParams.__dataclass_fields__},
        "activation_checkpointing": {
            "stages": list(options.checkpoint_stages),
            "segments": options.checkpoint_segments,
        },
        "channels_last": options.channels_last,
        "pad_group_width_to": options.pad_group_width_to,
    }
    model_config = AttrDict(
        {
            "INPUT_TYPE": "rgb",
            "TRUNK": {"NAME": TRUNK_NAME, "SEER_REGNET": trunk_config},
            "HEAD": {"PARAMS": []},
        }
    )
    return SeerRegNet(model_config, TRUNK_NAME)
