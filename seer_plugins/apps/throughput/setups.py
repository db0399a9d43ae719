"""The two training setups the throughput benchmark compares, built as training builds them.

- **ours**: `config=pretrain/seer_1b` (the `seer_regnet` trunk, `seer_swav_head`,
  `seer_swav_loss`, `seer_sgd` with LARC) with the benchmark's preset, crops, batch
  and levers as Hydra overrides;
- **stock**: the same composed recipe with VISSL's own components: the `regnet`
  trunk from explicit `MODEL.TRUNK.REGNET` parameters (the same RegNetY), `swav_head`
  with the same dimensions, `swav_loss` with the same SwAV settings, and VISSL's
  plain SGD (stock LARC needs apex).

Both go through `seer_plugins.compose`, `vissl.models.build_model`,
`classy_vision.losses.build_loss` and `classy_vision.optim.build_optimizer` +
`vissl.optimizers.get_optimizer_param_groups`, as `TrainTask.prepare` does.
"""

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from classy_vision.generic import distributed_util
from classy_vision.losses import build_loss
from classy_vision.optim import build_optimizer, build_optimizer_schedulers
from vissl.models import build_model
from vissl.optimizers import get_optimizer_param_groups

from seer_plugins.config.compose import compose
from seer_plugins.config.defaults import plugin_default
from seer_plugins.config.overrides import override
from seer_plugins.config.paths import configs_dir
from seer_plugins.config.precision import parse_amp_dtype
from seer_plugins.models.group_padding import padding_numel
from seer_plugins.models.regnet_params import PRESETS, RegNetParams, out_width
from seer_plugins.models.seer_swav_head import HEAD_NAME

OURS, STOCK = "ours", "stock"
BASE_CONFIG = "config=pretrain/seer_1b"
# The benchmark's precision choices: "none" or a SEER_AMP_DTYPE name.
AMP_CHOICES = ("none", "fp16", "bf16")
SGD_IMPLS = ("default", "foreach", "fused", "loop")
# The trunk's levers are off as in a default config (configs/defaults/models.yaml).
TRUNK_DEFAULTS = plugin_default("MODEL.TRUNK.SEER_REGNET")
# The reference measurement's stock head (docs/performance.md): 10444-10444-128,
# 3,000 prototypes.
ANCHOR_HEAD = {"hidden": None, "embedding": 128, "num_clusters": 3000}


@dataclass(frozen=True)
class BenchOptions:
    """What one benchmark run builds; every lever defaults to off.

    Args:
        preset: a `seer_regnet` preset (regnety_256gf = SEER 1.3B).
        arch: explicit RegNetY parameters instead of the preset (tests).
        batch: images per step (each image gives len(crops) crops).
        crops: crop side lengths, e.g. (224, 224, 96, 96, 96, 96); the first two
            are the assignment crops.
        amp: "none" | "fp16" | "bf16" (torch.autocast; fp16 with gradient scaling).
        activation_checkpointing: VISSL's switch, for both setups.
        channels_last, pad_group_width_to, compile, sgd_impl: levers of ours only.
        stock_head: "same" (ours' head dims and prototypes) | "anchor" (docs/performance.md).
        device: "cpu" | "cuda" | "cuda:N".
        ours_overrides: extra Hydra overrides for ours (`config.KEY=VALUE`).
    """

    preset: str = "regnety_small"
    arch: RegNetParams | None = None
    batch: int = 4
    crops: tuple[int, ...] = (64, 64, 32, 32, 32, 32)
    amp: str = "none"
    activation_checkpointing: bool = False
    channels_last: bool = TRUNK_DEFAULTS["channels_last"]
    pad_group_width_to: int = TRUNK_DEFAULTS["pad_group_width_to"]
    compile: bool = False
    sgd_impl: str = "default"
    stock_head: str = "same"
    device: str = "cpu"
    ours_overrides: tuple[str, ...] = ()

    def __post_init__(self):
        if self.arch is None and self.preset not in PRESETS:
            raise ValueError(
                f"preset={self.preset!r} is unknown; valid: {', '.join(PRESETS)}"
            )
        if self.amp not in AMP_CHOICES:
            raise ValueError(f"amp={self.amp!r}; valid: {list(AMP_CHOICES)}")
        if self.sgd_impl not in SGD_IMPLS:
            raise ValueError(f"sgd_impl={self.sgd_impl!r}; valid: {SGD_IMPLS}")
        if self.stock_head not in ("same", "anchor"):
            raise ValueError(f"stock_head={self.stock_head!r}; valid: same, anchor")
        if len(self.crops) < 2:
            raise ValueError(f"crops={self.crops}: SwAV needs at least 2 crops")

    @property
    def params(self) -> RegNetParams:
        return self.arch or PRESETS[self.preset]

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return parse_amp_dtype(self.amp_config_value, key="amp")

    @property
    def amp_config_value(self) -> str:
        """`MODEL.AMP_PARAMS.SEER_AMP_DTYPE` for this precision."""
        return "" if self.amp == "none" else self.amp


