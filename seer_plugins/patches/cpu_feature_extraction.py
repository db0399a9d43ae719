"""VISSL's `extract_features` engine on any device, CPU included.

VISSL 0.1.6's `SelfSupervisionTrainer.extract` opens with `assert
self.task.device.type == "cuda", "Set MACHINE.DEVICE = gpu"` and
`_extract_split_features` moves every batch with `.cuda()`; nothing else in the
extraction needs a GPU (the task builds the model on `MACHINE.DEVICE`, DDP runs on
gloo). :func:`install` replaces the two methods with the same code on the task's
device. The files are VISSL's: `rank{r}_chunk{c}_{split}_{layer}_{features,targets,
inds}.npy` in `EXTRACT_FEATURES.OUTPUT_DIR` or the checkpoint folder, which VISSL's
`ExtractedFeaturesLoader` (`vissl.utils.misc.merge_features`) reads back.
"""

import logging

import torch
from classy_vision.generic.distributed_util import is_primary
from vissl.models.model_helpers import get_trunk_output_feature_names
from vissl.trainer.trainer_main import SelfSupervisionTrainer


def extract(self, output_folder: str) -> None:
    """VISSL's `SelfSupervisionTrainer.extract` without its GPU-only assert."""
    self.task.prepare_extraction(pin_memory=self.cfg.DATA.PIN_MEMORY)
    self._add_dummy_layer()
    self.task.init_distributed_data_parallel_model()
    if is_primary():
        logging.info("Model is:\n %s", self.task.model)
    # No feature named: the whole model's output, as VISSL does.
    feat_names = get_trunk_output_feature_names(self.cfg.MODEL) or ["heads"]
    for split in self.task.available_splits:
        logging.info("Extracting features for partition: %s", split.lower())
        self.task.data_iterator = iter(self.task.dataloaders[split.lower()])
        self._extract_split_features(feat_names, self.task, split, output_folder)
    self._cleanup_task()


def _extract_split_features(self, feat_names, task, split_name, output_folder):
    """VISSL's loop, with batches moved to the task's device instead of `.cuda()`."""
    task.model.eval()
    dist_rank = torch.distributed.get_rank()
    features = {name: {} for name in feat_names}
    targets = {name: {} for name in feat_names}
    chunk_index, buffered = 0, 0
    non_blocking = task.device.type == "cuda"

    def save():
        self._save_extracted_features(
            features=features,
            targets=targets,
            dist_rank=dist_rank,
            chunk_index=chunk_index,
            split=split_name,
            output_folder=output_folder,
        )

    for sample in task.data_iterator:
        images = torch.cat(sample["data"]).to(task.device, non_blocking=non_blocking)
        labels = torch.cat(sample["label"]).cpu().numpy()
        indices = torch.cat(sample["data_idx"]).cpu().numpy()
        with torch.no_grad():
            outputs = self._flatten_features_list(task.model(images))
        for number, name in enumerate(feat_names):
            output = outputs[number].cpu().numpy()
            for row, index in enumerate(indices):
                features[name][index] = output[row]
                targets[name][index] = labels[row].reshape(-1)
        buffered += len(indices)
        if buffered >= self.cfg.EXTRACT_FEATURES.CHUNK_THRESHOLD >= 0:
            save()
            for name in feat_names:
                features[name].clear()
                targets[name].clear()
            chunk_index += 1
            buffered = 0
    save()


def install() -> None:
    """Make VISSL's feature extraction run on the task's device. Idempotent."""
    SelfSupervisionTrainer.extract = extract
    SelfSupervisionTrainer._extract_split_features = _extract_split_features
