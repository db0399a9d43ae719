"""Every benchmark config composes, with every model preset; heads fit the trunks;
the SEER recipes (docs/recipes.md) are what the YAML says."""

import functools
import math
from pathlib import Path

import pytest
import torch

import seer_plugins  # first: its compat shims must run before VISSL is imported

# isort: split
from vissl.models import build_model

from seer_plugins.config.compose import compose_with_args
from seer_plugins.config.paths import configs_dir
from seer_plugins.models.regnet_params import PRESETS, stage_specs

BENCHMARKS = configs_dir() / "benchmark"
# Pure fragments, composed only as parts of the entry configs.
FRAGMENT_DIRS = {"base", "data", "models"}


def _name(path: Path) -> str:
    return str(path.relative_to(configs_dir()).with_suffix(""))


ENTRIES = sorted(
    _name(p)
    for p in BENCHMARKS.rglob("*.yaml")
    if not FRAGMENT_DIRS & set(p.relative_to(BENCHMARKS).parts[:-1])
)


def _needs_model(entry: str) -> bool:
    """The ImageNet recipes leave the model group mandatory (`models: ???`)."""
    return "models: ???" in (configs_dir() / f"{entry}.yaml").read_text()


# Each recipe with each preset of its models/ folder; the others as they are.
CASES = [
    (entry, preset.stem)
    for entry in ENTRIES
    if _needs_model(entry)
    for preset in sorted((configs_dir() / entry).parent.glob("models/*.yaml"))
] + [(entry, None) for entry in ENTRIES if not _needs_model(entry)]


@functools.cache
def _compose(entry, preset=None, *extra):
    overrides = [f"config={entry}", *extra]
    if preset:
        group = Path(entry).parent
        overrides.append(f"config/{group}/models={preset}")
    return seer_plugins.compose(overrides)


def test_entries_found():
    assert {"benchmark/low_shot/in1k", "benchmark/linear/in1k"} <= set(ENTRIES)
    assert {"benchmark/low_shot/digits", "benchmark/linear/digits"} <= set(ENTRIES)
    assert {"benchmark/knn/in1k", "benchmark/knn/digits"} <= set(ENTRIES)
    assert {p for _, p in CASES} >= {
        "regnety_32gf",
        "regnety_64gf",
        "regnety_128gf",
        "regnety_256gf",
        "regnety_10b",
        "regnety_tiny",
    }


@pytest.mark.parametrize("entry, preset", CASES, ids=lambda x: str(x))
def test_entry_composes_and_heads_fit_trunk(entry, preset):
    config = _compose(entry, preset)
    assert config.MODEL.TRUNK.NAME == "seer_regnet"
    preset = config.MODEL.TRUNK.SEER_REGNET.preset
    if "/knn/" in entry:  # trunk features only (VISSL adds a dummy head for DDP)
        return
    _check_heads_fit_trunk(config, PRESETS[preset])


def test_in1k_recipes_need_a_model():
    """Forgetting the model lists the presets (Hydra's mandatory group default)."""
    with pytest.raises(
        Exception, match="(?s)config/benchmark/linear/models.*regnety_256gf"
    ):
        seer_plugins.compose(["config=benchmark/linear/in1k"])


def _pool_output(op) -> int:
    name, args = op
    return math.prod(args[0]) if name == "AdaptiveAvgPool2d" else 1


def _check_heads_fit_trunk(config, params):
    widths = {f"res{i + 2}": s.width for i, s in enumerate(stage_specs(params))}
    widths["avgpool"] = widths["res5"]
    heads = config.MODEL.HEAD.PARAMS
    num_classes = config.DATA.NUM_CLASSES
    pool_ops = config.MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP
    if pool_ops:  # linear evaluation: one eval_mlp per pooled feature
        assert len(heads) == len(pool_ops)
        assert config.METERS.accuracy_list_meter.num_meters == len(heads)
        for (feature, op), (name, kwargs) in zip(pool_ops, heads, strict=True):
            assert name == "eval_mlp"
            assert kwargs["in_channels"] == widths[feature], feature
            assert kwargs["dims"] == [widths[feature] * _pool_output(op), num_classes]
    else:  # fine-tune: SwAV projection with BN, then a linear classifier
        (proj_name, proj), (clf_name, clf) = heads
        assert proj_name == "seer_swav_head" and clf_name == "mlp"
        assert proj["dims"][0] == widths["res5"]
        assert proj["use_bn"] and not proj["skip_last_bn"]
        assert not proj["normalize_feats"] and proj["num_clusters"] == []
        assert clf["dims"] == [proj["dims"][-1], num_classes]


