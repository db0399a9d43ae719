#!/usr/bin/env python3
"""`seer demo` (`make demo`): SEER pretraining and low-shot benchmarks on digits, or
on your own image folder.

    python tools/run_demo.py                  # full run into demo_output/
    python tools/run_demo.py --quick --out /tmp/demo_quick
    python tools/run_demo.py --data /my/images --out /tmp/mine

See seer_plugins/apps/demo/pipeline.py for the stages.
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("demo", sys.argv[1:]))
