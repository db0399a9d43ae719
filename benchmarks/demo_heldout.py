#!/usr/bin/env python3
"""The demo's 10% fine-tuning scored on held-out training images (never val), for a
pretraining recipe and seed, against random init: how the demo's recipe is chosen.

    python benchmarks/demo_heldout.py --out /tmp/h120_s1 --pretrain-seed 1
    python benchmarks/demo_heldout.py --out /tmp/h180_s0 --pretrain-epochs 180

See seer_plugins/apps/demo/heldout.py and docs/demo/experiments.md.
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.apps.demo.heldout import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