def _global_batch(config):
    world = config.DISTRIBUTED.NUM_NODES * config.DISTRIBUTED.NUM_PROC_PER_NODE
    return config.DATA.TRAIN.BATCHSIZE_PER_REPLICA * world


def _check_common(config):
    assert config.LOSS.name == "cross_entropy_multiple_output_single_target"
    assert config.METERS.name == "accuracy_list_meter"
    assert config.METERS.accuracy_list_meter.topk_values == [1, 5]
    assert config.MODEL.WEIGHTS_INIT.STATE_DICT_KEY_NAME == "classy_state_dict"
    opt = config.OPTIMIZER
    assert opt.name == "sgd" and opt.nesterov and opt.momentum == 0.9
    assert opt.param_schedulers.lr.auto_lr_scaling.base_lr_batch_size == 256


def test_low_shot_recipe():
    config = _compose("benchmark/low_shot/in1k", "regnety_256gf")
    _check_common(config)
    opt = config.OPTIMIZER
    assert opt.weight_decay == 0.0 and opt.num_epochs == 70
    lr = opt.param_schedulers.lr
    assert lr.auto_lr_scaling.base_value == 0.05 and lr.milestones == [30]
    scaled = 0.05 * _global_batch(config) / 256
    assert lr["values"] == pytest.approx([scaled, scaled / 10])
    assert not config.MODEL.FEATURE_EVAL_SETTINGS.EVAL_MODE_ON
    assert config.DATA.TRAIN.DATA_SOURCES == ["seer_low_shot"]
    train = [t["name"] for t in config.DATA.TRAIN.TRANSFORMS]
    assert train[:2] == ["RandomResizedCrop", "RandomHorizontalFlip"]
    assert config.DATA.TRAIN.TRANSFORMS[0]["size"] == 224
    test = config.DATA.TEST.TRANSFORMS
    assert [(t["name"], t.get("size")) for t in test[:2]] == [
        ("Resize", 256),
        ("CenterCrop", 224),
    ]


def test_linear_recipe():
    config = _compose("benchmark/linear/in1k", "regnety_256gf")
    _check_common(config)
    opt = config.OPTIMIZER
    assert opt.weight_decay == 0.0005 and opt.num_epochs == 28
    lr = opt.param_schedulers.lr
    assert lr.auto_lr_scaling.base_value == 0.01 and lr.milestones == [8, 16, 24]
    scaled = 0.01 * _global_batch(config) / 256
    assert lr["values"] == pytest.approx([scaled * 10**-k for k in range(4)])
    fes = config.MODEL.FEATURE_EVAL_SETTINGS
    assert fes.EVAL_MODE_ON and fes.FREEZE_TRUNK_ONLY
    assert [f for f, _ in fes.LINEAR_EVAL_FEAT_POOL_OPS_MAP] == [
        "res4",
        "res5",
        "avgpool",
    ]
    assert config.METERS.accuracy_list_meter.meter_names == ["res4", "res5", "avgpool"]


@pytest.mark.parametrize("entry", ["benchmark/linear/in1k", "benchmark/low_shot/in1k"])
def test_a_10b_trunk_is_evaluated_sharded(entry):
    config = _compose(entry, "regnety_10b")
    assert config.MODEL.SEER_FSDP.ENABLED
    assert (
        config.TRAINER.TASK_NAME == "seer_self_supervision_task"
    )  # the one that shards
    assert not _compose(entry, "regnety_256gf").MODEL.SEER_FSDP.ENABLED


