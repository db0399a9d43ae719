"""Throughput of one SEER training step: our seer_1b setup vs stock VISSL.

    python benchmarks/throughput.py --json throughput.json             # CUDA: SEER 1.3B
    python benchmarks/throughput.py --amp bf16 --cudnn-benchmark \
        --channels-last --pad-group-width-to 8 --json fast.json        # the levers
    python benchmarks/throughput.py --device cpu --iters 3 --warmup 1  # CPU, small preset

Prints a table (median step time after warm-up, img/s, TFLOP/s, MFU against a
measured matmul rate, peak GPU memory, ours/stock) and writes it as JSON.
See docs/performance.md.
"""

import sys
from pathlib import Path

# A checkout works without `pip install -e .`: put the repository on the path.
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "seer_plugins").is_dir() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import seer_plugins  # noqa: E402,F401  (first: the compatibility shims, the registrations)
from seer_plugins.apps.throughput.run import main  # noqa: E402

if __name__ == "__main__":
    main()
