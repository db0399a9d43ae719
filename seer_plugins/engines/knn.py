"""`seer_knn`: VISSL's feature extraction, then a weighted k-NN classification.

Selected with `engine_name: seer_knn` (configs/benchmark/knn/). Each process runs
VISSL's `extract_features` engine code (on CPU too: see
:mod:`seer_plugins.patches.cpu_feature_extraction`), which writes the train and
test features of every layer in `MODEL.FEATURE_EVAL_SETTINGS.
LINEAR_EVAL_FEAT_POOL_OPS_MAP` as `.npy` files into `EXTRACT_FEATURES.OUTPUT_DIR`
or the checkpoint folder; rank 0 then classifies every test feature by its
neighbours among the train features (:mod:`knn_classifier`, VISSL's
`NEAREST_NEIGHBOR.TOPK`, `.SIGMA`, `.L2_NORM_FEATS`) and writes top-1/top-5 per
layer (:mod:`knn_results`). VISSL's own `tools/nearest_neighbor_test.py` needs a
GPU; this runs where `MACHINE.DEVICE` says.
"""

import logging
import os
import re
from pathlib import Path

import torch
from vissl.engines.engine_registry import Engine, register_engine
from vissl.engines.extract_features import extract_main
from vissl.hooks import default_hook_generator
from vissl.models.model_helpers import get_trunk_output_feature_names
from vissl.utils.extract_features_utils import ExtractedFeaturesLoader

from seer_plugins.checks.consistency import accuracy_topk
from seer_plugins.engines import knn_results
from seer_plugins.engines.knn_classifier import knn_class_scores, topk_accuracy

ENGINE_NAME = "seer_knn"


# Reported without an accuracy meter in the config.
DEFAULT_TOPK = (1, 5)


def _feature_files(folder: Path, layers) -> list[Path]:
    names = "|".join(re.escape(layer) for layer in layers)
    pattern = re.compile(rf"rank\d+_chunk\d+_(train|test)_({names})_\w+\.npy$")
    return [p for p in folder.iterdir() if pattern.match(p.name)]


def _device(cfg) -> torch.device:
    gpu = cfg.MACHINE.DEVICE == "gpu" and torch.cuda.is_available()
    return torch.device("cuda" if gpu else "cpu")


def evaluate(cfg, feature_folder: str | os.PathLike) -> dict:
    """k-NN top-1/top-5 of every extracted layer; returns the results' content."""
    settings = cfg.NEAREST_NEIGHBOR
    device = _device(cfg)
    results = {
        "k_asked": settings.TOPK,
        "k": settings.TOPK,  # what was used: see _clamped_k
        "temperature": settings.SIGMA,
        "l2_normalize": settings.L2_NORM_FEATS,
        "layers": {},
    }
    for layer in get_trunk_output_feature_names(cfg.MODEL) or ["heads"]:
        splits = {}
        for split in ("train", "test"):
            out = ExtractedFeaturesLoader.load_features(
                str(feature_folder), split, layer, flatten_features=True
            )
            features = torch.from_numpy(out["features"]).float().to(device)
            labels = torch.from_numpy(out["targets"].reshape(-1)).long().to(device)
            splits[split] = features, labels
        (train, train_labels), (test, test_labels) = splits["train"], splits["test"]
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
        k = _clamped_k(settings.TOPK, len(train))
        results["k"] = k
        scores = knn_class_scores(
            train,
            train_labels,
            test,
            k=k,
            temperature=settings.SIGMA,
            num_classes=num_classes,
            normalize=settings.L2_NORM_FEATS,
        )
        # The accuracy meter's k values, as the other benchmarks report them (a
        # top-5 of 4 classes would be 100% whatever the features).
        ks = [k for k in accuracy_topk(cfg) or list(DEFAULT_TOPK) if k <= num_classes]
        accuracies = topk_accuracy(scores, test_labels, ks)
        results["layers"][layer] = {
            f"top{k}": acc for k, acc in zip(ks, accuracies, strict=True)
        }
        results.update(train_images=len(train), test_images=len(test))
        shown = ", ".join(
            f"top-{k} {acc:.2f}" for k, acc in zip(ks, accuracies, strict=True)
        )
        message = (
            f"kNN (k={k}, T={settings.SIGMA}) on "
            f"{layer}: {shown} ({len(test)} test images, {len(train)} train images)"
        )
        logging.info(message)
        print(message, flush=True)
    return results


def _clamped_k(asked: int, train_images: int) -> int:
    """k, at most the labelled training images (every one of them then votes)."""
    if asked <= train_images:
        return asked
    warning = (
        f"NEAREST_NEIGHBOR.TOPK={asked} is more than the {train_images} labelled "
        f"training images: k={train_images} used, every training image votes; any "
        f"k from {train_images} up gives this same table"
    )
    logging.warning(warning)
    print(f"WARNING: {warning}", flush=True)
    return train_images


@register_engine(ENGINE_NAME)
class SeerKnnEngine(Engine):
    """Feature extraction on every process, then k-NN on rank 0."""

    def run_engine(
        self,
        cfg,
        dist_run_id: str,
        checkpoint_path: str,
        checkpoint_folder: str,
        local_rank: int = 0,
        node_id: int = 0,
        hook_generator=default_hook_generator,
    ):
        folder = Path(cfg.EXTRACT_FEATURES.OUTPUT_DIR or checkpoint_folder)
        rank = node_id * cfg.DISTRIBUTED.NUM_PROC_PER_NODE + local_rank
        layers = get_trunk_output_feature_names(cfg.MODEL) or ["heads"]
        if rank == 0:
            # Features of an earlier attempt would be merged with this one's. No
            # rank writes before every rank joined the process group, rank 0 too.
            folder.mkdir(parents=True, exist_ok=True)
            for stale in _feature_files(folder, layers):
                stale.unlink()
            (Path(checkpoint_folder) / knn_results.RESULTS_FILE).unlink(missing_ok=True)
        extract_main(
            cfg, dist_run_id, checkpoint_folder, local_rank=local_rank, node_id=node_id
        )
        if torch.distributed.is_initialized():
            torch.distributed.barrier()  # every rank's features are on disk
        if rank == 0:
            knn_results.write_results(checkpoint_folder, evaluate(cfg, folder))
