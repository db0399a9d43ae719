"""Data plugins: the `seer_low_shot` data source, low-shot split files, digits export.

Registration only: importing :mod:`low_shot_dataset` adds `seer_low_shot` to VISSL's
`DATASET_SOURCE_MAP`.
"""

from seer_plugins.data import low_shot_dataset as _low_shot_dataset  # noqa: F401
