"""kNN evaluation: the weighted k-NN classifier on small tensors; VISSL's feature
extraction on CPU; `seer_knn` on digits through the launcher, run and tabulated by
the sweep."""

import csv
import json
import math

import numpy as np
import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims before VISSL is imported

# isort: split
from seer_plugins.apps.launcher import main as launch
from seer_plugins.apps.sweep.command import main as sweep
from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint
from seer_plugins.apps.sweep.runs import run_status
from seer_plugins.data.digits import export_digits
from seer_plugins.engines.knn_classifier import knn_class_scores, topk_accuracy


def _reference_scores(train, labels, test, k, temperature, num_classes):
    """The classifier written out one test row at a time (DINO's eval_knn)."""
    train = torch.nn.functional.normalize(train, dim=1)
    test = torch.nn.functional.normalize(test, dim=1)
    rows = []
    for x in test:
        similarity = train @ x
        top = similarity.argsort(descending=True)[:k]
        votes = torch.zeros(num_classes)
        for i in top:
            votes[labels[i]] += math.exp(similarity[i].item() / temperature)
        rows.append(votes)
    return torch.stack(rows)


def test_scores_match_the_written_out_classifier():
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(50, 8, generator=generator)
    labels = torch.randint(0, 4, (50,), generator=generator)
    test = torch.randn(7, 8, generator=generator)
    scores = knn_class_scores(
        train, labels, test, k=5, temperature=0.07, num_classes=4, chunk_size=3
    )
    expected = _reference_scores(train, labels, test, 5, 0.07, 4)
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=0)


def test_neighbours_vote_by_similarity():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # Nearest to class 1's point; with k=3 the two class-0 points still vote.
    test = torch.tensor([[0.2, 1.0]])
    scores = knn_class_scores(train, labels, test, k=3, temperature=0.07)
    assert scores.argmax().item() == 1
    # k larger than the memory bank uses all of it.
    assert knn_class_scores(train, labels, test, k=20).shape == (1, 2)


def test_topk_accuracy_caps_k_at_the_classes():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.6, 0.4]])
    labels = torch.tensor([1, 1, 0])
    top1, top5 = topk_accuracy(scores, labels)
    assert top1 == pytest.approx(200 / 3) and top5 == 100.0


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "digits"
    export_digits(root)
    return root


@pytest.fixture(scope="module")
def init_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("init")
    return write_init_checkpoint(
        ["config=pretrain/demo_digits"], folder / "model_init.torch"
    )


@pytest.mark.slow
def test_extract_features_engine_runs_on_cpu(digits, init_checkpoint, tmp_path):
    """VISSL's own `extract_features` engine with seer_regnet, MACHINE.DEVICE=cpu:
    VISSL 0.1.6 asserted a GPU (seer_plugins.patches.cpu_feature_extraction)."""
    launch(
        [
            "config=benchmark/knn/digits",
            "engine_name=extract_features",
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={init_checkpoint}",
            f"config.DATA.TRAIN.DATA_PATHS=[{digits}/train]",
            f"config.DATA.TEST.DATA_PATHS=[{digits}/val]",
            "config.DATA.TRAIN.DATA_LIMIT=40",
            "config.DATA.TEST.DATA_LIMIT=24",
            f"config.CHECKPOINT.DIR={tmp_path}",
        ]
    )
    for split, count in (("train", 40), ("test", 24)):
        features = np.load(tmp_path / f"rank0_chunk0_{split}_avgpool_features.npy")
        targets = np.load(tmp_path / f"rank0_chunk0_{split}_avgpool_targets.npy")
        assert features.shape == (count, 128)  # regnety_tiny's global average pool
        assert targets.shape == (count, 1) and set(targets.ravel()) <= set(range(10))
    assert not (tmp_path / "knn_results.json").exists()  # extraction only


@pytest.mark.slow
def test_sweep_runs_and_tabulates_knn_on_digits(digits, init_checkpoint, tmp_path):
    out = tmp_path / "knn"
    argv = [
        "--config=benchmark/knn/digits",
        f"--checkpoint=random={init_checkpoint}",
        "--labels=10%",
        f"--out={out}",
        "--",
        f"config.DATA.TRAIN.DATA_PATHS=[{digits}/train]",
        f"config.DATA.TEST.DATA_PATHS=[{digits}/val]",
        "config.DATA.TEST.DATA_LIMIT=100",
    ]
    assert sweep(argv) == 0
    run = out / "random" / "10percent" / "seed0"
    assert run_status(run) == "finished"
    results = json.loads((run / "knn_results.json").read_text())
    assert (results["k"], results["temperature"]) == (20, 0.07)
    assert (results["train_images"], results["test_images"]) == (143, 100)
    # Features as .npy under the run's checkpoint folder.
    assert (run / "rank0_chunk0_train_avgpool_features.npy").is_file()
    [row] = list(csv.DictReader((out / "results.csv").open()))
    accuracy = results["layers"]["avgpool"]
    assert row["status"] == "finished" and row["head"] == "avgpool"
    assert row["top1"] == f"{accuracy['top1']:.2f}"
    assert 10 < accuracy["top1"] <= accuracy["top5"] <= 100  # above chance
    assert (out / "results.png").stat().st_size > 0


def test_results_keep_only_the_k_values_measured(tmp_path):
    """A top-1-only config (fewer than 5 classes): no top-5 in the metrics line."""
    import json

    from seer_plugins.engines.knn_results import METRICS_FILE, write_results

    write_results(tmp_path, {"layers": {"avgpool": {"top1": 75.0}}, "k": 20})
    line = json.loads((tmp_path / METRICS_FILE).read_text())
    assert line["test_accuracy_list_meter"] == {"top_1": {"avgpool": 75.0}}


def test_knn_from_labelled_shards_equals_knn_from_the_folder(
    digits, init_checkpoint, tmp_path
):
    """The same images packed into shards by `seer shards` (labels in `.cls`): the
    same features and labels reach the classifier, so the same top-1 and top-5."""
    from seer_plugins.data.low_shot_split import list_images
    from seer_plugins.data.shard_packing import pack

    train = list_images(digits / "train")[::10]  # 144 of 1,438, every class
    (tmp_path / "train_folder").mkdir()
    for image in train:
        target = tmp_path / "train_folder" / image.label / image.entry
        target.parent.mkdir(exist_ok=True)
        target.symlink_to(image.path)
    pack(train, str(tmp_path / "train_shards"), per_shard=50, progress=False)
    pack(list_images(digits / "val"), str(tmp_path / "val_shards"), 200, progress=False)
    results = {}
    for name, train_path, val_path in (
        ("folder", tmp_path / "train_folder", digits / "val"),
        ("shards", tmp_path / "train_shards", tmp_path / "val_shards"),
    ):
        launch(
            [
                "config=benchmark/knn/digits",
                f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={init_checkpoint}",
                f"config.DATA.TRAIN.DATA_PATHS=[{train_path}]",
                f"config.DATA.TEST.DATA_PATHS=[{val_path}]",
                f"config.CHECKPOINT.DIR={tmp_path / name}",
            ]
        )
        results[name] = json.loads((tmp_path / name / "knn_results.json").read_text())
    assert results["shards"]["train_images"] == 144
    assert results["shards"]["test_images"] == 359
    assert results["shards"]["layers"] == results["folder"]["layers"]
