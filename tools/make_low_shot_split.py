#!/usr/bin/env python3
"""`seer split`: a class-balanced, seeded low-shot split file for an image folder.

    python tools/make_low_shot_split.py /imagenet/train --fraction 0.01 --seed 0 \
        --out splits/1percent_seed0.txt
    python tools/make_low_shot_split.py /data/digits/train --per-class 5

Logic: seer_plugins/data/low_shot_split.py; the command: seer_plugins/apps/commands.py.
"""

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("split", sys.argv[1:]))
