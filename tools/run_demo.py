#!/usr/bin/env python3
"""The demo (`make demo`): SEER pretraining and low-shot benchmarks on digits.

    python tools/run_demo.py                  # full run into demo_output/
    python tools/run_demo.py --quick --out /tmp/demo_quick

See seer_plugins/apps/demo/pipeline.py for the stages.
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from seer_plugins.apps.demo.pipeline import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
