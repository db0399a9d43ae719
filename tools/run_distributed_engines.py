#!/usr/bin/env python3
"""`seer train`: run VISSL's engines with seer_plugins (`config=NAME config.KEY=VALUE`).

Same command shape as VISSL's tool of the same name (`--help` for the options):

    python tools/run_distributed_engines.py config=pretrain/seer_tiny
    python tools/run_distributed_engines.py config=pretrain/seer_1b \
        config.SLURM.USE_SLURM=true config.SLURM.PARTITION=learnfair
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

# Imported at the top on purpose: spawned workers re-import this module, and this
# import is what registers our plugins in them.
import seer_plugins  # noqa: E402,F401
from seer_plugins.cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("train", sys.argv[1:]))
