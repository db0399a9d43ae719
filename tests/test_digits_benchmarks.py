"""End to end on CPU, all through our launcher: seer_tiny SwAV pretraining ->
checkpoint -> linear evaluation and low-shot fine-tuning on exported digits at 10% of
the labels, each benchmark provably starting from the pretraining weights."""

import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims before VISSL is imported

# isort: split
from seer_plugins.apps.launcher import main as launch
from seer_plugins.apps.sweep.results import final_test_accuracy
from seer_plugins.data.digits import export_digits
from seer_plugins.data.low_shot_split import (
    list_images,
    make_low_shot_split,
    read_split_file,
)
from seer_plugins.data.shard_packing import pack, pack_source
from seer_plugins.hooks.base import SeerHook
from seer_plugins.hooks.registry import register_hook

pytestmark = [
    pytest.mark.slow,
    # VISSL's stock CPU test config turns on apex LARC, which compose translates.
    pytest.mark.filterwarnings("ignore:OPTIMIZER.use_larc"),
]

START_WEIGHTS = "start_weights.torch"


@register_hook("test_capture_start_weights")
class CaptureStartWeights(SeerHook):
    """Saves the model's state and the training set size when training starts,
    i.e. after VISSL built the model and applied MODEL.WEIGHTS_INIT."""

    def __init__(self, checkpoint_dir):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir

    @classmethod
    def from_config(cls, config):
        return cls(config.CHECKPOINT.DIR)

    def on_start(self, task) -> None:
        state = {k: v.detach().clone() for k, v in task.base_model.state_dict().items()}
        content = {"model": state, "train_images": len(task.datasets["train"])}
        torch.save(content, f"{self.checkpoint_dir}/{START_WEIGHTS}")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "digits"
    export_digits(root)
    split = root.parent / "digits_10percent.txt"
    if not split.exists():
        make_low_shot_split(root / "train", split, fraction=0.1, seed=0)
    return root, split


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """The chain's first link: a seer_tiny SwAV pretraining through the launcher."""
    folder = tmp_path_factory.mktemp("pretrain")
    launch(
        [
            "config=pretrain/seer_tiny",
            # Another seed than the benchmarks' (0): a fresh model can't match it.
            "config.SEED_VALUE=7",
            "config.OPTIMIZER.num_epochs=1",
            "config.DATA.TRAIN.DATA_LIMIT=16",
            "config.HOOKS.PLUGINS=[]",
            f"config.CHECKPOINT.DIR={folder}",
        ]
    )
    path = folder / "model_final_checkpoint_phase0.torch"
    model = torch.load(path, weights_only=False)["classy_state_dict"]["base_model"]
    return path, model["model"]


def _run(benchmark, digits, checkpoint, out_dir):
    root, split = digits
    launch(
        [
            f"config=benchmark/{benchmark}/digits",
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={checkpoint}",
            f"config.DATA.TRAIN.DATA_PATHS=[{root}/train]",
            f"config.DATA.TEST.DATA_PATHS=[{root}/val]",
            f"config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={split}",
            "config.DATA.TEST.DATA_LIMIT=64",
            "config.OPTIMIZER.num_epochs=1",
            "config.OPTIMIZER.param_schedulers.lr.values=[0.1]",
            "config.OPTIMIZER.param_schedulers.lr.milestones=[]",
            "config.HOOKS.PLUGINS=[test_capture_start_weights]",
            "config.HOOKS.PERF_STATS.MONITOR_PERF_STATS=false",
            f"config.CHECKPOINT.DIR={out_dir}",
        ]
    )
    start = torch.load(out_dir / START_WEIGHTS, weights_only=False)
    final = torch.load(
        out_dir / "model_final_checkpoint_phase0.torch", weights_only=False
    )
    return start, final["classy_state_dict"]["base_model"]["model"]


def _assert_same(actual: dict, expected: dict, prefix: str):
    """Every tensor of `expected` (VISSL names) equals `actual[prefix + name]`."""
    assert expected, "nothing to compare"
    for name, tensor in expected.items():
        if name.endswith("num_batches_tracked"):  # VISSL's SKIP_LAYERS default
            continue
        assert torch.equal(actual[prefix + name], tensor), prefix + name


def test_low_shot_finetune_starts_from_the_checkpoint(digits, pretrained, tmp_path):
    checkpoint, model = pretrained
    start, final = _run("low_shot", digits, checkpoint, tmp_path)
    assert start["train_images"] == 143  # floor(10% of 1438), class-balanced
    _assert_same(start["model"], model["trunk"], "trunk.")
    # The SwAV projection's first Linear is kept; BN and classifier are new.
    projection = {k: v for k, v in model["heads"].items() if "projection_head.0." in k}
    _assert_same(start["model"], projection, "heads.")
    accuracy = final_test_accuracy(tmp_path)
    assert accuracy.train_phase_idx == 0 and 0 <= accuracy.top1 <= accuracy.top5 <= 100
    # Fine-tuning moves the trunk.
    stem = "_feature_blocks.conv1.stem.0.weight"
    assert not torch.equal(final["trunk"][stem], model["trunk"][stem])


def test_linear_eval_keeps_the_checkpoint_trunk_frozen(digits, pretrained, tmp_path):
    checkpoint, model = pretrained
    start, final = _run("linear", digits, checkpoint, tmp_path)
    # A frozen feature extractor: VISSL wraps the trunk as trunk.base_model.
    _assert_same(start["model"], model["trunk"], "trunk.base_model.")
    # Frozen and in eval mode: weights and BN statistics unchanged by training.
    _assert_same(final["trunk"], model["trunk"], "base_model.")
    accuracy = final_test_accuracy(tmp_path)
    assert set(accuracy.heads) == {"res4", "res5", "avgpool"}
    assert accuracy.top1 == max(top1 for top1, _ in accuracy.heads.values())


def test_linear_eval_from_labelled_shards(digits, pretrained, tmp_path):
    """The linear benchmark reads its images and labels from tar shards: the 10%
    split's train images and every val image packed by `seer shards`, labels from
    `.cls`, the classifier sized by the index's classes."""
    root, split = digits
    chosen = set(read_split_file(split))
    train = [i for i in list_images(root / "train") if i.entry in chosen]
    pack(train, str(tmp_path / "train"), per_shard=100, workers=1, progress=False)
    pack_source(root / "val", str(tmp_path / "val"), per_shard=200, progress=False)
    checkpoint, model = pretrained
    out = tmp_path / "run"
    launch(
        [
            "config=benchmark/linear/digits",
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={checkpoint}",
            f"config.DATA.TRAIN.DATA_PATHS=[{tmp_path}/train]",
            f"config.DATA.TEST.DATA_PATHS=[{tmp_path}/val]",
            "config.OPTIMIZER.num_epochs=1",
            "config.OPTIMIZER.param_schedulers.lr.values=[0.1]",
            "config.OPTIMIZER.param_schedulers.lr.milestones=[]",
            "config.HOOKS.PLUGINS=[test_capture_start_weights]",
            "config.HOOKS.PERF_STATS.MONITOR_PERF_STATS=false",
            f"config.CHECKPOINT.DIR={out}",
        ]
    )
    start = torch.load(out / START_WEIGHTS, weights_only=False)
    assert start["train_images"] == len(train) == 143
    _assert_same(start["model"], model["trunk"], "trunk.base_model.")
    accuracy = final_test_accuracy(out)
    assert set(accuracy.heads) == {"res4", "res5", "avgpool"}
    assert 0 <= accuracy.top1 <= accuracy.top5 <= 100
