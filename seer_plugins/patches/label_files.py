"""VISSL's label files: `.txt` and `.csv` lists besides `.npy`; string labels
numbered by the training split's, as folders are.

- VISSL reads `LABEL_PATHS` only as `.npy` (a bare assert otherwise); here a `.txt`
  or `.csv` list gives its label column too (:mod:`seer_plugins.data.file_lists`),
  so one `path,label` file serves as both `DATA_PATHS` and `LABEL_PATHS`.
- A `.npy` of strings is numbered by `GenericSSLDataset` by the sorted unique
  strings *of each split*, so a val list without one of train's classes shifts
  every later label, the folder case of :mod:`seer_plugins.data.class_lists`. Here
  another split's string labels are numbered by the training split's label file at
  the same position (`config.DATA.TRAIN.LABEL_PATHS`); a label the training file
  lacks is refused in one line. Integer labels, and the training split's own, are
  VISSL's unchanged.
"""

from vissl.data import ssl_dataset

from seer_plugins.data.class_lists import numbered_by_training_labels
from seer_plugins.data.file_lists import is_text_list, read_labels

_vissl_load_single_label_file = ssl_dataset.GenericSSLDataset.load_single_label_file


def _labels_of(dataset, path: str):
    if is_text_list(path):
        return read_labels(path)
    return _vissl_load_single_label_file(dataset, path)


def _training_label_file(dataset, path: str) -> str | None:
    if dataset.split == "TRAIN" or path not in dataset.label_paths:
        return None
    train = list(dataset.cfg["DATA"]["TRAIN"].get("LABEL_PATHS", None) or [])
    position = dataset.label_paths.index(path)
    return str(train[position]) if position < len(train) else None


def load_single_label_file(self, path: str):
    """VISSL's loader, reading text lists too; another split's string labels
    numbered by train's."""
    labels = _labels_of(self, path)
    train = _training_label_file(self, path)
    if train is None or not len(labels) or not isinstance(labels[0], str):
        return labels
    return numbered_by_training_labels(
        labels,
        _labels_of(self, train),
        f"config.DATA.{self.split}.LABEL_PATHS",
        path,
        train,
    )


def install() -> None:
    """Read text label lists; number every split's string labels by the training
    split's. Idempotent."""
    ssl_dataset.GenericSSLDataset.load_single_label_file = load_single_label_file
