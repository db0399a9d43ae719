"""VISSL's label files: `.txt` and `.csv` lists besides `.npy`; string labels
numbered by the training split's, as folders are.

- VISSL reads `LABEL_PATHS` only as `.npy` (a bare assert otherwise); here a `.txt`
  or `.csv` list gives its label column too (:mod:`seer_plugins.data.file_lists`),
  so one `path,label` file serves as both `DATA_PATHS` and `LABEL_PATHS`.
- A `.npy` of strings is numbered by `GenericSSLDataset` by the sorted unique
  strings *of each split*, so a val list without one of train's classes shifts
  every later label, the folder case of :mod:`seer_plugins.data.class_lists`. Here
  another split's string labels are numbered by the training data's classes (its
  label list at the same position, else its folder); a label the training data
  lacks is refused in one line. Integer labels, and the training split's own, are
  VISSL's unchanged.
"""

from vissl.data import ssl_dataset

from seer_plugins.data.class_lists import (
    numbered_labels,
    read_label_values,
    training_classes,
)
from seer_plugins.data.file_lists import is_text_list

_vissl_load_single_label_file = ssl_dataset.GenericSSLDataset.load_single_label_file


def load_single_label_file(self, path: str):
    """VISSL's loader, reading text lists too; another split's string labels
    numbered by the training data's classes."""
    labels = (
        read_label_values(path)
        if is_text_list(path)
        else _vissl_load_single_label_file(self, path)
    )
    if self.split == "TRAIN" or path not in self.label_paths:
        return labels
    if not len(labels) or not isinstance(labels[0], str):
        return labels
    training = training_classes(self.cfg, self.label_paths.index(path))
    if training is None:
        return labels
    key = f"config.DATA.{self.split}.LABEL_PATHS"
    return numbered_labels(labels, training, key, path)


def install() -> None:
    """Read text label lists; number every split's string labels by the training
    split's. Idempotent."""
    ssl_dataset.GenericSSLDataset.load_single_label_file = load_single_label_file
