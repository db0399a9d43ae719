"""RegNetY architectures as data: parameters, the width formula, the named presets.

Notation of Radosavovic et al., "Designing Network Design Spaces" (2020), §3.3: a
RegNet of depth d has block widths from the linear parametrisation

    u_j = w_0 + w_a * j                        for 0 <= j < d
    s_j = round(log(u_j / w_0) / log(w_m))
    w_j = q * round(w_0 * w_m ** s_j / q)      (quantised to q = 8)

and a stage is a run of blocks of equal width. Bottleneck widths are then made
divisible by the group width. Float64 math and round-half-to-even, as ClassyVision's
`RegNetParams` (hence VISSL and the published SEER checkpoints) and timm compute it.
"""

import dataclasses
import math
from dataclasses import dataclass

from seer_plugins.errors import ConfigError

QUANT = 8
NUM_STAGES = 4
CONFIG_KEY = "config.MODEL.TRUNK.SEER_REGNET"
ARCH_KEYS = (
    "depth",
    "w_0",
    "w_a",
    "w_m",
    "group_width",
    "se_ratio",
    "bottleneck_multiplier",
    "stem_width",
)
REQUIRED_KEYS = ("depth", "w_0", "w_a", "w_m", "group_width")


@dataclass(frozen=True)
class RegNetParams:
    """One RegNetY: the paper's parameters plus SEER's fixed choices as defaults."""

    depth: int
    w_0: int
    w_a: float
    w_m: float
    group_width: int
    se_ratio: float = 0.25  # SE width relative to the block's input width; 0: RegNetX
    bottleneck_multiplier: float = 1.0  # b: bottleneck width = b * block width
    stem_width: int = 32


@dataclass(frozen=True)
class StageSpec:
    width: int
    depth: int
    group_width: int
    stride: int = 2


# Trunk parameter counts (no classifier) are pinned in tests/test_seer_regnet.py.
PRESETS: dict[str, RegNetParams] = {
    # SEER (Goyal et al. 2021, 2022); widths 232..3712, 141.3M params.
    "regnety_32gf": RegNetParams(20, 232, 115.89, 2.53, 232),
    "regnety_64gf": RegNetParams(20, 352, 147.48, 2.4, 328),
    "regnety_128gf": RegNetParams(27, 456, 160.83, 2.52, 264),
    # SEER 1.3B. Not ClassyVision's `regnet_y_256gf` (group width 848).
    "regnety_256gf": RegNetParams(27, 640, 230.83, 2.53, 373),
    # SEER-2 ("10B"), ~9.3B trunk params.
    "regnety_10b": RegNetParams(27, 1744, 620.83, 2.52, 1010),
    # Small RegNetYs for CPU smoke runs and demos (32-64 px inputs).
    "regnety_tiny": RegNetParams(6, 16, 20.0, 2.0, 8, stem_width=16),  # 16..128
    # VISSL's own CPU test RegNet (test_cpu_regnet_simclr.yaml): widths 24..368.
    "regnety_small": RegNetParams(13, 24, 35.5, 2.49, 8),
}


def generate_regnet(
    w_a: float, w_0: int, w_m: float, depth: int, q: int = QUANT
) -> list[int]:
    """Per-block widths w_j of a RegNet (pycls's `generate_regnet`), in order."""
    widths = []
    for j in range(depth):
        u_j = w_0 + w_a * j
        s_j = round(math.log(u_j / w_0) / math.log(w_m))
        widths.append(int(q * round(w_0 * w_m**s_j / q)))
    return widths


def _quantize(value: float, q: int) -> int:
    return int(round(value / q) * q)


def stage_specs(params: RegNetParams) -> list[StageSpec]:
    """Stages (width, depth, group width) after group-width compatibility.

    The bottleneck width b * w is rounded to a multiple of the group width, and the
    group width is capped at the bottleneck width (pycls's
    `adjust_ws_gs_comp`), e.g. SEER 1.3B's first stage 744 -> 746 = 2 x 373.
    """
    block_widths = generate_regnet(params.w_a, params.w_0, params.w_m, params.depth)
    runs: list[list[int]] = []
    for width in block_widths:
        if runs and runs[-1][0] == width:
            runs[-1][1] += 1
        else:
            runs.append([width, 1])
    stages = []
    b = params.bottleneck_multiplier
    for width, depth in runs:
        w_bot = int(width * b)
        group_width = min(params.group_width, w_bot)
        w_bot = _quantize(w_bot, group_width)
        stages.append(StageSpec(int(w_bot / b), depth, group_width))
    return stages