def test_user_overrides_reach_the_data_source():
    config = _compose(
        "benchmark/low_shot/in1k",
        "regnety_32gf",
        "config.DATA.TRAIN.DATA_PATHS=[/imagenet/train]",
        "config.DATA.TEST.DATA_PATHS=[/imagenet/val]",
        "config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE=/splits/1percent.txt",
        "config.MODEL.WEIGHTS_INIT.PARAMS_FILE=/ckpt/seer.torch",
    )
    assert config.DATA.TRAIN.LABEL_PATHS == ["/imagenet/train"]
    assert config.DATA.TEST.LABEL_PATHS == ["/imagenet/val"]
    assert config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE == "/splits/1percent.txt"
    assert config.MODEL.WEIGHTS_INIT.PARAMS_FILE == "/ckpt/seer.torch"


@pytest.mark.parametrize(
    "entry", ["benchmark/low_shot/digits", "benchmark/linear/digits"]
)
def test_digits_models_build_and_classify(entry):
    config = _compose(entry)
    assert config.MACHINE.DEVICE == "cpu" and config.DATA.NUM_CLASSES == 10
    model = build_model(config.MODEL, config.OPTIMIZER).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 32, 32))
    # One output per linear-eval head; the fine-tune heads run in sequence.
    heads = len(config.MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP) or 1
    assert [tuple(o.shape) for o in outputs] == [(2, 10)] * heads


@pytest.mark.parametrize("entry", ["benchmark/knn/in1k", "benchmark/knn/digits"])
def test_knn_recipe(entry):
    """DINO's k-NN: k=20, T=0.07 on L2-normalised global average pools; every train
    image seen once as the val images are (no random crop, none dropped)."""
    args, config = compose_with_args([f"config={entry}"])
    assert args.engine_name == "seer_knn"
    knn = config.NEAREST_NEIGHBOR
    assert (knn.TOPK, knn.SIGMA, knn.L2_NORM_FEATS) == (20, 0.07, True)
    fes = config.MODEL.FEATURE_EVAL_SETTINGS
    assert (
        fes.EVAL_MODE_ON and fes.FREEZE_TRUNK_ONLY and fes.EXTRACT_TRUNK_FEATURES_ONLY
    )
    assert fes.LINEAR_EVAL_FEAT_POOL_OPS_MAP == [["avgpool", ["Identity", []]]]
    assert config.DATA.TRAIN.TRANSFORMS == config.DATA.TEST.TRANSFORMS
    assert not config.DATA.TRAIN.DROP_LAST and config.TEST_MODEL
    assert config.DATA.TRAIN.DATA_SOURCES == ["seer_low_shot"]  # label subsets


def _class_folder(root, classes):
    for name in classes:
        (root / name).mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    "entry", ["benchmark/linear/digits", "benchmark/low_shot/digits"]
)
def test_classes_come_from_the_training_folder(entry, tmp_path):
    """A 12-class folder gets a 12-way classifier (it failed with pred.shape[1]=10)."""
    folder = _class_folder(tmp_path / "train", [f"c{i:02d}" for i in range(12)])
    config = seer_plugins.compose(
        [f"config={entry}", f"config.DATA.TRAIN.DATA_PATHS=[{folder}]"]
    )
    assert config.DATA.NUM_CLASSES == 12
    assert all(head[1]["dims"][-1] in (12, 64) for head in config.MODEL.HEAD.PARAMS)
    assert config.MODEL.HEAD.PARAMS[-1][1]["dims"][-1] == 12
    # An explicit value wins.
    config = seer_plugins.compose(
        [
            f"config={entry}",
            f"config.DATA.TRAIN.DATA_PATHS=[{folder}]",
            "config.DATA.NUM_CLASSES=5",
        ]
    )
    assert config.MODEL.HEAD.PARAMS[-1][1]["dims"][-1] == 5


def test_classes_default_without_a_folder():
    assert _compose("benchmark/linear/digits").DATA.NUM_CLASSES == 10
    in1k = _compose("benchmark/linear/in1k", "regnety_tiny")
    assert in1k.DATA.NUM_CLASSES == 1000


def test_a_training_folder_without_classes_is_refused(tmp_path):
    (tmp_path / "image.png").write_bytes(b"")
    with pytest.raises(Exception, match="has no class subfolders"):
        seer_plugins.compose(
            [
                "config=benchmark/linear/digits",
                f"config.DATA.TRAIN.DATA_PATHS=[{tmp_path}]",
            ]
        )
