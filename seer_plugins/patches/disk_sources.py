"""VISSL's `disk_folder` and `disk_filelist` sources, served by the robust dataset.

VISSL 0.1.6 reads a `disk_folder` image once outside its failure guard, so one
unreadable file ends a run (see :mod:`seer_plugins.data.robust_images`). The names
stay VISSL's: stock configs get the fix without a change.
"""

from vissl import data as vissl_data

from seer_plugins.data.robust_images import SOURCES, SeerRobustDiskDataset


def install() -> None:
    """Serve VISSL's two disk sources with SeerRobustDiskDataset. Idempotent."""
    for name in SOURCES:
        vissl_data.DATASET_SOURCE_MAP[name] = SeerRobustDiskDataset