def out_width(params: RegNetParams) -> int:
    """Channels of `res5`, `avgpool` and `flatten`."""
    return stage_specs(params)[-1].width


def _describe(params: RegNetParams) -> str:
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(params).items())


def validate(params: RegNetParams, key: str = CONFIG_KEY) -> list[StageSpec]:
    """Stages of `params`, or a ValueError naming the config key that is wrong."""
    positive = {
        "depth": params.depth,
        "w_0": params.w_0,
        "group_width": params.group_width,
        "stem_width": params.stem_width,
        "bottleneck_multiplier": params.bottleneck_multiplier,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError(
                f"{key}.{name}", value, "is invalid", "expected a value > 0"
            )
    if params.w_0 % QUANT:
        raise ConfigError(
            f"{key}.w_0",
            params.w_0,
            "is invalid",
            f"expected a multiple of {QUANT} "
            f"(e.g. {max(QUANT, _quantize(params.w_0, QUANT))})",
        )
    if params.w_a < 0:
        raise ConfigError(f"{key}.w_a", params.w_a, "is invalid", "expected w_a >= 0")
    if not params.w_m > 1:
        raise ConfigError(f"{key}.w_m", params.w_m, "is invalid", "expected w_m > 1")
    if not 0 <= params.se_ratio < 1:
        raise ConfigError(
            f"{key}.se_ratio",
            params.se_ratio,
            "is invalid",
            "expected 0 <= se_ratio < 1",
        )
    stages = stage_specs(params)
    if len(stages) != NUM_STAGES:
        names = [f"res{i + 2}" for i in range(NUM_STAGES)]
        widths = generate_regnet(params.w_a, params.w_0, params.w_m, params.depth)
        problem = (
            f"stages {names[len(stages) :]} would be empty"
            if len(stages) < NUM_STAGES
            else f"{len(stages)} stages, more than {names}"
        )
        raise ConfigError(
            key,
            f"({_describe(params)})",
            f"gives block widths {widths}: {len(stages)} stage(s), so {problem}",
            f"expected exactly {NUM_STAGES} stages ({', '.join(names)}): change "
            f"depth, w_a or w_m, or use a preset ({', '.join(PRESETS)})",
        )
    return stages


def resolve_params(trunk_config, key: str = CONFIG_KEY) -> RegNetParams:
    """`MODEL.TRUNK.SEER_REGNET` (a mapping) -> validated RegNetParams.

    Either `preset` names an entry of PRESETS, or the explicit keys describe the
    network (`depth, w_0, w_a, w_m, group_width` required; `se_ratio`,
    `bottleneck_multiplier`, `stem_width` default to SEER's values). Not both.
    """
    trunk_config = trunk_config or {}
    preset = trunk_config.get("preset", None)  # null or "": none
    explicit = {
        k: trunk_config[k] for k in ARCH_KEYS if trunk_config.get(k) is not None
    }
    if preset:
        if preset not in PRESETS:
            raise ConfigError(
                f"{key}.preset",
                preset,
                "is unknown",
                f"valid presets: {', '.join(PRESETS)}",
            )
        if explicit:
            raise ConfigError(
                f"{key}.preset",
                preset,
                f"and explicit {sorted(explicit)} are both set",
                "set either the preset or the explicit parameters (null them)",
            )
        params = PRESETS[preset]
    else:
        missing = [k for k in REQUIRED_KEYS if k not in explicit]
        if missing:
            raise ConfigError(
                key,
                dict(trunk_config),
                f"needs either `preset` (one of {', '.join(PRESETS)}) or the explicit "
                f"parameters {list(REQUIRED_KEYS)}",
                f"missing: {missing}",
            )
        types = {f.name: f.type for f in dataclasses.fields(RegNetParams)}
        params = RegNetParams(**{k: types[k](v) for k, v in explicit.items()})
    validate(params, key)
    return params
