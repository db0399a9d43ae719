"""A small VISSL project of its own: configs in VISSL's layout, an entry script.

`configs/config/myproj/swav_tiny.yaml` trains our `seer_regnet` trunk with VISSL's
stock `swav_head` and `swav_loss` (and `use_larc: True`, which needs the apex
translation) on synthetic images, on CPU, for two iterations. Widths are written
out: VISSL's own launcher resolves no `${seer.width:...}`.
"""

from pathlib import Path

CONFIG_NAME = "myproj/swav_tiny"

PROJECT_YAML = """# @package _global_
config:
  LOG_FREQUENCY: 1
  TEST_MODEL: False
  HOOKS:
    PERF_STATS:
      MONITOR_PERF_STATS: False
  DATA:
    NUM_DATALOADER_WORKERS: 0
    TRAIN:
      DATA_SOURCES: [synthetic]
      DATASET_NAMES: [synthetic]
      LABEL_TYPE: sample_index
      BATCHSIZE_PER_REPLICA: 4
      DATA_LIMIT: 8
      COLLATE_FUNCTION: multicrop_collator
      TRANSFORMS:
        - name: ImgPilToMultiCrop
          total_num_crops: 2
          size_crops: [32]
          num_crops: [2]
          crop_scales: [[0.5, 1]]
        - name: ToTensor
  MODEL:
    TRUNK:
      NAME: seer_regnet
      SEER_REGNET:
        preset: regnety_tiny
    HEAD:
      PARAMS: [["swav_head", {"dims": [128, 64, 32], "use_bn": True, "num_clusters": [20]}]]
  LOSS:
    name: swav_loss
    swav_loss:
      epsilon: 0.05
      num_iters: 3
      crops_for_assign: [0, 1]
      queue:
        queue_length: 0
  OPTIMIZER:
    name: sgd
    use_larc: True
    momentum: 0.9
    num_epochs: 1
    param_schedulers:
      lr:
        name: constant
        value: 0.1
  DISTRIBUTED:
    BACKEND: gloo
    NUM_NODES: 1
    NUM_PROC_PER_NODE: 1
  MACHINE:
    DEVICE: cpu
  CHECKPOINT:
    AUTO_RESUME: False
"""

# VISSL's launcher (its wheel installs tools/ as a package) after our import.
VISSL_ENTRY = '''"""The project's entry script: VISSL's own launcher after import seer_plugins."""
import sys

import seer_plugins  # noqa: F401  first: shims, plugins, patches

from tools.run_distributed_engines import hydra_main

if __name__ == "__main__":
    hydra_main(sys.argv[1:])
'''


def make_project(root: Path) -> Path:
    """`root/configs/config/myproj/swav_tiny.yaml` and `root/train.py`."""
    configs = root / "configs" / "config" / "myproj"
    configs.mkdir(parents=True)
    (configs / "swav_tiny.yaml").write_text(PROJECT_YAML)
    (root / "train.py").write_text(VISSL_ENTRY)
    return root
