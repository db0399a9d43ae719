#!/usr/bin/env python3
"""Convert SEER/VISSL RegNetY trunk weights to timm's layout, or back.

    python tools/convert_checkpoint.py seer_regnet256.torch seer_timm.pth --to timm
    python tools/convert_checkpoint.py seer_timm.pth seer_vissl.torch --to vissl

    python tools/convert_checkpoint.py ckpt/model_final_checkpoint_phase0.torch \
        consolidated.torch --to vissl      # a sharded run's checkpoint (or its folder)

The input format is detected. The key mapping is documented in
seer_plugins/models/convert.py.
"""

import argparse
import logging
import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.models.convert import convert_file  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "input",
        help="VISSL/SEER checkpoint, timm state dict, or a sharded checkpoint "
        "(its .torch file or its folder of shards)",
    )
    parser.add_argument("output", help="where to write the converted weights")
    parser.add_argument("--to", required=True, choices=["vissl", "timm"])
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow arbitrary pickled objects in INPUT (only for files you trust)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert_file(args.input, args.output, args.to, args.trust_pickle)


if __name__ == "__main__":
    main()
