#!/usr/bin/env python3
"""`seer convert`: RegNetY trunk weights between VISSL/SEER and timm's layout.

    python tools/convert_checkpoint.py seer_regnet256.torch seer_timm.pth --to timm
    python tools/convert_checkpoint.py seer_timm.pth seer_vissl.torch --to vissl

    python tools/convert_checkpoint.py ckpt/model_final_checkpoint_phase0.torch \
        consolidated.torch --to vissl      # a sharded run's checkpoint (or its folder)

The input format is detected. The key mapping is documented in
seer_plugins/checkpoints/convert.py.
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.cli import run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return run("convert", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
