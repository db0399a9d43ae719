"""`MODEL.TRUNK.NAME: seer_regnet`: SEER's RegNetY trunks, built from a preset name.

Exposes VISSL's RegNet feature names `conv1, res2, res3, res4, res5, avgpool,
flatten` (res5: the last stage's map before pooling) and VISSL's module names
(`_feature_blocks.<name>...`), so `out_feat_keys`, `eval_mlp` heads, linear evaluation,
feature extraction and published SEER checkpoints work as with VISSL's `regnet`.

Two layers, as the loss has: :class:`SeerRegNetTrunk`, a plain `nn.Module` built from
explicit arguments (a `RegNetParams` and `TrunkOptions`), and :class:`SeerRegNet`,
the registered adapter that parses `MODEL.TRUNK.SEER_REGNET` (`preset` or explicit
`depth, w_0, w_a, w_m, group_width[, se_ratio, bottleneck_multiplier, stem_width]`;
`activation_checkpointing.{stages, segments}`; `channels_last`;
`pad_group_width_to`) and delegates. Defaults: configs/defaults/models.yaml, for the
adapter and for :class:`TrunkOptions` alike.
"""

import logging
from dataclasses import dataclass, field

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

from seer_plugins.config.defaults import plugin_default, plugin_section
from seer_plugins.errors import ConfigError
from seer_plugins.models.activation_checkpointing import checkpointed_forward
from seer_plugins.models.group_padding import pad_blocks
from seer_plugins.models.head_widths import check_head_input_width
from seer_plugins.models.regnet_blocks import SeerStem, build_stage, init_weights
from seer_plugins.models.regnet_params import (
    CONFIG_KEY,
    NUM_STAGES,
    RegNetParams,
    resolve_params,
    validate,
)

TRUNK_NAME = "seer_regnet"
# MODEL.<SECTION>: the trunk's keys, with their defaults in configs/defaults/models.yaml.
SECTION = "TRUNK.SEER_REGNET"
STAGE_NAMES = tuple(f"res{i + 2}" for i in range(NUM_STAGES))
INPUT_TYPES = ("rgb", "bgr")
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def _default(key: str):
    """A field defaulting to `MODEL.TRUNK.SEER_REGNET.<key>`'s default."""
    return field(default_factory=lambda: plugin_default(f"MODEL.{SECTION}.{key}"))


@dataclass(frozen=True)
class TrunkOptions:
    """Memory and speed options; none changes the function the trunk computes.

    Defaults: the config keys' (configs/defaults/models.yaml).
    """

    checkpoint_stages: tuple[str, ...] = field(
        default_factory=lambda: tuple(_default_stages())
    )
    checkpoint_segments: int = _default("activation_checkpointing.segments")
    channels_last: bool = _default("channels_last")
    pad_group_width_to: int = _default("pad_group_width_to")

    def __post_init__(self):
        unknown = [s for s in self.checkpoint_stages if s not in STAGE_NAMES]
        if unknown:
            raise ConfigError(
                f"{CONFIG_KEY}.activation_checkpointing.stages",
                list(self.checkpoint_stages),
                f"names unknown stages {unknown}",
                f"valid: {list(STAGE_NAMES)}",
            )
        _check_count(
            self.checkpoint_segments,
            "activation_checkpointing.segments",
            "checkpointed chunks per stage",
        )
        _check_count(
            self.pad_group_width_to,
            "pad_group_width_to",
            "1: no padding; 8: pad each group to a multiple of 8",
        )


def _check_count(value, key: str, meaning: str) -> None:
    """`MODEL.TRUNK.SEER_REGNET.<key>` must be an integer >= 1."""
    if not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{CONFIG_KEY}.{key}",
            value,
            "is invalid",
            f"expected an integer >= 1 ({meaning})",
        )


def _stage_list(stages) -> list[str]:
    """`res4`, `[res4, res5]` or null (none) as a list."""
    if stages is None:
        return []
    return [stages] if isinstance(stages, str) else list(stages)


def _default_stages() -> list[str]:
    return _stage_list(
        plugin_default(f"MODEL.{SECTION}.activation_checkpointing.stages")
    )


def resolve_options(model_config) -> TrunkOptions:
    """The TrunkOptions `MODEL.TRUNK.SEER_REGNET` (and VISSL's switch) ask for."""
    trunk_config = plugin_section(model_config, SECTION, within="MODEL")
    ac = trunk_config["activation_checkpointing"]
    stages = _stage_list(ac["stages"])
    vissl_ac = model_config.get("ACTIVATION_CHECKPOINTING", None) or {}
    if not stages and vissl_ac.get("USE_ACTIVATION_CHECKPOINTING", False):
        # VISSL's switch, as in SEER's stock configs: checkpoint every stage.
        stages = list(STAGE_NAMES)
    given = {
        "checkpoint_segments": ac["segments"],
        "channels_last": trunk_config["channels_last"],
        "pad_group_width_to": trunk_config["pad_group_width_to"],
    }
    # An explicit null keeps the default.
    given = {k: v for k, v in given.items() if v is not None}
    return TrunkOptions(checkpoint_stages=tuple(stages), **given)


