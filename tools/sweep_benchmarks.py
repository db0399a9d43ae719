#!/usr/bin/env python3
"""`seer sweep`: a benchmark config over checkpoints x label subsets x seeds.

    python tools/sweep_benchmarks.py --config benchmark/linear/in1k \
        --checkpoint a=/ckpt/a.torch --checkpoint b=/ckpt/b.torch --out /runs/lin \
        -- config/benchmark/linear/models=regnety_256gf \
        config.DATA.TRAIN.DATA_PATHS=[/imagenet/train] \
        config.DATA.TEST.DATA_PATHS=[/imagenet/val]

Logic: seer_plugins/apps/sweep/sweep.py; options: seer_plugins/apps/sweep/command.py (`--help`).
"""

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import seer_plugins  # noqa: E402,F401
from seer_plugins.cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("sweep", sys.argv[1:]))
