"""The overrides that fit the demo's configs to its run: a benchmark's LR schedule
to fewer epochs, the fine-tuning heads to the pretraining's projection, every
transform to the image side of a folder, the accuracy meter to its number of classes
(:mod:`seer_plugins.apps.demo.pipeline`)."""

from pathlib import Path

from seer_plugins.config.overrides import override
from seer_plugins.errors import ConfigError

PRETRAIN_CONFIG = "pretrain/demo_digits"

# The configs' image side (digits at 32x32); another side is set by size_overrides.
CONFIG_IMAGE_SIZE = 32
# (config, split, transform index, name, key) of every image size in the configs.
SIZED_TRANSFORMS = {
    "pretrain": [("TRAIN", 0, "ImgPilToMultiCrop", "size_crops")],
    "benchmark": [
        ("TRAIN", 0, "RandomResizedCrop", "size"),
        ("TEST", 0, "Resize", "size"),
        ("TEST", 1, "CenterCrop", "size"),
    ],
}


def scaled_schedule(lr, epochs: int, default_epochs: int) -> list[str]:
    """Overrides fitting the multistep LR schedule `lr` of a `default_epochs` run to
    `epochs`: milestones scaled in proportion (distinct, in [1, epochs - 1]), one
    value per stage. VISSL rebuilds the values from base_value and their ratio."""
    milestones = sorted(
        {
            min(max(round(m * epochs / default_epochs), 1), epochs - 1)
            for m in lr.milestones
            if epochs > 1
        }
    )
    values = list(lr["values"])[: len(milestones) + 1]
    return [
        f"config.OPTIMIZER.num_epochs={epochs}",
        f"config.OPTIMIZER.param_schedulers.lr.milestones=[{','.join(map(str, milestones))}]",
        f"config.OPTIMIZER.param_schedulers.lr.values=[{','.join(map(repr, values))}]",
    ]


def finetune_head(pretrain_head, finetune_head_params) -> str:
    """The fine-tuning heads resized to the pretraining projection's first layer
    (`dims[:2]`), which they load: the benchmark's regnety_tiny model assumes a
    128 -> 64 projection, demo_digits may pretrain another width."""
    dims = list(pretrain_head[0][1]["dims"][:2])
    heads = [[name, dict(params)] for name, params in finetune_head_params]
    heads[0][1]["dims"] = dims
    heads[1][1]["dims"] = [dims[-1], *list(heads[1][1]["dims"])[1:]]
    return override("config.MODEL.HEAD.PARAMS", heads)


def size_overrides(kind: str, size: int) -> list[str]:
    """Overrides training the `kind` ("pretrain"/"benchmark") configs at `size`
    pixels: crops of `size`, test images resized to `size * 256 / 224` first
    (ImageNet's ratio); none at the configs' own size."""
    if size == CONFIG_IMAGE_SIZE:
        return []
    overrides = []
    for split, index, name, key in SIZED_TRANSFORMS[kind]:
        value = size * 256 // 224 if name == "Resize" else size
        value = [value] if key == "size_crops" else value
        overrides.append(f"config.DATA.{split}.TRANSFORMS.{index}.{key}={value}")
    return overrides


def check_sized_transforms(config, kind: str) -> None:
    """The transforms `size_overrides` writes to are where it expects them."""
    for split, index, name, key in SIZED_TRANSFORMS[kind]:
        transforms = config.DATA[split].TRANSFORMS
        if index >= len(transforms) or transforms[index].get("name") != name:
            raise RuntimeError(
                f"the demo resizes config.DATA.{split}.TRANSFORMS[{index}] ({name}."
                f"{key}), but the config's transforms are "
                f"{[t.get('name') for t in transforms]}: update SIZED_TRANSFORMS"
            )


# The benchmarks' accuracy meter reports top-1 and top-5 (configs/benchmark/base).
TOP_K = 5


def topk_overrides(data: Path) -> list[str]:
    """Top-1 only for a folder of fewer classes than top-5 needs."""
    from seer_plugins.apps.demo import folder

    if len(folder.class_images(data / "train")) >= TOP_K:
        return []
    return ["config.METERS.accuracy_list_meter.topk_values=[1]"]


def reading_overrides(intensity: str | None) -> list[str]:
    """`--intensity dtype | minmax | window:LOW:HIGH` as the SEER_INTENSITY of both
    splits ([] without it: the defaults)."""
    if not intensity:
        return []
    mode, *bounds = intensity.split(":")
    if mode in ("dtype", "minmax") and not bounds:
        setting = f"{{mode: {mode}}}"
    elif mode == "window" and len(bounds) == 2:
        setting = f"{{mode: window, low: {bounds[0]}, high: {bounds[1]}}}"
    else:
        raise ConfigError(
            "--intensity",
            intensity,
            "is not a reading of images",
            "dtype, minmax, or window:LOW:HIGH (e.g. window:-1000:400)",
        )
    return [
        f"config.DATA.{split}.SEER_INTENSITY={setting}" for split in ("TRAIN", "TEST")
    ]