def group_padding(model_config) -> int:
    """The multiple the trunk pads each group's channels to (1: no padding; any
    trunk but seer_regnet: 1). What other plugins ask instead of reading the key."""
    if model_config.TRUNK.NAME != TRUNK_NAME:
        return 1
    return resolve_options(model_config).pad_group_width_to


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


class SeerRegNetTrunk(nn.Module):
    """A RegNetY trunk: `forward(x, out_feat_keys) -> list[Tensor]`.

    Args:
        params: the architecture (a preset of `PRESETS`, or explicit).
        options: activation checkpointing, channels_last, group padding.
        input_type: "rgb" or "bgr" (VISSL's `MODEL.INPUT_TYPE`).
    """

    def __init__(
        self,
        params: RegNetParams,
        options: TrunkOptions | None = None,
        input_type: str = "rgb",
    ):
        super().__init__()
        if input_type not in INPUT_TYPES:
            raise ValueError(
                f"MODEL.INPUT_TYPE={input_type!r} is not supported by {TRUNK_NAME}: "
                f"expected one of {list(INPUT_TYPES)}"
            )
        self.input_type = input_type
        self.params = params
        self.options = options = options or TrunkOptions()
        self._feature_blocks = build_feature_blocks(params)
        published_params = sum(p.numel() for p in self.parameters())
        padded = 0
        if options.pad_group_width_to > 1:
            # After the initialisation: the same weights as unpadded, same seed.
            padded = pad_blocks(self._feature_blocks, options.pad_group_width_to)
        if options.channels_last:
            self.to(memory_format=torch.channels_last)
        logging.info(
            "%s: %s, %.1fM params (%.1fM stored, %d blocks padded), checkpointing "
            "%s x%d, channels_last=%s",
            TRUNK_NAME,
            params,
            published_params / 1e6,
            sum(p.numel() for p in self.parameters()) / 1e6,
            padded,
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

    # VISSL's multi-crop forward may pass all resolutions in one call
    # (seer_plugins.patches.multi_res_forward).
    accepts_resolution_lists = True

    def forward(self, x, out_feat_keys: list[str] | None = None):
        """Features named in `out_feat_keys` (default: `flatten`), in that order.

        Args:
            x: images (N, 3, H, W), or VISSL's padded MultiDimensionalTensor, or a
                list of image batches of different resolutions (multi-crop).
            out_feat_keys: names among `feature_names`; duplicates allowed.
        Returns:
            One tensor per requested key: conv1 (N, stem_width, H/2, W/2), res{k}
            (N, C_k, H/2^k, W/2^k), avgpool (N, C_5, 1, 1), flatten (N, C_5). For
            a list, one such list per batch.

        A list runs block by block: every batch through a block before the next
        block, each block called once. Under FSDP2 (a unit per block) a block then
        gathers its weights once per forward and once per backward, and its
        gradient is complete, reduce-scattered and freed when backward leaves it.
        One trunk call per resolution instead (VISSL's way) makes two forwards of
        every unit: backward runs the later one's graph through the whole trunk
        first, and each block's weight gradient from it waits for the other's,
        unsharded, so all of them are alive at once (+18 GiB per GPU for SEER-10B,
        `seer plan --simulate`). The same operations on the same tensors: the
        results are those of one call per resolution.
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
        if isinstance(x, (list, tuple)):
            return self._features([self._input(batch) for batch in x], out_feat_keys)
        return self._features([self._input(x)], out_feat_keys)[0]

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = transform_model_input_data_type(x, self.input_type)
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _features(self, xs: list, out_feat_keys) -> list[list[torch.Tensor]]:
        out_feat_keys, last = parse_out_keys_arg(out_feat_keys, self.feature_names)
        wanted = set(out_feat_keys)
        feats = {}
        for i, (name, block) in enumerate(self._feature_blocks.items()):
            if name in self.options.checkpoint_stages:
                xs = checkpointed_forward(
                    list(block), xs, self.options.checkpoint_segments
                )
            elif name in STAGE_NAMES:
                xs = block(xs)  # its blocks take the list
            else:
                xs = [block(x) for x in xs]
            if name in wanted:
                feats[name] = xs
            if i == last:
                break
        return [[feats[key][j] for key in out_feat_keys] for j in range(len(xs))]


@register_model_trunk(TRUNK_NAME)
class SeerRegNet(SeerRegNetTrunk):
    """The VISSL adapter: `SeerRegNet(model_config, model_name)`, VISSL's trunk contract.

    Parses `MODEL.TRUNK.SEER_REGNET`, `MODEL.INPUT_TYPE` and
    `MODEL.ACTIVATION_CHECKPOINTING`, checks that the first head reads the trunk's
    width, and builds the plain trunk. Same module names, so checkpoints load alike.
    """

    def __init__(self, model_config, model_name: str = TRUNK_NAME):
        params = resolve_params(model_config.TRUNK.get("SEER_REGNET", None))
        check_head_input_width(model_config, params)
        super().__init__(
            params,
            resolve_options(model_config),
            input_type=model_config.get("INPUT_TYPE", None) or "rgb",
        )


def build_trunk(params: RegNetParams, options: TrunkOptions | None = None):
    """The plain trunk from parameters, without a VISSL config (tests, conversions)."""
    return SeerRegNetTrunk(params, options or TrunkOptions())