@dataclass
class TrainingSetup:
    """A built setup: what the step needs, plus the config it came from."""

    name: str
    model: torch.nn.Module
    loss: torch.nn.Module
    optimizer: object  # a ClassyOptimizer: step(where=...)
    overrides: list[str]
    config: object = field(repr=False)

    @property
    def num_params(self) -> int:
        """Parameters of the published model (padded groups' zeros not counted)."""
        return self.num_stored_params - padding_numel(self.model)

    @property
    def num_stored_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def multicrop_groups(crops: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """(size_crops, num_crops) of VISSL's ImgPilToMultiCrop for consecutive sizes."""
    sizes, counts = [], []
    for size in crops:
        if sizes and sizes[-1] == size:
            counts[-1] += 1
        else:
            sizes.append(size)
            counts.append(1)
    return sizes, counts


def _has_model_fragment(preset: str) -> bool:
    return (configs_dir() / "pretrain/seer/models" / f"{preset}.yaml").is_file()


def _head(name: str, dims, use_bn: bool, num_clusters) -> list:
    """`MODEL.HEAD.PARAMS` of a one-module SwAV head."""
    return [
        [
            name,
            {"dims": list(dims), "use_bn": use_bn, "num_clusters": list(num_clusters)},
        ]
    ]


def _common_overrides(options: BenchOptions) -> list[str]:
    sizes, counts = multicrop_groups(options.crops)
    cpu = not options.device.startswith("cuda")
    return [
        BASE_CONFIG,
        "config.DISTRIBUTED.NUM_NODES=1",
        "config.DISTRIBUTED.NUM_PROC_PER_NODE=1",
        f"config.MACHINE.DEVICE={'cpu' if cpu else 'gpu'}",
        f"config.DATA.TRAIN.BATCHSIZE_PER_REPLICA={options.batch}",
        f"config.DATA.TRAIN.TRANSFORMS.0.total_num_crops={len(options.crops)}",
        override("config.DATA.TRAIN.TRANSFORMS.0.size_crops", sizes),
        override("config.DATA.TRAIN.TRANSFORMS.0.num_crops", counts),
        override(
            "config.DATA.TRAIN.TRANSFORMS.0.crop_scales", [[0.14, 1]] * len(sizes)
        ),
        "config.MODEL.ACTIVATION_CHECKPOINTING.USE_ACTIVATION_CHECKPOINTING="
        f"{options.activation_checkpointing}",
        "config.MODEL.SYNC_BN_CONFIG.CONVERT_BN_TO_SYNC_BN=False",
        override(
            "config.CHECKPOINT.DIR", str(Path(tempfile.gettempdir()) / "seer_bench_run")
        ),
    ]


def ours_overrides(options: BenchOptions) -> list[str]:
    """Hydra overrides of our setup: seer_1b with the preset, crops and levers."""
    key = "config.MODEL.TRUNK.SEER_REGNET"
    overrides = _common_overrides(options)
    if options.arch is not None:
        overrides.append(f"{key}.preset=")
        overrides += [
            f"{key}.{k}={v}" for k, v in dataclasses.asdict(options.arch).items()
        ]
    elif _has_model_fragment(options.preset):
        overrides.append(f"config/pretrain/seer/models={options.preset}")
    else:
        overrides.append(f"{key}.preset={options.preset}")
    if options.arch is not None or not _has_model_fragment(options.preset):
        # No model fragment: a small head of SEER's shape (MLP, no BN, L2-normalised).
        width = out_width(options.params)
        overrides.append(
            override(
                "config.MODEL.HEAD.PARAMS",
                _head(HEAD_NAME, [width, 256, 128], False, [1000]),
            )
        )
    overrides += [
        f"config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE={options.amp_config_value}",
        f"{key}.channels_last={options.channels_last}",
        f"{key}.pad_group_width_to={options.pad_group_width_to}",
    ]
    return overrides + list(options.ours_overrides)


def stock_overrides(options: BenchOptions, ours_config) -> list[str]:
    """Stock VISSL components for the same network, head, SwAV settings and batch."""
    head = dict(ours_config.MODEL.HEAD.PARAMS[0][1])
    dims, clusters = list(head["dims"]), list(head["num_clusters"])
    if options.stock_head == "anchor":
        width = out_width(options.params)
        dims, clusters = [width, width, ANCHOR_HEAD["embedding"]], [3000]
    swav = ours_config.LOSS.seer_swav_loss
    loss = "config.LOSS.swav_loss"
    return _common_overrides(options) + [
        "config.MODEL.TRUNK.NAME=regnet",
        override("+config.MODEL.TRUNK.REGNET", dataclasses.asdict(options.params)),
        override(
            "config.MODEL.HEAD.PARAMS",
            _head("swav_head", dims, head.get("use_bn", False), clusters),
        ),
        "config.LOSS.name=swav_loss",
        f"{loss}.temperature={swav.temperature}",
        f"{loss}.epsilon={swav.epsilon}",
        f"{loss}.num_iters={swav.num_iters}",
        override(f"{loss}.crops_for_assign", swav.crops_for_assign),
        # Stock LARC asserts apex: VISSL's plain SGD.
        "config.OPTIMIZER.use_larc=False",
        "config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=",
        "config.TRAINER.TRAIN_STEP_NAME=standard_train_step",
        # VISSL's own AMP is CUDA fp16 only; bf16 runs under the same autocast in
        # the benchmark's step, as the anchor's bare-step bf16 figure did.
        f"config.MODEL.AMP_PARAMS.USE_AMP={options.amp == 'fp16'}",
        "config.MODEL.AMP_PARAMS.AMP_TYPE=pytorch",
    ]


def _set_sgd_impl(optimizer, impl: str) -> None:
    """foreach / fused / per-tensor loop for torch's SGD step (LARC's norms stay foreach)."""
    if impl == "default":
        return
    for group in optimizer.optimizer.param_groups:
        group["foreach"] = impl == "foreach"
        group["fused"] = impl == "fused"


def build_setup(name: str, overrides: list[str], options: BenchOptions, seed=0):
    """Compose `overrides` and build model, loss and optimizer on `options.device`.

    Args:
        name: "ours" or "stock" (levers apply to ours only).
        seed: torch seed before the model is built (same seed, same weights).
    """
    device = torch.device(options.device)
    # VISSL's losses read ClassyVision's device index (the engine sets it per run).
    if device.type == "cuda":
        distributed_util.set_cuda_device_index(device.index or 0)
    else:
        distributed_util.set_cpu_device()
    config = compose(overrides)
    torch.manual_seed(seed)
    model = build_model(config.MODEL, config.OPTIMIZER).to(device)
    loss_name = config.LOSS.name
    loss_config = config.LOSS[loss_name]
    loss_config["name"] = loss_name
    loss = build_loss(loss_config).to(device)
    optimizer = build_optimizer(config.OPTIMIZER)
    schedulers = build_optimizer_schedulers(config.OPTIMIZER)
    optimizer.set_param_groups(
        get_optimizer_param_groups(
            model=model,
            model_config=config.MODEL,
            optimizer_config=config.OPTIMIZER,
            optimizer_schedulers=schedulers,
        )
    )
    if name == OURS:
        _set_sgd_impl(optimizer, options.sgd_impl)
        if options.compile:
            model.trunk = torch.compile(model.trunk)
    return TrainingSetup(name, model, loss, optimizer, list(overrides), config)


def build_ours(options: BenchOptions, seed: int = 0) -> TrainingSetup:
    return build_setup(OURS, ours_overrides(options), options, seed)


def build_stock(options: BenchOptions, ours_config, seed: int = 0) -> TrainingSetup:
    return build_setup(STOCK, stock_overrides(options, ours_config), options, seed)


def plain_model_config(options: BenchOptions):
    """Ours' config with every lever off: the network whose FLOPs count for MFU."""
    plain = dataclasses.replace(
        options, channels_last=False, pad_group_width_to=1, compile=False
    )
    return compose(ours_overrides(plain))
