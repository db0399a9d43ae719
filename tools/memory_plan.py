#!/usr/bin/env python3
"""`seer plan`: per-GPU memory of a config, sharded (FSDP2) or not, against a GPU's memory.

    python tools/memory_plan.py config=pretrain/seer_10b --gpus 496 --gpu-memory-gb 40
    python tools/memory_plan.py config=pretrain/seer_1b --gpus 8 --gpu-memory-gb 80 --no-shard
    python tools/memory_plan.py --simulate config=pretrain/seer_10b [--json]

Exit status 0: it fits; 1: it does not; 2: bad input. How each number is obtained:
seer_plugins/apps/memory_plan/plan.py (arithmetic) and simulate.py (`--simulate`).
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.cli import run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return run("plan", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
